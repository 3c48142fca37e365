using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using ModelDsl.Data;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace FashionVitExample;

/// <summary>
/// Trains the declared <see cref="FashionVit"/> on Fashion-MNIST and reports test accuracy.
/// Default: the embedded subset (8,000 train / 2,000 test). A validation split carved from the training
/// images (1,000 of the subset's, 5,000 of the full set's) chooses the best checkpoint and drives early
/// stopping; the test split is read once, at the end, by that checkpoint. <c>--full</c> reads the installed
/// dataset (Debian package dataset-fashion-mnist), <c>--data DIR</c> any folder of the idx files.
/// The run writes <c>last.ckpt</c>, <c>best.ckpt</c>, <c>metrics.jsonl</c>, <c>metrics.csv</c> and
/// <c>curves.png</c> to <c>--out</c>; Ctrl+C stops at the next step with an exact checkpoint, and
/// <c>--resume</c> continues from it.
/// </summary>
public static class Program
{
    private const string Usage =
        "usage: dotnet run -c Release --project examples/FashionVit -- [--full | --data DIR] [--epochs N] [--out DIR] [--seed N]\n" +
        "       [--smoke] [--resume] [--bf16] [--accumulate N] [--eval-every N] [--schedule cosine|linear] [--patience N] [--threads N]\n" +
        "       [--export-pytorch DIR]\n" +
        "  --smoke       two training steps and two validation batches, end to end (all files written)\n" +
        "  --resume      continue from OUT/last.ckpt (after Ctrl+C, a crash or a finished shorter run)\n" +
        "  --bf16        bf16 mixed precision (fp32 master weights); the default is bf16 on CUDA, fp32 on the CPU\n" +
        "  --accumulate  batches of 128 accumulated per optimizer step (default 1)\n" +
        "  --eval-every  evaluate and checkpoint every N optimizer steps instead of every epoch\n" +
        "  --patience    stop after N evaluations without a better val_accuracy (default 8; 0 turns it off)\n" +
        "  --threads     CPU threads for TorchSharp (default: all cores; 1 is often faster on a busy machine)\n" +
        "  --export-pytorch  write the model's PyTorch twin, its initial weights, the data split and this recipe to DIR\n" +
        "                and stop: then `torchrun --nproc_per_node=N train.py` there (docs/pytorch.md)";

    public static int Main(string[] args)
    {
        ExampleOptions? options;
        try
        {
            options = ExampleOptions.Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            Console.Error.WriteLine(e.Message);
            options = null;
        }
        if (options is null)
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        if (options.Threads is int threads) set_num_threads(threads);
        var folder = options.Full ? FashionMnist.InstalledFolder : options.DataFolder;
        var (all, test) = FashionMnist.Load(folder);
        // The validation split comes from the training images (a seeded draw, the same on resume); the test
        // split chooses nothing and is read once, at the end.
        long validationCount = Math.Min(5000, all.Count / 8);
        var order = randperm(all.Count, generator: new Generator((ulong)options.Seed)).data<long>().ToArray();
        using var validation = all.Subset(order[..(int)validationCount]);
        using var train = all.Subset(order[(int)validationCount..]);
        all.Dispose();
        Console.WriteLine($"Data: {(folder ?? "embedded subset")}: {train.Count:N0} train, {validation.Count:N0} validation (from the training images), {test.Count:N0} test images");
        Console.WriteLine(FashionVit.Summary);

        manual_seed(options.Seed);
        var device = Devices.Default;
        using var model = new FashionVit(device);
        Console.WriteLine($"Device: {device}");

        if (options.ExportPyTorch is string export)
        {
            // Declared here, trained there: the twin, these initial weights, the same split and the same recipe.
            model.ExportPyTorch(export);
            ModelDsl.Export.PyTorchExport.WriteTraining(export, model, train, validation, Recipe(options, device, null, CancellationToken.None));
            Console.WriteLine($"PyTorch twin, weights, data and train.py written to {Path.GetFullPath(export)}:");
            Console.WriteLine($"  cd {export} && torchrun --nproc_per_node=2 train.py      (or: python train.py; PyTorch 1.13 on Python 3.11: python -m modeldsl_torch.torchrun ...)");
            Console.WriteLine("  then model.Load(\"run/weights.trained.safetensors\") brings the weights back.");
            return 0;
        }

        var lastCheckpoint = Path.Combine(options.OutputDirectory, Checkpoint.LastFileName);
        string? resumeFrom = null;
        if (options.Resume)
        {
            if (File.Exists(lastCheckpoint)) resumeFrom = lastCheckpoint;
            else Console.WriteLine($"--resume: no {lastCheckpoint} yet; starting a new run.");
        }

        // Ctrl+C: finish the current step, write last.ckpt with the exact position, and exit; --resume continues.
        using var interrupt = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (interrupt.IsCancellationRequested) return; // a second Ctrl+C kills the process
            e.Cancel = true;
            interrupt.Cancel();
            Console.Error.WriteLine("Stopping after this step and writing last.ckpt (Ctrl+C again to kill)...");
        };

        TrainReport report;
        try
        {
            report = Train(model, train, validation, options, device, resumeFrom, interrupt.Token);
        }
        catch (Exception e) when (e is NonFiniteLossException or CheckpointMismatchException or InvalidOperationException
                                      or ModelDsl.ShapeMismatchException or ModelDsl.ModelDslException or InvalidDataException)
        {
            // The trainer's messages say what happened and what to do (the step and the intact
            // checkpoint, the tensors that differ, the options that would change the data order).
            Console.Error.WriteLine(e.Message);
            return 1;
        }
        // The test split, read once: by the checkpoint the validation split chose (the last weights if none was written).
        if (report.BestCheckpointPath is string best) Checkpoint.Load(model, best);
        var testResult = model.Evaluate(test, new TrainOptions { Device = device, BatchSize = 128, MaxEvalBatches = options.Smoke ? 2 : null });
        PrintResults(report, testResult);
        return 0;
    }

    private static TrainReport Train(FashionVit model, TensorDataset train, TensorDataset validation, ExampleOptions options,
        Device device, string? resumeFrom, CancellationToken interrupt) =>
        model.Fit(train, validation, Recipe(options, device, resumeFrom, interrupt));

    private static TrainOptions Recipe(ExampleOptions options, Device device, string? resumeFrom, CancellationToken interrupt) =>
        new()
        {
            Epochs = options.Epochs,
            BatchSize = 128,
            GradientAccumulationSteps = options.Accumulate,
            LearningRate = 2e-3,
            // The learnable tokens start at ~1e-6 and get no weight decay; a higher rate lets them move.
            LearningRateScales = new Dictionary<string, double> { ["cls_token"] = 2.0, ["reg_token"] = 2.0 },
            WeightDecay = 0.05,
            WarmupFraction = 0.05,
            Schedule = options.Schedule,
            GradientClipNorm = 1.0,
            Precision = options.BFloat16 ? Precision.BFloat16 : Precision.Auto,
            EvaluateEveryNSteps = options.EvaluateEvery,
            Monitor = "val_accuracy",
            EarlyStoppingPatience = options.Patience > 0 ? options.Patience : null,
            Seed = options.Seed,
            Device = device,
            OutputDirectory = options.OutputDirectory,
            ResumeFrom = resumeFrom,
            Smoke = options.Smoke,
            CancellationToken = interrupt,
            Log = Console.Out,
        };

    private static void PrintResults(TrainReport report, IReadOnlyDictionary<string, double> test)
    {
        var accuracy = test.GetValueOrDefault("accuracy", double.NaN);
        Console.WriteLine(report.Stop switch
        {
            TrainStop.Interrupted => $"Interrupted at step {report.Steps}: continue with --resume (same options).",
            TrainStop.EarlyStopped => $"Stopped early at step {report.Steps}: {report.Monitor} had not improved since step {report.BestStep}.",
            _ => $"Finished {report.Steps} steps.",
        });
        if (report.BestValue is double best)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Best {report.Monitor}: {best:P2} at step {report.BestStep} ({report.BestCheckpointPath})"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Test accuracy: {accuracy:P2} ({(report.BestCheckpointPath is null ? "last weights" : $"best checkpoint by {report.Monitor}, step {report.BestStep}")}; " +
            $"{report.Epochs.Count} evaluations in {report.Elapsed.TotalSeconds:F0} s, {report.SamplesPerSecond:F0} samples/s, {report.ComputeType})"));
        Console.WriteLine($"Metrics: {report.MetricsPath} and {report.MetricsCsvPath}");
        Console.WriteLine($"Curves: {report.CurvesPath}");
        Console.WriteLine($"Checkpoint: {report.CheckpointPath}");
    }

    private sealed record ExampleOptions(
        bool Full, string? DataFolder, int Epochs, string OutputDirectory, bool Smoke, long Seed,
        bool Resume, bool BFloat16, int Accumulate, int? EvaluateEvery, ScheduleKind Schedule, int Patience, int? Threads, string? ExportPyTorch)
    {
        public static ExampleOptions? Parse(string[] args)
        {
            var options = new ExampleOptions(false, null, 0, Path.Combine("runs", "fashion-vit"), false, 0,
                false, false, 1, null, ScheduleKind.Cosine, 8, null, null);
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int NextInt() => int.Parse(Next(), CultureInfo.InvariantCulture);
                options = args[i] switch
                {
                    "--full" => options with { Full = true },
                    "--data" => options with { DataFolder = Next() },
                    "--epochs" => options with { Epochs = NextInt() },
                    "--out" => options with { OutputDirectory = Next() },
                    "--seed" => options with { Seed = long.Parse(Next(), CultureInfo.InvariantCulture) },
                    "--smoke" => options with { Smoke = true },
                    "--resume" => options with { Resume = true },
                    "--bf16" => options with { BFloat16 = true },
                    "--accumulate" => options with { Accumulate = NextInt() },
                    "--eval-every" => options with { EvaluateEvery = NextInt() },
                    "--patience" => options with { Patience = NextInt() },
                    "--threads" => options with { Threads = NextInt() },
                    "--export-pytorch" => options with { ExportPyTorch = Next() },
                    "--schedule" => options with { Schedule = Enum.Parse<ScheduleKind>(Next(), ignoreCase: true) },
                    _ => null!,
                };
                if (options is null)
                    return null;
            }
            // A smoke run must not overwrite a real run's checkpoints unless told to.
            if (options.Smoke && !Array.Exists(args, a => a == "--out"))
                options = options with { OutputDirectory = Path.Combine("runs", "fashion-vit-smoke") };
            return options.Epochs > 0 ? options : options with { Epochs = 10 };
        }
    }
}
