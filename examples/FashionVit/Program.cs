using System;
using System.Globalization;
using System.IO;
using ModelDsl.Data;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace FashionVitExample;

/// <summary>
/// Trains the declared <see cref="FashionVit"/> on Fashion-MNIST and reports test accuracy.
/// Default: the embedded subset (8,000 train / 2,000 test). <c>--full</c> reads the installed
/// dataset (Debian package dataset-fashion-mnist), <c>--data DIR</c> any folder of the idx files.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var options = ExampleOptions.Parse(args);
        if (options is null)
        {
            Console.Error.WriteLine("usage: dotnet run --project examples/FashionVit -- [--full | --data DIR] [--epochs N] [--out DIR] [--smoke]");
            return 2;
        }

        var folder = options.Full ? FashionMnist.InstalledFolder : options.DataFolder;
        var (train, test) = FashionMnist.Load(folder);
        Console.WriteLine($"Data: {(folder ?? "embedded subset")}: {train.Count:N0} train, {test.Count:N0} test images");
        Console.WriteLine(FashionVit.Summary);

        manual_seed(options.Seed);
        var device = ModelDsl.Training.Devices.Default;
        using var model = new FashionVit(device);
        Console.WriteLine($"Device: {device}");

        var report = model.Fit(train, test, new TrainOptions
        {
            Epochs = options.Epochs,
            BatchSize = 128,
            LearningRate = 2e-3,
            WeightDecay = 0.05,
            WarmupFraction = 0.05,
            GradientClipNorm = 1.0,
            Seed = options.Seed,
            Device = device,
            OutputDirectory = options.OutputDirectory,
            MaxStepsPerEpoch = options.Smoke ? 2 : null,
            Log = Console.Out,
        });

        var accuracy = report.FinalValidation["accuracy"];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Test accuracy: {accuracy:P2} after {report.Epochs.Count} epochs in {report.Elapsed.TotalSeconds:F0} s ({report.SamplesPerSecond:F0} samples/s)"));
        Console.WriteLine($"Metrics: {report.MetricsPath}");
        Console.WriteLine($"Checkpoint: {report.CheckpointPath}");
        return 0;
    }

    private sealed record ExampleOptions(bool Full, string? DataFolder, int Epochs, string OutputDirectory, bool Smoke, long Seed)
    {
        public static ExampleOptions? Parse(string[] args)
        {
            var options = new ExampleOptions(false, null, 0, Path.Combine("runs", "fashion-vit"), false, 0);
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                options = args[i] switch
                {
                    "--full" => options with { Full = true },
                    "--data" => options with { DataFolder = Next() },
                    "--epochs" => options with { Epochs = int.Parse(Next(), CultureInfo.InvariantCulture) },
                    "--out" => options with { OutputDirectory = Next() },
                    "--seed" => options with { Seed = long.Parse(Next(), CultureInfo.InvariantCulture) },
                    "--smoke" => options with { Smoke = true, Epochs = 1 },
                    _ => null!,
                };
                if (options is null)
                    return null;
            }
            // The subset is small: more epochs fit the 5-minute budget; the full set needs fewer.
            var fullData = options.Full || options.DataFolder is not null;
            return options.Epochs > 0 ? options : options with { Epochs = fullData ? 10 : 25 };
        }
    }
}
