using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using ModelDsl.Data;
using ModelDsl.Export;
using ModelDsl.Tests.Generated;
using ModelDsl.Training;
using ModelDsl.Weights;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Export;

/// <summary>
/// The exported twin trains under torchrun: two processes (DDP, gloo, CPU) take the same steps as one process with the
/// same global batch, and the weights they write load back into the C# model strictly and give the validation loss
/// train.py reported. Debian's PyTorch 1.13 (/usr/bin/python3), real data (the embedded Fashion-MNIST subset).
/// </summary>
public sealed class PyTorchTrainingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "modeldsl-twin-train", Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Two_processes_under_torchrun_take_the_steps_of_one_and_the_weights_come_back()
    {
        manual_seed(5);
        using var model = new TinyVit(CPU);
        var (all, _) = FashionMnist.LoadEmbedded();
        using var train = all.Take(512);
        using var validation = all.Subset(Enumerable.Range(512, 128).Select(i => (long)i).ToArray());
        var options = new TrainOptions { Epochs = 3, BatchSize = 32, LearningRate = 2e-3, Seed = 9 };   // 48 steps
        var directory = Path.Combine(folder, "export");
        model.ExportPyTorch(directory);
        PyTorchExport.WriteTraining(directory, model, train, validation, options);

        var train1 = Path.Combine(folder, "one");
        var train2 = Path.Combine(folder, "two");
        Python.Execute([Path.Combine(directory, "train.py"), "--out", train1]);
        // torchrun as the export's README gives it (modeldsl_torch.torchrun: PyTorch 1.13's own fails on Python 3.11).
        Python.Execute(["-m", "modeldsl_torch.torchrun", "--standalone", "--nproc_per_node=2", "train.py", "--out", train2], workingDirectory: directory);

        var one = Losses(train1);
        var two = Losses(train2);
        Assert.Equal(48, one.Count);
        Assert.Equal(one.Count, two.Count);
        var largest = one.Zip(two, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"loss: first {one[0]:F4}, last {one[^1]:F4}; largest difference between 1 and 2 processes: {largest:E2}");
        Assert.True(largest < 1e-3, $"the 2-process losses differ from the 1-process ones by up to {largest}");
        Assert.True(one[^1] < one[0] - 0.3, $"training should lower the loss: {one[0]} -> {one[^1]}");

        // The trained weights, back in C#: strict, and the validation loss train.py reported.
        var report = model.Load(Path.Combine(train2, "weights.trained.safetensors"));
        Assert.Equal(model.state_dict().Count, report.Loaded.Count);
        model.eval();
        using var _ = no_grad();
        var logits = model.Forward(validation["image"]).Logits;
        var loss = nn.functional.cross_entropy(logits, validation["label"], label_smoothing: 0.1).item<float>();
        var last = File.ReadAllLines(Path.Combine(train2, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).Last();
        var reported = last.GetProperty("val_loss").GetDouble();
        output.WriteLine($"val_loss: train.py {reported:F6}, C# on the loaded weights {loss:F6}");
        Assert.True(Math.Abs(loss - reported) < 1e-4, $"val_loss: train.py {reported}, C# {loss}");
        Assert.True(File.Exists(Path.Combine(train2, "last.pt")));
    }

    private static List<double> Losses(string run) =>
        File.ReadAllLines(Path.Combine(run, "steps.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("loss").GetDouble()).ToList();
}
