using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using Xunit.Abstractions;

namespace ModelDsl.Package.Tests;

/// <summary>
/// The README's install steps, end to end: pack the repository into a local folder feed, create a
/// console project outside the repository, add ModelDsl and TorchSharp-cpu, declare a model, see a
/// shape error fail the build with its diagnostic, then build and run a training step that saves the weights;
/// name that file in the declaration and the project, see a declaration it does not fit fail the build
/// (MD0021), and load it at run time.
/// </summary>
public sealed class PackageTests(ITestOutputHelper output)
{
    /// <summary>The application the README's install section shows (Program.cs of the new console project); keep the two alike.</summary>
    internal const string Program = """
        using System.Linq;
        using ModelDsl;
        using ModelDsl.Blocks;
        using ModelDsl.Data;
        using ModelDsl.Training;
        using ModelDsl.Weights;
        using static TorchSharp.torch;
        using Parameter = TorchSharp.Modules.Parameter;

        var (images, test) = FashionMnist.LoadEmbedded();  // 8,000 + 2,000 images inside the package
        var order = randperm(images.Count).data<long>().ToArray();  // choose on images held out of training;
        var (train, validation) = (images.Subset(order[1000..]), images.Subset(order[..1000]));  // test: read once, at the end
        using var model = new TinyVit(Devices.Default);     // CUDA when the backend has it, else the CPU
        Console.WriteLine(TinyVit.Summary);

        // Smoke: two optimizer steps and two validation batches, end to end; drop it (and set Epochs) to train.
        var report = model.Fit(train, validation, new TrainOptions { Smoke = true, OutputDirectory = "runs/tiny" });
        Console.WriteLine($"Trained {report.Steps} steps, validation loss {report.FinalValidation["loss"]:F3}");
        Console.WriteLine($"Test accuracy {model.Evaluate(test)["accuracy"]:P1}");
        model.SaveSafetensors("tiny.safetensors");         // the weights, under timm's names (using ModelDsl.Weights)

        [Model]
        public partial class TinyVit
        {
            public partial TinyVitOutput Forward([Shape("B,1,28,28")] Tensor image);

            [PatchEmbedding(PatchSize = 7, Dim = 64)]       public partial PatchEmbedding Patches { get; }
            [ClsToken]                                      public partial Parameter Cls { get; }
            [PositionEmbedding]                             public partial Parameter Positions { get; }
            [TransformerEncoder(Depth = 2, Heads = 4)]      public partial TransformerEncoder Encoder { get; }
            [ClassifierHead(Classes = 10, Pool = Pool.Cls)] public partial ClassifierHead Head { get; }
            [CrossEntropyLoss]                              public partial CrossEntropyLoss Loss { get; }
        }
        """;

    /// <summary>The README's weights step: the declaration names the file the first run saved ...</summary>
    internal const string WeightsAttribute = """[Model, PretrainedWeights("tiny.safetensors")]""";

    /// <summary>... the project hands it to the build-time check (TinyVitApp.csproj) ...</summary>
    internal const string WeightsItem = """<ItemGroup><ModelWeights Include="tiny.safetensors" /></ItemGroup>""";

    /// <summary>... and the program starts from it, after the summary line.</summary>
    internal const string LoadLine = """Console.WriteLine(model.LoadPretrainedWeights());   // checked at build time, loaded here""";

    private const string SummaryLine = "Console.WriteLine(TinyVit.Summary);";

    /// <summary>About 3.3 minutes on 2 busy cores (a first Release build of the four projects adds one or two);
    /// one command may take up to 10, all of them together up to 25.</summary>
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(10), TotalTimeout = TimeSpan.FromMinutes(25);

    private readonly DateTime _deadline = DateTime.UtcNow + TotalTimeout;

    [Fact]
    public void Package_installs_into_a_new_console_project_reports_shape_errors_at_build_and_trains()
    {
        var repository = RepositoryRoot();
        // A version of its own per run, so a ModelDsl already in the global packages folder never stands in for this build.
        var version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        var work = Path.Combine(Path.GetTempPath(), "modeldsl-package-test-" + Guid.NewGuid().ToString("N")[..12]);
        var feed = Path.Combine(work, "feed");
        var app = Path.Combine(work, "TinyVitApp");
        var total = Stopwatch.StartNew();
        try
        {
            // The README's install section is this test's steps: its code is this test's code.
            var readme = File.ReadAllText(Path.Combine(repository, "README.md")).ReplaceLineEndings("\n");
            foreach (var step in new[] { Program, WeightsAttribute, WeightsItem, LoadLine })
                Assert.True(readme.Contains(step.ReplaceLineEndings("\n"), StringComparison.Ordinal), $"README.md lacks the step\n{step}");

            Directory.CreateDirectory(work);

            Dotnet(repository, "pack", "src/ModelDsl", "-c", "Release", "-o", feed,
                $"-p:PackageVersion={version}", $"-p:NuspecOutputPath={Path.Combine(work, "nuspec")}/");
            Assert.True(File.Exists(Path.Combine(feed, $"ModelDsl.{version}.nupkg")), "dotnet pack wrote no package");

            // The README's steps, in a folder no Directory.Build.* or global.json of the repository reaches.
            Dotnet(work, "new", "console", "-o", app, "--no-update-check");
            Dotnet(app, "new", "nugetconfig");
            Dotnet(app, "nuget", "add", "source", feed, "-n", "modeldsl", "--configfile", "nuget.config");
            Dotnet(app, "add", "package", "ModelDsl", "--version", version, "--no-restore");
            Dotnet(app, "add", "package", "TorchSharp-cpu", "--version", "0.107.0", "--no-restore");
            Dotnet(app, "restore");

            // 1. A shape error is a build error, reported by the packaged analyzers.
            File.WriteAllText(Path.Combine(app, "Program.cs"), Program.Replace("Heads = 4)", "Heads = 5)"));
            var failed = Dotnet(app, expectSuccess: false, "build", "--no-restore");
            Assert.NotEqual(0, failed.ExitCode);
            Assert.Contains("error MD0005", failed.Output);
            Assert.Contains("Heads = 5, which does not divide the width 64", failed.Output);

            // 2. The valid declaration builds (generator in the package) and trains (runtime + TorchSharp-cpu;
            //    on Debian 12 only thanks to the package's GLIBCXX fix).
            File.WriteAllText(Path.Combine(app, "Program.cs"), Program);
            var built = Dotnet(app, "build", "--no-restore");     // `dotnet run` in the README: build, then run
            // Every packaged analyzer loaded and ran cleanly (no CS8032/CS9057 load failure, CS8785 generator
            // failure, AD0001 analyzer crash) and the model has no shape warning.
            Assert.DoesNotMatch(@"warning (CS|AD|MD)\d{4}", built.Output);
            var ran = Dotnet(app, "run", "--no-build");
            Assert.Contains("Total: ", ran.Output);                       // the generated summary table
            Assert.Matches(@"Trained 2 steps, validation loss \d+[.,]\d{3}", ran.Output);
            Assert.Matches(@"Test accuracy \d+[.,]\d\s?%", ran.Output);
            Assert.True(File.Exists(Path.Combine(app, "runs", "tiny", "last.ckpt")), "the run wrote no checkpoint");
            Assert.True(File.Exists(Path.Combine(app, "tiny.safetensors")), "the run saved no weights");

            // 3. The saved weights, named by the declaration and listed in the project, are checked at build time:
            //    the packaged build/ModelDsl.targets hands their header to the packaged analyzer.
            var project = Path.Combine(app, "TinyVitApp.csproj");
            File.WriteAllText(project, File.ReadAllText(project).Replace("</Project>", "  " + WeightsItem + Environment.NewLine + "</Project>"));
            var pretrained = Program.Replace("[Model]", WeightsAttribute).Replace(SummaryLine, SummaryLine + Environment.NewLine + LoadLine);
            Assert.NotEqual(Program, pretrained);

            //    A declaration the file does not fit (another head) is refused, naming each parameter and both shapes.
            File.WriteAllText(Path.Combine(app, "Program.cs"), pretrained.Replace("Classes = 10", "Classes = 5"));
            var refused = Dotnet(app, expectSuccess: false, "build", "--no-restore");
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains("error MD0021: 'tiny.safetensors' does not fit 'TinyVit': head.weight: expected [5,64], found [10,64]", refused.Output);
            Assert.Contains("error MD0021: 'tiny.safetensors' does not fit 'TinyVit': head.bias: expected [5], found [10]", refused.Output);
            Assert.DoesNotContain("blocks.0.", refused.Output);            // only the differences, not every parameter

            //    The declaration the file was saved from builds cleanly and loads it at run time, strictly.
            File.WriteAllText(Path.Combine(app, "Program.cs"), pretrained);
            var checkedBuild = Dotnet(app, "build", "--no-restore");
            Assert.DoesNotMatch(@"warning (CS|AD|MD)\d{4}", checkedBuild.Output);   // no MD0022: the file reached the analyzer
            // One header per weights file path: <name>.<hash of the full path>.json (same-named files in other folders keep theirs).
            var headers = Path.Combine(app, "obj", "Debug", "net10.0", "modeldsl");
            Assert.True(Directory.Exists(headers) && Directory.GetFiles(headers, "tiny.safetensors.*.json").Length == 1, "no extracted header in obj/");
            var loaded = Dotnet(app, "run", "--no-build");
            Assert.Contains("Loaded 32 of 32 model tensors from 'tiny.safetensors' (safetensors, strict)", loaded.Output);
            Assert.Matches(@"Trained 2 steps, validation loss \d+[.,]\d{3}", loaded.Output);
        }
        finally
        {
            output.WriteLine($"total: {total.Elapsed.TotalSeconds:F1} s");
            TryDelete(work);
            var installed = Path.Combine(GlobalPackagesFolder(), "modeldsl");
            TryDelete(Path.Combine(installed, version));
            if (Directory.Exists(installed) && !Directory.EnumerateFileSystemEntries(installed).Any()) TryDelete(installed);
        }
    }

    private sealed record Result(int ExitCode, string Output);

    private Result Dotnet(string directory, params string[] arguments) => Dotnet(directory, expectSuccess: true, arguments);

    private Result Dotnet(string directory, bool expectSuccess, params string[] arguments)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // Inherited from `dotnet test`, these would point the child at the test run's MSBuild instead of its own.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        // No MSBuild nodes or compiler server outlive a command (they would hold its output pipes open).
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";
        start.Environment["MSBUILDTERMINALLOGGER"] = "off";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        start.Environment["DOTNET_GENERATE_ASPNET_CERTIFICATE"] = "false";

        var text = new StringBuilder();
        var watch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.AppendLine(e.Data); };
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var timeout = TimeSpan.FromTicks(Math.Max(0, Math.Min(CommandTimeout.Ticks, (_deadline - DateTime.UtcNow).Ticks)));
        var exited = process.WaitForExit(timeout);
        if (!exited) process.Kill(entireProcessTree: true);
        Task.Run(() => process.WaitForExit()).Wait(TimeSpan.FromSeconds(30)); // the rest of the output
        string all;
        lock (text) all = text.ToString();

        var line = $"$ dotnet {string.Join(' ', arguments)}   [{(exited ? "exit " + process.ExitCode : "timed out")}, {watch.Elapsed.TotalSeconds:F1} s, in {directory}]";
        output.WriteLine(line);
        output.WriteLine(all);
        Assert.True(exited, $"{line}\n{all}");
        if (expectSuccess) Assert.True(process.ExitCode == 0, $"{line}\n{all}");
        return new Result(process.ExitCode, all);
    }

    private static string DotnetHost()
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return !string.IsNullOrEmpty(host) && File.Exists(host) ? host : "dotnet";
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "ModelDsl.sln"))) return directory.FullName;
        throw new InvalidOperationException($"No ModelDsl.sln above {AppContext.BaseDirectory}");
    }

    private static string GlobalPackagesFolder()
    {
        var configured = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        return !string.IsNullOrEmpty(configured)
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
    }

    private void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            output.WriteLine($"could not delete {directory}: {e.Message}");
        }
    }
}
