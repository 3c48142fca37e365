using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using ModelDsl.Data;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace DeepTokensExample;

/// <summary>
/// Learnable-token family 2 (VPT-deep, VQT) on Fashion-MNIST: pretrain a small ViT on classes 0-4,
/// then few-shot classify the unseen classes 5-9 with the backbone frozen: a linear probe on CLS,
/// VPT-deep and VQT. Prints test accuracy, trainable parameters, wall time and training memory.
/// </summary>
public static class Program
{
    private const string MemoryLinePrefix = "DEEPTOKENS-MEMORY ";

    /// <summary>The three few-shot methods; the learning rates were chosen once on a held-out split (see README).</summary>
    public static IReadOnlyList<Recipe> Methods(double probeLr, double vptLr, double vqtLr) =>
    [
        Recipe.Of("probe", "Linear probe (CLS)", probeLr, d => new ProbeVit(d), "head"),
        Recipe.Of("vpt", "VPT-deep (8 prompts/block)", vptLr, d => new VptDeepVit(d), "head", "prompts"),
        Recipe.Of("vqt", "VQT (4 queries/block)", vqtLr, d => new VqtVit(d), "head", "queries"),
    ];

    public static Recipe Pretrain { get; } = Recipe.Of("pretrain", "Pretrained ViT (from scratch)", 2e-3, d => new PretrainVit(d));

    public static int Main(string[] args)
    {
        Options options;
        try
        {
            options = Options.Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Options.Usage);
            return 2;
        }

        if (options.Threads is int threads) set_num_threads(threads);
        var folder = options.Full ? FashionMnist.InstalledFolder : options.DataFolder;
        var (train, test) = FashionMnist.Load(folder);
        using var trainOwner = train;
        using var testOwner = test;
        var methods = Methods(options.ProbeLr, options.VptLr, options.VqtLr);

        if (options.MeasureMemoryOf is string key)
            return MeasureMemoryChild(options, methods.Single(m => m.Key == key), train);

        Console.WriteLine($"Data: {folder ?? "embedded subset"}: {train.Count:N0} train, {test.Count:N0} test images");
        Console.WriteLine(PretrainVit.Summary);
        Console.WriteLine(ProbeVit.Summary);
        Console.WriteLine(VptDeepVit.Summary);
        Console.WriteLine(VqtVit.Summary);
        var device = options.Device ?? Devices.Default;
        Console.WriteLine($"Device: {device}{(options.Smoke ? " (smoke run: 2 batches per stage)" : "")}");

        TensorDataset? holdout = null;
        if (options.Holdout)
        {
            // Learning-rate selection without the test set: evaluate on the train images of 5-9 that are not shots.
            holdout = FewShotData.SelectClasses(train, FewShotExperiment.NovelFirst, FewShotExperiment.ClassCount, options.Shots, options.Seed, complement: true);
            var relabel = holdout;
            Console.WriteLine($"Holdout mode: 'test' accuracy is on {holdout.Count:N0} held-out train images of classes 5-9 (labels + 5 to match the test split's labels).");
            holdout = WithLabelsShifted(relabel, FewShotExperiment.NovelFirst);
            relabel.Dispose();
        }

        var clock = Stopwatch.StartNew();
        var settings = new ExperimentSettings
        {
            PretrainEpochs = options.PretrainEpochs ?? (options.Full || options.DataFolder is not null ? 4 : 12),
            Shots = options.Shots,
            Draws = options.Smoke || options.Holdout ? 1 : options.Draws,   // the holdout is the complement of one draw
            FewShotEpochs = options.Epochs,
            FewShotBatchSize = options.BatchSize,
            MemoryBatchSize = options.Smoke ? 16 : options.MemoryBatch,
            MemorySteps = options.Smoke ? 2 : options.MemorySteps,
            Seed = options.Seed,
            Smoke = options.Smoke,
            Device = device,
            OutputDirectory = options.OutputDirectory,
            PretrainedWeights = options.Weights,
            MeasureMemory = options.InProcessMemory ? null : (recipe, weights) => MeasureMemoryInChild(options, recipe, weights),
            Log = Console.Out,
        };
        var result = FewShotExperiment.Run(train, holdout ?? test, Pretrain, methods, settings);
        holdout?.Dispose();

        Console.WriteLine();
        Console.WriteLine(result.Table.ToMarkdown());
        Console.WriteLine(FewShotExperiment.Invariant($"Total wall time: {clock.Elapsed.TotalSeconds:F0} s"));
        if (options.OutputDirectory is string output)
        {
            Directory.CreateDirectory(output);
            File.WriteAllText(Path.Combine(output, "results.md"), result.Table.ToMarkdown());
            File.WriteAllText(Path.Combine(output, "results.json"), JsonSerializer.Serialize(result with { Table = result.Table }, new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"Results: {Path.Combine(output, "results.md")}");
        }
        return 0;
    }

    private static TensorDataset WithLabelsShifted(TensorDataset data, int shift)
    {
        using var scope = NewDisposeScope();
        return new TensorDataset(
            (FashionMnist.ImageColumn, data[FashionMnist.ImageColumn].clone().MoveToOuterDisposeScope()),
            (FashionMnist.LabelColumn, (data[FashionMnist.LabelColumn] + shift).MoveToOuterDisposeScope()));
    }

    // The memory of each method is measured in a fresh process, so that no method inherits another's heap.
    private static MemoryResult MeasureMemoryInChild(Options options, Recipe recipe, string weights)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("The process path is unknown.");
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            start.ArgumentList.Add(typeof(Program).Assembly.Location);
        foreach (var arg in new[]
                 {
                     "--measure-memory", recipe.Key, "--weights", Path.GetFullPath(weights), "--seed", options.Seed.ToString(CultureInfo.InvariantCulture),
                     "--memory-batch", (options.Smoke ? 16 : options.MemoryBatch).ToString(CultureInfo.InvariantCulture),
                     "--memory-steps", (options.Smoke ? 2 : options.MemorySteps).ToString(CultureInfo.InvariantCulture),
                     "--lr-probe", options.ProbeLr.ToString("R", CultureInfo.InvariantCulture),
                     "--lr-vpt", options.VptLr.ToString("R", CultureInfo.InvariantCulture),
                     "--lr-vqt", options.VqtLr.ToString("R", CultureInfo.InvariantCulture),
                 })
            start.ArgumentList.Add(arg);
        if (options.Threads is int threads)
        {
            start.ArgumentList.Add("--threads");
            start.ArgumentList.Add(threads.ToString(CultureInfo.InvariantCulture));
        }
        if (options.Full) start.ArgumentList.Add("--full");
        if (options.DataFolder is string data)
        {
            start.ArgumentList.Add("--data");
            start.ArgumentList.Add(data);
        }
        using var child = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {self}.");
        var stderr = child.StandardError.ReadToEndAsync();
        var stdout = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        var line = stdout.Split('\n').FirstOrDefault(l => l.StartsWith(MemoryLinePrefix, StringComparison.Ordinal));
        if (child.ExitCode != 0 || line is null)
            throw new InvalidOperationException($"The memory measurement of {recipe.Name} failed (exit code {child.ExitCode}):\n{stdout}\n{stderr.Result}");
        return JsonSerializer.Deserialize<MemoryResult>(line[MemoryLinePrefix.Length..])! with { SeparateProcess = true };
    }

    private static int MeasureMemoryChild(Options options, Recipe recipe, TensorDataset train)
    {
        using var novel = FewShotData.SelectClasses(train, FewShotExperiment.NovelFirst, FewShotExperiment.ClassCount);
        var result = recipe.MeasureMemory(novel, options.MemoryBatch, options.MemorySteps, options.Weights, options.Seed);
        Console.WriteLine(MemoryLinePrefix + JsonSerializer.Serialize(result));
        return 0;
    }

    private sealed record Options
    {
        public bool Full { get; init; }
        public string? DataFolder { get; init; }
        public bool Smoke { get; init; }
        public int? PretrainEpochs { get; init; }
        public int Epochs { get; init; } = 50;
        public int Shots { get; init; } = 20;
        public int Draws { get; init; } = 10;
        public int BatchSize { get; init; } = 25;
        // Chosen once, by the mean accuracy on held-out train images of 5-9 over 3 draws (README).
        public double ProbeLr { get; init; } = 1e-1;
        public double VptLr { get; init; } = 1e-1;
        public double VqtLr { get; init; } = 3e-3;
        public int MemoryBatch { get; init; } = 256;
        public int MemorySteps { get; init; } = 3;
        public bool InProcessMemory { get; init; }
        public long Seed { get; init; }
        public string? OutputDirectory { get; init; } = Path.Combine("runs", "deep-tokens");
        public string? Weights { get; init; }
        public string? MeasureMemoryOf { get; init; }
        public bool Holdout { get; init; }
        public Device? Device { get; init; }
        public int? Threads { get; init; }

        public const string Usage =
            "usage: dotnet run -c Release --project examples/DeepTokens -- [--full | --data DIR] [--smoke] [--shots N] [--draws N] [--epochs N] [--pretrain-epochs N]\n" +
            "         [--batch N] [--lr-probe X] [--lr-vpt X] [--lr-vqt X] [--memory-batch N] [--memory-steps N] [--in-process-memory]\n" +
            "         [--weights FILE] [--seed N] [--out DIR] [--device cpu|cuda] [--threads N] [--holdout]";

        public static Options Parse(string[] args)
        {
            var o = new Options();
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
                int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
                double Real() => double.Parse(Next(), CultureInfo.InvariantCulture);
                o = args[i] switch
                {
                    "--full" => o with { Full = true },
                    "--data" => o with { DataFolder = Next() },
                    "--smoke" => o with { Smoke = true },
                    "--pretrain-epochs" => o with { PretrainEpochs = Int() },
                    "--epochs" => o with { Epochs = Int() },
                    "--shots" => o with { Shots = Int() },
                    "--draws" => o with { Draws = Int() },
                    "--batch" => o with { BatchSize = Int() },
                    "--lr-probe" => o with { ProbeLr = Real() },
                    "--lr-vpt" => o with { VptLr = Real() },
                    "--lr-vqt" => o with { VqtLr = Real() },
                    "--memory-batch" => o with { MemoryBatch = Int() },
                    "--memory-steps" => o with { MemorySteps = Int() },
                    "--in-process-memory" => o with { InProcessMemory = true },
                    "--seed" => o with { Seed = long.Parse(Next(), CultureInfo.InvariantCulture) },
                    "--out" => o with { OutputDirectory = Next() },
                    "--weights" => o with { Weights = Next() },
                    "--measure-memory" => o with { MeasureMemoryOf = Next() },
                    "--holdout" => o with { Holdout = true },
                    "--device" => o with { Device = Devices.Parse(Next()) },
                    "--threads" => o with { Threads = Int() },
                    _ => throw new ArgumentException($"Unknown option '{args[i]}'."),
                };
            }
            if (o.Full && o.DataFolder is not null) throw new ArgumentException("--full and --data exclude each other.");
            if (o.Holdout && o.Weights is null) throw new ArgumentException("--holdout needs --weights FILE (a pretrained backbone): it replaces the test split of classes 5-9 only.");
            return o;
        }
    }
}
