using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using ModelDsl.Data;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace ModelDsl.Examples;

/// <summary>
/// The settings the Fashion-MNIST examples share (Resampler, ChannelVit, TaskTokens);
/// <see cref="Parse"/> reads them from the command line. Linked into each example's project.
/// </summary>
public sealed record ExampleOptions
{
    /// <summary>Read the installed full dataset (<see cref="FashionMnist.InstalledFolder"/>).</summary>
    public bool Full { get; init; }

    /// <summary>A folder with the four idx files; the embedded subset when null (and not <see cref="Full"/>).</summary>
    public string? DataFolder { get; init; }

    /// <summary>Epochs of each run; the example's defaults when null.</summary>
    public int? Epochs { get; init; }

    /// <summary>Two training batches and two evaluation batches per run, end to end.</summary>
    public bool Smoke { get; init; }

    /// <summary>One seed for the data and every model: the same initial backbone, the same batches.</summary>
    public long Seed { get; init; }

    /// <summary>CPU threads for TorchSharp; its default when null.</summary>
    public int? Threads { get; init; }

    /// <summary>Each run writes its metrics and checkpoints to a subfolder named after the run; nothing when null.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>The training device; CUDA when available, else the CPU, when null.</summary>
    public Device? Device { get; init; }

    /// <summary>Progress: model summaries and the trainer's per-epoch lines.</summary>
    public TextWriter Log { get; init; } = TextWriter.Null;

    /// <summary>The idx folder to read, or null for the embedded subset.</summary>
    public string? Folder => Full ? FashionMnist.InstalledFolder : DataFolder;

    /// <summary>Epochs of each run: 1 in a smoke run, else <see cref="Epochs"/>, else the example's default for the data.</summary>
    public int EpochsOr(int embeddedDefault, int fullDefault) => Smoke ? 1 : Epochs ?? (Folder is not null ? fullDefault : embeddedDefault);

    /// <summary>
    /// Trains one model of the example with the recipe the three share (AdamW lr 2e-3, weight decay
    /// 0.05, 5 % warmup, clip 1.0, batch 128), each model from the same seed so that they start from
    /// the same backbone and see the same batches; <paramref name="afterTraining"/> runs on the trained
    /// model before it is disposed. Returns the report and the wall time (training and <paramref name="afterTraining"/>).
    /// </summary>
    /// <param name="validation">
    /// A split held out of the training images that the trainer validates on each epoch, or null: never the
    /// test split, which the examples read once, after training (in <paramref name="afterTraining"/>). The
    /// examples that report the last epoch choose nothing, so they pass null.
    /// </param>
    public (TrainReport Report, TimeSpan WallTime) Train<TBatch>(string name, ModelSummary summary, Func<TrainableModule<TBatch>> create,
        TensorDataset train, TensorDataset? validation, int epochs, Device device, Action<TrainableModule<TBatch>>? afterTraining = null)
    {
        Log.WriteLine();
        Log.WriteLine($"== {name} ==");
        Log.WriteLine(summary);
        var watch = Stopwatch.StartNew();
        manual_seed(Seed);
        using var model = create();
        var report = model.Fit(train, validation, new TrainOptions
        {
            Epochs = epochs,
            BatchSize = 128,
            LearningRate = 2e-3,
            WeightDecay = 0.05,
            WarmupFraction = 0.05,
            GradientClipNorm = 1.0,
            Seed = Seed,
            Device = device,
            Smoke = Smoke,
            OutputDirectory = OutputDirectory is null ? null : Path.Combine(OutputDirectory, summary.Model.ToLowerInvariant()),
            WriteCurves = !Smoke,
            Log = Log,
        });
        afterTraining?.Invoke(model);
        return (report, watch.Elapsed);
    }

    /// <summary>The options that read a test split once after training: batches of 128 (2 of them in a smoke run).</summary>
    public TrainOptions TestEvaluation(Device device) => new() { Device = device, BatchSize = 128, MaxEvalBatches = Smoke ? 2 : null };

    /// <summary>The command line's usage line for the example at <paramref name="project"/>.</summary>
    public static string Usage(string project) =>
        $"usage: dotnet run -c Release --project {project} -- [--full | --data DIR] [--epochs N] [--seed N] [--threads N] [--out DIR] [--smoke]";

    /// <summary>The options of a command line, or null when it is not valid.</summary>
    /// <exception cref="ArgumentException">A flag lacks its value.</exception>
    public static ExampleOptions? Parse(string[] args, string defaultOutput, TextWriter log)
    {
        var options = new ExampleOptions { OutputDirectory = defaultOutput, Log = log };
        for (var i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            int? NextInt() => int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : null;
            switch (args[i])
            {
                case "--full": options = options with { Full = true }; break;
                case "--data": options = options with { DataFolder = Next() ?? throw new ArgumentException("--data needs a folder") }; break;
                case "--epochs": options = options with { Epochs = NextInt() ?? throw new ArgumentException("--epochs needs a positive number") }; break;
                case "--seed": options = options with { Seed = long.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed) ? seed : throw new ArgumentException("--seed needs a number") }; break;
                case "--threads": options = options with { Threads = NextInt() ?? throw new ArgumentException("--threads needs a positive number") }; break;
                case "--out": options = options with { OutputDirectory = Next() ?? throw new ArgumentException("--out needs a folder") }; break;
                case "--smoke": options = options with { Smoke = true }; break;
                default: return null;
            }
        }
        return options;
    }

    /// <summary>
    /// An example's <c>Main</c>: parses the command line, applies <see cref="Threads"/>, runs
    /// <paramref name="experiment"/> and prints its results; exit code 2 with the usage on a bad command line.
    /// </summary>
    public static int RunFromCommandLine(string[] args, string project, string defaultOutput, Func<ExampleOptions, object> experiment)
    {
        ExampleOptions? options;
        try
        {
            options = Parse(args, defaultOutput, Console.Out);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            options = null;
        }
        if (options is null)
        {
            Console.Error.WriteLine(Usage(project));
            return 2;
        }
        if (options.Threads is { } threads)
            set_num_threads(threads);
        var results = experiment(options);
        Console.WriteLine();
        Console.WriteLine(results);
        return 0;
    }
}
