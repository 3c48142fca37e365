using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.CompilerServices;

namespace ModelDsl.Tests.Examples;

/// <summary>
/// The README's first command, in smoke mode: the main example builds, trains and evaluates a couple
/// of batches end to end as a separate process, writes every artefact, and resumes from its own
/// checkpoint without training again.
/// </summary>
public sealed class MainExampleSmokeTests : IDisposable
{
    private readonly string output = Path.Combine(Path.GetTempPath(), "modeldsl-main-example", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(output, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Smoke_run_writes_metrics_curves_and_checkpoints_and_resumes()
    {
        var first = Run("--smoke", "--threads", "1", "--out", output);

        Assert.True(first.ExitCode == 0, first.Text);
        // Issue 16: validation is carved from the training images and chooses the checkpoint; the test split is read once, by it.
        Assert.Contains("7,000 train, 1,000 validation (from the training images), 2,000 test images", first.Text, StringComparison.Ordinal);
        Assert.Contains("Test accuracy:", first.Text, StringComparison.Ordinal);
        Assert.Contains("(best checkpoint by val_accuracy, step 2;", first.Text, StringComparison.Ordinal);
        foreach (var file in new[] { "metrics.jsonl", "metrics.csv", "curves.png", "best.ckpt", "last.ckpt" })
            Assert.True(File.Exists(Path.Combine(output, file)), $"{file} is missing after the smoke run:\n{first.Text}");

        var resumed = Run("--smoke", "--threads", "1", "--out", output, "--resume");

        Assert.True(resumed.ExitCode == 0, resumed.Text);
        Assert.Contains("nothing to train", resumed.Text, StringComparison.Ordinal);
    }

    private static (int ExitCode, string Text) Run(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "run", "-c", Configuration, "--project", Path.Combine(Root(), "examples", "FashionVit"), "--" })
            start.ArgumentList.Add(argument);
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private static string Root([CallerFilePath] string path = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", ".."));
}
