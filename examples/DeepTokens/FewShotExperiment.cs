using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using ModelDsl.Data;
using ModelDsl.Training;
using ModelDsl.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace DeepTokensExample;

// The experiment, independent of the concrete model classes: the example passes its Dim-64 models
// (Models.cs), the smoke test passes tiny ones. Nothing here needs a GPU; memory is measured on the CPU.

/// <summary>Class filtering and few-shot sampling of a Fashion-MNIST dataset (<c>image</c>, <c>label</c>).</summary>
public static class FewShotData
{
    /// <summary>
    /// The rows whose label is in <c>[firstClass, firstClass + classCount)</c>, labels remapped to
    /// <c>label - firstClass</c> (so classes 0-4 keep their labels and 5-9 become 0-4). With
    /// <paramref name="shotsPerClass"/>, that many rows per class, drawn without replacement with
    /// <paramref name="seed"/> (fewer when a class has fewer rows); with <paramref name="complement"/>, the
    /// other rows of those classes instead (a held-out split for choosing hyperparameters).
    /// </summary>
    public static TensorDataset SelectClasses(TensorDataset data, int firstClass, int classCount, int? shotsPerClass = null, long seed = 0, bool complement = false)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegative(firstClass);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        using var labelsOnCpu = data[FashionMnist.LabelColumn].cpu();
        var labels = labelsOnCpu.data<long>().ToArray();
        var chosen = new List<long>();
        for (int c = firstClass; c < firstClass + classCount; c++)
        {
            var rows = Enumerable.Range(0, labels.Length).Where(i => labels[i] == c).Select(i => (long)i).ToArray();
            if (shotsPerClass is int shots)
            {
                var random = new Random(unchecked((int)seed * 1_000_003 + c));
                var shuffled = rows.OrderBy(_ => random.Next()).ToArray();
                rows = (complement ? shuffled.Skip(shots) : shuffled.Take(shots)).ToArray();
            }
            chosen.AddRange(rows);
        }
        if (chosen.Count == 0)
            throw new ArgumentException($"The dataset has no rows of classes {firstClass}..{firstClass + classCount - 1}.", nameof(data));
        chosen.Sort();

        using var scope = NewDisposeScope();
        var index = tensor(chosen.ToArray(), dtype: ScalarType.Int64, device: data.Device);
        var image = data[FashionMnist.ImageColumn].index_select(0, index);
        var label = data[FashionMnist.LabelColumn].index_select(0, index) - firstClass;
        return new TensorDataset((FashionMnist.ImageColumn, image.MoveToOuterDisposeScope()), (FashionMnist.LabelColumn, label.MoveToOuterDisposeScope()));
    }
}

/// <summary>One trained model: test accuracy, parameter counts, wall time.</summary>
public sealed record StageResult(
    string Method,
    double TestAccuracy,
    double TestLoss,
    long TestImages,
    long TrainImages,
    long TrainableParameters,
    long TotalParameters,
    int Epochs,
    long Steps,
    double TrainSeconds,
    double CpuSeconds,
    double LearningRate,
    int LoadedTensors)
{
    /// <summary>The few-shot draw (0-based) this result belongs to.</summary>
    public int Draw { get; init; }
}

/// <summary>
/// The training memory of one method on the CPU, from the process's resident set (Linux
/// <c>/proc/self/status</c>: VmRSS, VmHWM; <see cref="Process.WorkingSet64"/> and
/// <see cref="Process.PeakWorkingSet64"/>).
/// </summary>
/// <param name="PeakIncreaseBytes">Peak RSS during <see cref="Steps"/> optimizer steps of <c>Fit</c> at
/// <see cref="BatchSize"/>, minus the RSS just before them (after a one-step warm-up, a GC and <c>malloc_trim</c>).</param>
/// <param name="HeldBytes">RSS right after <c>TrainingStep</c> (the forward pass and loss, autograd graph alive)
/// minus RSS just before it: what the graph holds for the backward pass (saved tensors plus live outputs); the
/// largest of <see cref="Steps"/> repetitions.</param>
/// <param name="PeakWasReset">Whether VmHWM could be reset before the measured steps (<c>/proc/self/clear_refs</c>);
/// if not, <see cref="PeakIncreaseBytes"/> is the process's lifetime peak minus the baseline.</param>
public sealed record MemoryResult(string Method, int BatchSize, int Steps, long BaselineBytes, long PeakIncreaseBytes, long HeldBytes, bool PeakWasReset, bool SeparateProcess);

/// <summary>
/// How to build, load and train one model, whatever its generated batch type: the example and the
/// smoke test describe each method with <see cref="Of{TBatch}"/>.
/// </summary>
public abstract class Recipe
{
    private protected Recipe(string key, string name, double learningRate, IReadOnlyList<string> newParts)
    {
        Key = key;
        Name = name;
        LearningRate = learningRate;
        NewParts = newParts;
    }

    /// <summary>A short key for the command line and file names (<c>probe</c>, <c>vpt</c>, <c>vqt</c>).</summary>
    public string Key { get; }

    /// <summary>The row name in the results table.</summary>
    public string Name { get; }

    /// <summary>The peak learning rate of its training.</summary>
    public double LearningRate { get; }

    /// <summary>
    /// Registered names (module prefixes) that the pretrained file does not provide: the head and the
    /// method's own tokens. The backbone is loaded strictly, everything but these.
    /// </summary>
    public IReadOnlyList<string> NewParts { get; }

    /// <summary>Describes a method by the constructor of its generated model.</summary>
    public static Recipe Of<TBatch>(string key, string name, double learningRate, Func<Device, TrainableModule<TBatch>> create, params string[] newParts) =>
        new Recipe<TBatch>(key, name, learningRate, create, newParts);

    /// <summary>
    /// Builds the model (seeded), loads the backbone from <paramref name="backbone"/> when given
    /// (strict, <see cref="NewParts"/> excluded; the declaration has already frozen it), trains on
    /// <paramref name="train"/>, evaluates on <paramref name="test"/>, and saves the weights to
    /// <paramref name="saveTo"/> when given.
    /// </summary>
    public abstract StageResult Train(TensorDataset train, TensorDataset test, TrainOptions options, string? backbone, string? saveTo, TextWriter log);

    /// <summary>
    /// Measures training memory in this process, on the CPU (see <see cref="MemoryResult"/>). With
    /// <paramref name="tuneAllocator"/>, glibc is set to map every allocation of 64 KiB or more separately
    /// (<see cref="ProcessMemory.Tune"/>), for the rest of the process's life.
    /// </summary>
    public abstract MemoryResult MeasureMemory(TensorDataset data, int batchSize, int steps, string? backbone, long seed, bool tuneAllocator = true);
}

internal sealed class Recipe<TBatch>(string key, string name, double learningRate, Func<Device, TrainableModule<TBatch>> create, IReadOnlyList<string> newParts)
    : Recipe(key, name, learningRate, newParts)
{
    public override StageResult Train(TensorDataset train, TensorDataset test, TrainOptions options, string? backbone, string? saveTo, TextWriter log)
    {
        var device = options.Device ?? Devices.Default;
        manual_seed(options.Seed);
        using var model = create(device);
        int loaded = backbone is null ? 0 : LoadBackbone(model, backbone, log);

        var cpuBefore = ProcessMemory.CpuTime();
        var report = model.Fit(train, null, options with { LearningRate = LearningRate, Device = device });
        var cpuSeconds = (ProcessMemory.CpuTime() - cpuBefore).TotalSeconds;
        var evaluation = model.Evaluate(test, new TrainOptions
        {
            Device = device,
            EvalBatchSize = 500,
            Precision = options.Precision,
            MaxEvalBatches = options.Smoke ? 2 : null,
        });
        if (saveTo is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(saveTo))!);
            model.SaveSafetensors(saveTo);
        }
        long testImages = options.Smoke ? Math.Min(test.Count, 2 * 500) : test.Count;
        return new StageResult(Name, evaluation["accuracy"], evaluation["loss"], testImages, train.Count,
            report.Parameters.TrainableCount, report.Parameters.TrainableCount + report.Parameters.FrozenCount,
            report.Epochs.Count, report.Steps, report.Elapsed.TotalSeconds, cpuSeconds, LearningRate, loaded);
    }

    public override MemoryResult MeasureMemory(TensorDataset data, int batchSize, int steps, string? backbone, long seed, bool tuneAllocator = true)
    {
        if (data.Count < batchSize)
            throw new ArgumentException($"The memory measurement needs at least one batch of {batchSize} rows; the data have {data.Count}.", nameof(data));
        var cpu = CPU;
        manual_seed(seed);
        using var model = create(cpu);
        if (backbone is not null) LoadBackbone(model, backbone, TextWriter.Null);
        var options = new TrainOptions
        {
            Epochs = 1,
            BatchSize = batchSize,
            MaxStepsPerEpoch = steps,
            DropLast = true,
            LearningRate = LearningRate,
            Precision = Precision.Float32,
            Device = cpu,
            Seed = seed,
            Log = TextWriter.Null,
            ShowProgress = false,
            WriteCurves = false,
        };

        if (tuneAllocator) ProcessMemory.Tune();
        model.Fit(data, null, options with { MaxStepsPerEpoch = 1 });   // warm-up: kernels, thread pools, optimizer code paths
        ProcessMemory.Settle();
        bool reset = ProcessMemory.TryResetPeak();
        long baseline = ProcessMemory.Resident();
        model.Fit(data, null, options);
        long peak = ProcessMemory.Peak();

        // What the autograd graph holds between the forward and the backward pass.
        long held = 0;
        using (var batch = FirstBatch(data, batchSize))
        {
            model.train();
            for (int i = 0; i < steps; i++)
            {
                ProcessMemory.Settle();
                long before = ProcessMemory.Resident();
                using (var scope = NewDisposeScope())
                {
                    var output = model.TrainingStep(model.CreateBatch(batch));
                    long after = ProcessMemory.Resident();
                    held = Math.Max(held, after - before);
                    output.Loss.backward();
                }
                model.zero_grad();
            }
        }
        return new MemoryResult(Name, batchSize, steps, baseline, Math.Max(0, peak - baseline), Math.Max(0, held), reset, SeparateProcess: false);
    }

    private int LoadBackbone(TrainableModule<TBatch> model, string path, TextWriter log)
    {
        var report = model.Load(path, LoadOptions.Strict with { Exclude = NewParts.ToArray() });
        log.WriteLine($"{Name}: {report.ToString().Split('\n')[0].Trim()}");
        // The stages are declared Frozen = true: every loaded tensor must be frozen, every new one trainable.
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var thawed = report.Loaded.Where(n => parameters[n].requires_grad).ToList();
        var stuck = report.New.Where(n => !parameters[n].requires_grad).ToList();
        if (thawed.Count > 0 || stuck.Count > 0)
            throw new InvalidOperationException(
                $"{Name}: the declaration should freeze exactly the loaded backbone; trainable loaded tensors: [{string.Join(", ", thawed)}], frozen new ones: [{string.Join(", ", stuck)}].");
        return report.Loaded.Count;
    }

    private static NamedBatch FirstBatch(TensorDataset data, int batchSize) =>
        new(data.Names.Select(n => new KeyValuePair<string, Tensor>(n, data[n].narrow(0, 0, batchSize).cpu().clone())));
}

/// <summary>Resident-set readings of this process (Linux), and glibc settings that make them track live tensors.</summary>
public static class ProcessMemory
{
    /// <summary>Current resident set (VmRSS).</summary>
    public static long Resident()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    /// <summary>CPU time of this process so far, all threads (user + system).</summary>
    public static TimeSpan CpuTime()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }

    /// <summary>Peak resident set (VmHWM) since the start or the last <see cref="TryResetPeak"/>.</summary>
    public static long Peak()
    {
        using var process = Process.GetCurrentProcess();
        return process.PeakWorkingSet64;
    }

    /// <summary>Resets VmHWM to the current RSS (writes 5 to <c>/proc/self/clear_refs</c>, Linux 4.0+).</summary>
    public static bool TryResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// glibc: serve every allocation of 64 KiB or more (all activation tensors at these batch sizes) by its
    /// own mmap, so that freeing it returns the pages at once and RSS follows the live tensors.
    /// </summary>
    public static void Tune()
    {
        if (!OperatingSystem.IsLinux()) return;
        try { _ = mallopt(MmapThreshold, 64 * 1024); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    /// <summary>A full GC, then <c>malloc_trim(0)</c>: freed memory goes back to the OS before a reading.</summary>
    public static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        if (!OperatingSystem.IsLinux()) return;
        try { _ = malloc_trim(0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    private const int MmapThreshold = -3;   // M_MMAP_THRESHOLD

    [DllImport("libc.so.6")]
    private static extern int mallopt(int param, int value);

    [DllImport("libc.so.6")]
    private static extern int malloc_trim(nuint pad);
}

/// <summary>Settings of <see cref="FewShotExperiment.Run"/>.</summary>
public sealed record ExperimentSettings
{
    /// <summary>Pretraining epochs on classes 0-4.</summary>
    public int PretrainEpochs { get; init; } = 30;
    public int PretrainBatchSize { get; init; } = 128;
    public double PretrainLearningRate { get; init; } = 2e-3;

    /// <summary>Training images per class of 5-9 (from the train split).</summary>
    public int Shots { get; init; } = 20;

    /// <summary>Independent draws of the shots (seeds <see cref="Seed"/>, <see cref="Seed"/>+1, ...); every method trains on each.</summary>
    public int Draws { get; init; } = 1;
    public int FewShotEpochs { get; init; } = 50;
    public int FewShotBatchSize { get; init; } = 25;

    /// <summary>The fixed batch and the number of steps of the memory measurement.</summary>
    public int MemoryBatchSize { get; init; } = 256;
    public int MemorySteps { get; init; } = 3;

    public long Seed { get; init; }
    public bool Smoke { get; init; }
    public Device? Device { get; init; }

    /// <summary>Folder for the pretrained weights, the runs and the results; nothing written when null (except a temporary weights file).</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>An existing pretrained file to use instead of pretraining.</summary>
    public string? PretrainedWeights { get; init; }

    /// <summary>
    /// Measures one method's memory; when null, <see cref="Recipe.MeasureMemory"/> runs in this process
    /// (the example runs each in a fresh process instead).
    /// </summary>
    public Func<Recipe, string, MemoryResult>? MeasureMemory { get; init; }

    /// <summary>Whether an in-process measurement may change glibc's mmap threshold (see <see cref="Recipe.MeasureMemory"/>).</summary>
    public bool TuneAllocator { get; init; } = true;

    public TextWriter Log { get; init; } = Console.Out;
}

/// <summary>Everything the experiment measured.</summary>
public sealed record ExperimentResult(StageResult? Pretrain, string PretrainedWeights, IReadOnlyList<StageResult> FewShot, IReadOnlyList<MemoryResult> Memory, ResultsTable Table);

/// <summary>
/// Family 2 on real data: pretrain a ViT on classes 0-4, then few-shot on 5-9 with a frozen backbone:
/// linear probe, VPT-deep, VQT (or whatever recipes are passed), each with the same seed and epochs.
/// </summary>
public static class FewShotExperiment
{
    /// <summary>The classes the backbone is pretrained on, and the unseen classes of the few-shot task.</summary>
    public const int BaseFirst = 0, NovelFirst = 5, ClassCount = 5;

    public static ExperimentResult Run(TensorDataset train, TensorDataset test, Recipe pretrain, IReadOnlyList<Recipe> methods, ExperimentSettings settings)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(pretrain);
        ArgumentNullException.ThrowIfNull(methods);
        ArgumentNullException.ThrowIfNull(settings);
        var log = settings.Log;
        var device = settings.Device ?? Devices.Default;
        string? Folder(string name) => settings.OutputDirectory is string o ? Path.Combine(o, name) : null;

        // (1) Pretraining on classes 0-4.
        StageResult? pretrained = null;
        string weights = settings.PretrainedWeights
            ?? (settings.OutputDirectory is string output ? Path.Combine(output, "pretrained-0-4.safetensors")
                : Path.Combine(Path.GetTempPath(), $"deep-tokens-{Environment.ProcessId}-{Guid.NewGuid():N}.safetensors"));
        if (settings.PretrainedWeights is null)
        {
            using var baseTrain = FewShotData.SelectClasses(train, BaseFirst, ClassCount);
            using var baseTest = FewShotData.SelectClasses(test, BaseFirst, ClassCount);
            log.WriteLine($"(1) Pretraining {pretrain.Name} on classes {BaseFirst}-{BaseFirst + ClassCount - 1}: {baseTrain.Count:N0} train, {baseTest.Count:N0} test images.");
            pretrained = pretrain.Train(baseTrain, baseTest, new TrainOptions
            {
                Epochs = settings.PretrainEpochs,
                BatchSize = settings.PretrainBatchSize,
                WeightDecay = 0.05,
                WarmupFraction = 0.05,
                GradientClipNorm = 1.0,
                Seed = settings.Seed,
                Device = device,
                Smoke = settings.Smoke,
                OutputDirectory = Folder("pretrain"),
                Log = log,
            }, backbone: null, saveTo: weights, log);
            log.WriteLine(Invariant($"Pretrained: test accuracy {pretrained.TestAccuracy:P2} on classes 0-4; weights in {weights}"));
        }
        else
        {
            log.WriteLine($"(1) Using the pretrained weights in {weights}.");
        }

        // (2) Few-shot on classes 5-9, labels 0-4: every method on the same draws of shots, with the same seeds.
        var fewShot = new List<StageResult>();
        using (var novelTest = FewShotData.SelectClasses(test, NovelFirst, ClassCount))
        {
            for (int draw = 0; draw < settings.Draws; draw++)
            {
                long seed = settings.Seed + draw;
                using var novelTrain = FewShotData.SelectClasses(train, NovelFirst, ClassCount, settings.Shots, seed);
                log.WriteLine($"(2) Few-shot on classes {NovelFirst}-{NovelFirst + ClassCount - 1} (labels 0-4), draw {draw + 1} of {settings.Draws} (seed {seed}): " +
                              $"{settings.Shots} shots per class = {novelTrain.Count} train images, {novelTest.Count:N0} test images.");
                foreach (var method in methods)
                {
                    var result = method.Train(novelTrain, novelTest, new TrainOptions
                    {
                        Epochs = settings.FewShotEpochs,
                        BatchSize = settings.FewShotBatchSize,
                        // A record (and checkpoint) every 10 epochs and at the end, not every few-shot epoch.
                        EvaluateEveryNSteps = 10 * (int)Math.Ceiling(novelTrain.Count / (double)settings.FewShotBatchSize),
                        WeightDecay = 0.0,
                        WarmupFraction = 0.1,
                        GradientClipNorm = 1.0,
                        Seed = seed,
                        Device = device,
                        Smoke = settings.Smoke,
                        OutputDirectory = Folder(settings.Draws == 1 ? method.Key : $"{method.Key}-draw{draw + 1}"),
                        Log = TextWriter.Null,
                    }, weights, saveTo: null, draw == 0 ? log : TextWriter.Null) with { Draw = draw };
                    log.WriteLine(Invariant(
                        $"{result.Method}: test accuracy {result.TestAccuracy:P2} ({result.TrainableParameters:N0} trainable parameters, {result.Steps} steps at lr {result.LearningRate:G3}, {result.TrainSeconds:F1} s)"));
                    fewShot.Add(result);
                }
            }
        }

        // (3) Training memory, measured the same way for every method.
        var memory = new List<MemoryResult>();
        using (var novelAll = FewShotData.SelectClasses(train, NovelFirst, ClassCount))
        {
            log.WriteLine($"(3) Training memory on the CPU: {settings.MemorySteps} steps of Fit at batch {settings.MemoryBatchSize}, each method {(settings.MeasureMemory is null ? "in this process" : "in a fresh process")}.");
            foreach (var method in methods)
            {
                var m = settings.MeasureMemory is { } measure
                    ? measure(method, weights)
                    : method.MeasureMemory(novelAll, settings.MemoryBatchSize, settings.MemorySteps, weights, settings.Seed, settings.TuneAllocator);
                log.WriteLine(Invariant($"{m.Method}: peak RSS increase {Mib(m.PeakIncreaseBytes)}, held between forward and backward {Mib(m.HeldBytes)}"));
                memory.Add(m);
            }
        }

        if (settings.PretrainedWeights is null && settings.OutputDirectory is null) File.Delete(weights);
        var table = ResultsTable.From(pretrained, fewShot, memory);
        return new ExperimentResult(pretrained, weights, fewShot, memory, table);
    }

    internal static string Mib(long bytes) => Invariant($"{bytes / (1024.0 * 1024.0):F1} MiB");

    internal static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>One row of the results table; few-shot rows average over the draws.</summary>
public sealed record ResultRow(string Method, string Classes, long TrainImages, int Runs, double TestAccuracy, double? TestAccuracyStd,
    long TrainableParameters, long TotalParameters, double TrainSeconds, double CpuSeconds, long? PeakMemoryBytes, long? HeldMemoryBytes);

/// <summary>The results table: the pretrained backbone (when pretrained in this run), then one row per method.</summary>
public sealed record ResultsTable(IReadOnlyList<ResultRow> Rows, int? MemoryBatchSize)
{
    public static ResultsTable From(StageResult? pretrain, IReadOnlyList<StageResult> fewShot, IReadOnlyList<MemoryResult> memory)
    {
        var rows = new List<ResultRow>();
        if (pretrain is not null)
            rows.Add(new ResultRow(pretrain.Method, "0-4", pretrain.TrainImages, 1, pretrain.TestAccuracy, null,
                pretrain.TrainableParameters, pretrain.TotalParameters, pretrain.TrainSeconds, pretrain.CpuSeconds, null, null));
        foreach (var runs in fewShot.GroupBy(r => r.Method))
        {
            var list = runs.ToList();
            var first = list[0];
            double mean = list.Average(r => r.TestAccuracy);
            double? std = list.Count > 1 ? Math.Sqrt(list.Sum(r => (r.TestAccuracy - mean) * (r.TestAccuracy - mean)) / (list.Count - 1)) : null;
            var m = memory.FirstOrDefault(x => x.Method == first.Method);
            rows.Add(new ResultRow(first.Method, "5-9", first.TrainImages, list.Count, mean, std, first.TrainableParameters, first.TotalParameters,
                list.Average(r => r.TrainSeconds), list.Average(r => r.CpuSeconds), m?.PeakIncreaseBytes, m?.HeldBytes));
        }
        return new ResultsTable(rows, memory.Count > 0 ? memory[0].BatchSize : null);
    }

    /// <summary>A Markdown table.</summary>
    public string ToMarkdown()
    {
        var batch = MemoryBatchSize is int b ? $" (batch {b})" : "";
        var runs = Rows.Max(r => r.Runs);
        var accuracy = runs > 1 ? $"Test accuracy (mean ± sd, {runs} draws)" : "Test accuracy";
        var sb = new StringBuilder();
        sb.AppendLine($"| Method | Classes | Train images | {accuracy} | Trainable params | Train wall / CPU time{(runs > 1 ? " per run" : "")} | Peak train memory{batch} | Held forward→backward{batch} |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in Rows)
        {
            var acc = r.TestAccuracyStd is double sd
                ? FewShotExperiment.Invariant($"{100 * r.TestAccuracy:F1} ± {100 * sd:F1} %")
                : FewShotExperiment.Invariant($"{100 * r.TestAccuracy:F1} %");
            sb.AppendLine(FewShotExperiment.Invariant(
                $"| {r.Method} | {r.Classes} | {r.TrainImages:N0} | {acc} | {r.TrainableParameters:N0} of {r.TotalParameters:N0} | {r.TrainSeconds:F1} s / {r.CpuSeconds:F1} s | {(r.PeakMemoryBytes is long p ? FewShotExperiment.Mib(p) : "—")} | {(r.HeldMemoryBytes is long h ? FewShotExperiment.Mib(h) : "—")} |"));
        }
        return sb.ToString();
    }

    public override string ToString() => ToMarkdown();
}
