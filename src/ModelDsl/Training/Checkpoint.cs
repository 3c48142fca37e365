using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using ModelDsl.Weights;
using static TorchSharp.torch;

[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("ModelDsl.Tests")]

namespace ModelDsl.Training;

/// <summary>
/// Checkpoints: one self-checking file per checkpoint, written atomically. A training checkpoint
/// (<see cref="LastFileName"/>, <see cref="BestFileName"/>) holds everything a run needs to continue
/// exactly: the model's parameters and buffers, the optimizer's moments and step count, the schedule,
/// the position in the data (epoch and batch), the RNG state, the running metrics and every record so
/// far. <see cref="Save"/> writes a model-only checkpoint in the same format.
/// </summary>
/// <remarks>
/// <para>Layout: the 8-byte magic <c>MDSLCKPT</c>, a format version (int32), the length (int64) and
/// UTF-8 text of a JSON header (metadata and the name, dtype, shape and byte count of every tensor),
/// the tensors' bytes (little-endian, row-major) in header order, and a SHA-256 of everything before
/// it. Tensors are named <c>model/NAME</c> (state_dict names), <c>optimizer/exp_avg/NAME</c>,
/// <c>optimizer/exp_avg_sq/NAME</c> and <c>rng/cpu</c>.</para>
/// <para>Writing: the file goes to a temporary name in the same folder, is flushed to disk, and is then
/// renamed over the target, so a reader finds the previous checkpoint or the new one, never a partial
/// file; a write that fails midway removes its temporary file and leaves the previous one as it was.
/// Reading checks the magic, the version and the hash before anything is copied into a model.</para>
/// </remarks>
public static class Checkpoint
{
    /// <summary>The checkpoint of the latest evaluation (or interruption) that the trainer writes.</summary>
    public const string LastFileName = "last.ckpt";

    /// <summary>The checkpoint of the best monitored value so far.</summary>
    public const string BestFileName = "best.ckpt";

    /// <summary>The format version this code writes and reads.</summary>
    public const int FormatVersion = 1;

    private static readonly byte[] Magic = "MDSLCKPT"u8.ToArray();

    /// <summary>Test hook: wraps the stream a checkpoint is written to (fault injection).</summary>
    internal static Func<Stream, Stream>? WriteInterceptor;

    internal static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = false,
    };

    /// <summary>Saves the parameters and buffers of <paramref name="module"/> (a model-only checkpoint), atomically.</summary>
    public static void Save(nn.Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var header = new CheckpointHeader { Kind = CheckpointHeader.ModelKind, ModelType = module.GetType().Name };
        using var scope = NewDisposeScope();
        var bytes = Serialize(header, ModelTensors(module));
        WriteAtomically(path, bytes);
    }

    /// <summary>
    /// Loads the model part of a checkpoint (model-only or training) into <paramref name="module"/>.
    /// </summary>
    /// <param name="module">A module of the same architecture.</param>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="strict">Whether every tensor must match a parameter or buffer by name and shape, and vice versa; otherwise only the matching ones are copied.</param>
    /// <exception cref="CheckpointMismatchException">The names or shapes differ (strict); nothing was copied.</exception>
    /// <exception cref="InvalidDataException">
    /// Not a checkpoint (a weights file is named as one), an unknown version, a damaged or forged file (every
    /// length, dtype and shape is checked before anything is allocated), or a tensor whose element type cannot
    /// be converted into the model's (integer or bool into floating point, or back). Nothing was copied.
    /// </exception>
    public static void Load(nn.Module module, string path, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var file = CheckpointFile.Read(path);
        file.LoadModel(module, strict);
    }

    /// <summary>Reads a checkpoint's metadata (step, epoch, records, tensors) without loading it into a model.</summary>
    public static CheckpointInfo ReadInfo(string path)
    {
        using var file = CheckpointFile.Read(path);
        var h = file.Header;
        return new CheckpointInfo(
            Path.GetFullPath(path),
            h.Kind,
            h.ModelType,
            h.Training?.Step ?? 0,
            h.Training?.Epoch ?? 0,
            h.Training?.BatchInEpoch ?? 0,
            h.Training?.Finished ?? false,
            (h.Training?.Records ?? []).Select(r => r.ToRecord()).ToList(),
            h.Training?.Monitor,
            h.Training?.BestValue,
            h.Training?.BestStep,
            h.Tensors.Where(t => t.Name.StartsWith(ModelPrefix, StringComparison.Ordinal))
                .Select(t => new TensorEntry(t.Name[ModelPrefix.Length..], t.DType, t.Shape)).ToList());
    }

    internal const string ModelPrefix = "model/";
    internal const string OptimizerPrefix = "optimizer/";
    internal const string RngName = "rng/cpu";

    internal static IEnumerable<(string Name, Tensor Tensor)> ModelTensors(nn.Module module) =>
        module.state_dict().Select(kv => (ModelPrefix + kv.Key, kv.Value));

    /// <summary>The whole file in memory: header, tensors, hash. Call inside a dispose scope.</summary>
    internal static byte[] Serialize(CheckpointHeader header, IEnumerable<(string Name, Tensor Tensor)> tensors)
    {
        var list = new List<(string Name, Tensor Cpu)>();
        foreach (var (name, tensor) in tensors)
        {
            var cpu = tensor.detach().cpu().contiguous();
            list.Add((name, cpu));
        }
        header.FormatVersion = FormatVersion;
        header.CreatedUtc = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);
        header.Tensors = list.Select(t => new CheckpointTensorHeader
        {
            Name = t.Name,
            DType = t.Cpu.dtype.ToString(),
            Shape = t.Cpu.shape,
            Bytes = t.Cpu.numel() == 0 ? 0 : t.Cpu.bytes.Length,
        }).ToList();
        var json = JsonSerializer.SerializeToUtf8Bytes(header, Json);

        using var buffer = new MemoryStream();
        buffer.Write(Magic);
        buffer.Write(BitConverter.GetBytes(FormatVersion));
        buffer.Write(BitConverter.GetBytes((long)json.Length));
        buffer.Write(json);
        foreach (var (_, cpu) in list)
        {
            if (cpu.numel() > 0) buffer.Write(cpu.bytes);
        }
        var hash = SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
        buffer.Write(hash);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Checkpoints are written on little-endian machines only.");
        return buffer.ToArray();
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> to a temporary file beside <paramref name="path"/>, flushes it to
    /// disk and renames it over <paramref name="path"/>. On failure the temporary file is removed and
    /// <paramref name="path"/> is untouched.
    /// </summary>
    internal static void WriteAtomically(string path, byte[] bytes) =>
        AtomicFile.Write(path, stream => stream.Write(bytes), WriteInterceptor);
}

/// <summary>What a checkpoint file holds, read by <see cref="Checkpoint.ReadInfo"/>.</summary>
/// <param name="Path">The full path of the file.</param>
/// <param name="Kind"><c>training</c> (a trainer's full state) or <c>model</c> (parameters and buffers only).</param>
/// <param name="ModelType">The model's class name when it was written.</param>
/// <param name="Step">Optimizer steps completed.</param>
/// <param name="Epoch">The 1-based epoch in progress (or just completed).</param>
/// <param name="BatchInEpoch">Batches of that epoch already consumed.</param>
/// <param name="Finished">Whether the run had finished (all epochs, or an early stop).</param>
/// <param name="Records">The metrics records written so far.</param>
/// <param name="Monitor">The monitored metric.</param>
/// <param name="BestValue">Its best value so far.</param>
/// <param name="BestStep">The step of the best value.</param>
/// <param name="ModelTensors">The model's tensors (state_dict names, dtypes, shapes).</param>
public sealed record CheckpointInfo(
    string Path,
    string Kind,
    string? ModelType,
    long Step,
    int Epoch,
    long BatchInEpoch,
    bool Finished,
    IReadOnlyList<EpochRecord> Records,
    string? Monitor,
    double? BestValue,
    long? BestStep,
    IReadOnlyList<TensorEntry> ModelTensors);

/// <summary>
/// A checkpoint that does not fit the model it is loaded into, thrown before anything is copied. The
/// message lists the names missing from the file, the names the model lacks, and the shapes that differ.
/// </summary>
public sealed class CheckpointMismatchException : Exception
{
    internal CheckpointMismatchException(string path, string? checkpointModel, string model,
        IReadOnlyList<TensorEntry> missing, IReadOnlyList<TensorEntry> unexpected, IReadOnlyList<ShapeMismatch> shapeMismatches)
        : base(Describe(path, checkpointModel, model, missing, unexpected, shapeMismatches))
    {
        Path = path;
        Missing = missing;
        Unexpected = unexpected;
        ShapeMismatches = shapeMismatches;
    }

    /// <summary>The checkpoint file.</summary>
    public string Path { get; }

    /// <summary>Tensors the model has and the checkpoint lacks.</summary>
    public IReadOnlyList<TensorEntry> Missing { get; }

    /// <summary>Tensors the checkpoint has and the model lacks.</summary>
    public IReadOnlyList<TensorEntry> Unexpected { get; }

    /// <summary>Tensors both have, with different shapes (expected = the model's, found = the checkpoint's).</summary>
    public IReadOnlyList<ShapeMismatch> ShapeMismatches { get; }

    private static string Describe(string path, string? checkpointModel, string model,
        IReadOnlyList<TensorEntry> missing, IReadOnlyList<TensorEntry> unexpected, IReadOnlyList<ShapeMismatch> shapeMismatches)
    {
        static string Shape(long[] s) => "[" + string.Join(",", s) + "]";
        var text = new StringBuilder();
        text.Append($"The checkpoint '{path}'");
        if (checkpointModel is not null && checkpointModel != model) text.Append($" was written by {Names.Escape(checkpointModel)} and");
        text.Append($" does not fit {model}: ");
        var counts = new List<string>();
        if (missing.Count > 0) counts.Add($"{missing.Count} missing");
        if (unexpected.Count > 0) counts.Add($"{unexpected.Count} unexpected");
        if (shapeMismatches.Count > 0) counts.Add($"{shapeMismatches.Count} with another shape");
        text.Append(string.Join(", ", counts)).AppendLine(". Nothing was loaded.");
        if (shapeMismatches.Count > 0)
        {
            text.AppendLine($"Shapes that differ ({shapeMismatches.Count}), the model's vs the checkpoint's:");
            Names.AppendLines(text, shapeMismatches, m => $"{Names.Escape(m.Name)}: model {Shape(m.Expected)}, checkpoint {Shape(m.Found)}");
        }
        if (missing.Count > 0)
        {
            text.AppendLine($"In the model but not in the checkpoint ({missing.Count}):");
            Names.AppendLines(text, missing, e => $"{Names.Escape(e.Name)} {Shape(e.Shape)}");
        }
        if (unexpected.Count > 0)
        {
            text.AppendLine($"In the checkpoint but not in the model ({unexpected.Count}):");
            Names.AppendLines(text, unexpected, e => $"{Names.Escape(e.Name)} {Shape(e.Shape)}");
        }
        text.Append("Resume or load with a checkpoint of the same architecture, or start the run without one.");
        return text.ToString();
    }
}

/// <summary>The JSON header of a checkpoint file.</summary>
internal sealed class CheckpointHeader
{
    public const string ModelKind = "model";
    public const string TrainingKind = "training";

    public int FormatVersion { get; set; }
    public string Kind { get; set; } = ModelKind;
    public string? ModelType { get; set; }
    public string? CreatedUtc { get; set; }
    public TrainingStateData? Training { get; set; }
    public List<CheckpointTensorHeader> Tensors { get; set; } = [];
}

internal sealed class CheckpointTensorHeader
{
    public string Name { get; set; } = "";
    public string DType { get; set; } = "";
    public long[] Shape { get; set; } = [];
    public long Bytes { get; set; }
}

/// <summary>The trainer's state besides tensors: position, schedule, early stopping, metrics.</summary>
internal sealed class TrainingStateData
{
    public long Step { get; set; }
    /// <summary>1-based epoch in progress.</summary>
    public int Epoch { get; set; }
    /// <summary>Batches of <see cref="Epoch"/> consumed.</summary>
    public long BatchInEpoch { get; set; }
    public bool Finished { get; set; }
    public long OptimizerSteps { get; set; }

    // What fixes the data order and the schedule: checked on resume.
    public long Seed { get; set; }
    public int BatchSize { get; set; }
    public int AccumulationSteps { get; set; }
    public long TrainRows { get; set; }
    public bool DropLast { get; set; }
    public int Epochs { get; set; }
    public long TotalSteps { get; set; }
    public long WarmupSteps { get; set; }
    public string Schedule { get; set; } = "";
    public double LearningRate { get; set; }
    public double MinLearningRateRatio { get; set; }
    public string Precision { get; set; } = "";

    // Monitoring and early stopping.
    public string? Monitor { get; set; }
    public string? MonitorMode { get; set; }
    public double? BestValue { get; set; }
    public long? BestStep { get; set; }
    public int EvaluationsWithoutImprovement { get; set; }

    // Metrics so far, and the running training means since the last record.
    public List<RecordData> Records { get; set; } = [];
    public List<MeanData> RunningMeans { get; set; } = [];
    public long RunningWeight { get; set; }
    public double TrainSeconds { get; set; }
    public long TrainSamples { get; set; }
}

internal sealed class MeanData
{
    public string Name { get; set; } = "";
    public double Sum { get; set; }
    public double Weight { get; set; }
}

internal sealed class RecordData
{
    public int Epoch { get; set; }
    public long Step { get; set; }
    public double TrainLoss { get; set; }
    public Dictionary<string, double> TrainMetrics { get; set; } = [];
    public double? ValidationLoss { get; set; }
    public Dictionary<string, double> ValidationMetrics { get; set; } = [];
    public double LearningRate { get; set; }
    public double Seconds { get; set; }
    public double SamplesPerSecond { get; set; }

    public static RecordData From(EpochRecord r) => new()
    {
        Epoch = r.Epoch,
        Step = r.Step,
        TrainLoss = r.TrainLoss,
        TrainMetrics = r.TrainMetrics.ToDictionary(kv => kv.Key, kv => kv.Value),
        ValidationLoss = r.ValidationLoss,
        ValidationMetrics = r.ValidationMetrics.ToDictionary(kv => kv.Key, kv => kv.Value),
        LearningRate = r.LearningRate,
        Seconds = r.Seconds,
        SamplesPerSecond = r.SamplesPerSecond,
    };

    public EpochRecord ToRecord() =>
        new(Epoch, Step, TrainLoss, TrainMetrics, ValidationLoss, ValidationMetrics, LearningRate, Seconds, SamplesPerSecond);
}

/// <summary>A checkpoint read into memory (CPU tensors) and verified.</summary>
internal sealed class CheckpointFile : IDisposable
{
    private CheckpointFile(string path, CheckpointHeader header, Dictionary<string, Tensor> tensors)
    {
        Path = path;
        Header = header;
        Tensors = tensors;
    }

    public string Path { get; }
    public CheckpointHeader Header { get; }
    public Dictionary<string, Tensor> Tensors { get; }

    public static CheckpointFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new FileNotFoundException($"'{full}' is a folder, not a checkpoint file: name the file ({Checkpoint.LastFileName} or {Checkpoint.BestFileName} inside it).", full);
        if (!File.Exists(full)) throw new FileNotFoundException($"Checkpoint '{full}' not found.", full);
        byte[] bytes = File.ReadAllBytes(full);
        InvalidDataException Bad(string why) => new($"'{full}' is not a readable ModelDsl checkpoint: {why}");

        if (bytes.Length < 8 + 4 + 8 + 32 || !bytes.AsSpan(0, 8).SequenceEqual("MDSLCKPT"u8))
            throw Bad(NotACheckpoint(bytes));
        int version = BitConverter.ToInt32(bytes, 8);
        if (version != Checkpoint.FormatVersion)
            throw Bad($"format version {version}; this build reads version {Checkpoint.FormatVersion}");
        var expectedHash = SHA256.HashData(bytes.AsSpan(0, bytes.Length - 32));
        if (!expectedHash.AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
            throw Bad("its SHA-256 does not match (the file is truncated or damaged); use the other checkpoint (best/last) or start over");
        long jsonLength = BitConverter.ToInt64(bytes, 12);
        long available = bytes.Length - 20L - 32L;
        if (jsonLength <= 0 || jsonLength > available || jsonLength > WeightsLimits.MaxCheckpointHeaderBytes)
            throw Bad($"its header length ({jsonLength} bytes) does not fit the file ({available} bytes after the preamble)");
        CheckpointHeader header;
        try
        {
            header = JsonSerializer.Deserialize<CheckpointHeader>(bytes.AsSpan(20, (int)jsonLength), Checkpoint.Json)
                ?? throw Bad("empty header");
        }
        catch (JsonException e)
        {
            throw Bad("the header is not valid JSON: " + Names.Escape(e.Message));
        }
        catch (InvalidOperationException e)
        {
            throw Bad("the header is not valid JSON: " + Names.Escape(e.Message));
        }
        Validate(header, Bad);

        // Every tensor's dtype, shape and byte count checked, without overflow, before anything is allocated.
        long offset = 20 + jsonLength;
        long end = bytes.Length - 32;
        var plan = new List<(CheckpointTensorHeader Entry, ScalarType DType, long Offset)>(header.Tensors.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in header.Tensors)
        {
            var name = Names.Escape(entry.Name);
            if (!names.Add(entry.Name)) throw Bad($"the tensor '{name}' appears twice");
            if (!Enum.TryParse<ScalarType>(entry.DType, out var dtype) || !Enum.IsDefined(dtype) || ElementSize(dtype) is not (> 0 and var size))
                throw Bad($"tensor '{name}' has the unknown dtype '{Names.Escape(entry.DType)}'");
            long count = 1;
            try
            {
                foreach (var d in entry.Shape)
                {
                    if (d < 0) throw Bad($"tensor '{name}' has a negative size in its shape [{string.Join(",", entry.Shape)}]");
                    count = checked(count * d);
                }
                if (checked(count * size) != entry.Bytes) throw Bad($"tensor '{name}' has {entry.Bytes} bytes, its shape [{string.Join(",", entry.Shape)}] needs {count * size}");
            }
            catch (OverflowException)
            {
                throw Bad($"tensor '{name}' has a shape whose size overflows 64 bits");
            }
            if (entry.Shape.Length > 64) throw Bad($"tensor '{name}' has {entry.Shape.Length} dimensions");
            if (entry.Bytes > end - offset) throw Bad($"tensor '{name}' runs past the end of the file");
            plan.Add((entry, dtype, offset));
            offset += entry.Bytes;
        }
        if (offset != end) throw Bad("unexpected bytes after the tensors");

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (entry, dtype, start) in plan)
            {
                var t = empty(entry.Shape, dtype).DetachFromDisposeScope();
                tensors[entry.Name] = t;
                if (entry.Bytes > 0) t.bytes = bytes.AsSpan((int)start, (int)entry.Bytes);
            }
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return new CheckpointFile(full, header, tensors);
    }

    // What a file that is not a checkpoint is, and what to do with it.
    private static string NotACheckpoint(byte[] bytes)
    {
        if (bytes.Length == 0) return "the file is empty (an interrupted save or copy?)";
        if (bytes.Length >= 8 && bytes.AsSpan(0, 8).SequenceEqual("MDSLCKPT"u8)) return "the file is too short (truncated)";
        if (bytes.Length >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && bytes[2] == 0x03 && bytes[3] == 0x04)
            return "it is a PyTorch file (zip), a weights file rather than a checkpoint. Load the weights with model.Load(path) (ModelDsl.Weights) " +
                "and start a new run; ResumeFrom takes the last.ckpt or best.ckpt a ModelDsl run wrote (or its output folder)";
        if (bytes.Length >= 9 && bytes[8] == (byte)'{')
            return "it is a safetensors file, a weights file rather than a checkpoint. Load the weights with model.Load(path) (ModelDsl.Weights) " +
                "and start a new run; ResumeFrom takes the last.ckpt or best.ckpt a ModelDsl run wrote (or its output folder)";
        return "it does not start with the MDSLCKPT magic (a TorchSharp Module.save file? load it with Module.load)";
    }

    private static int ElementSize(ScalarType type) => type switch
    {
        ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => 0,
    };

    // The header's values: present and in range, so nothing later meets a null or a negative count.
    private static void Validate(CheckpointHeader header, Func<string, InvalidDataException> bad)
    {
        if (header.Tensors is null) throw bad("the header has no tensor list");
        foreach (var t in header.Tensors)
        {
            if (t is null || t.Name is null || t.DType is null || t.Shape is null) throw bad("a tensor entry lacks its name, dtype or shape");
        }
        header.Kind ??= CheckpointHeader.ModelKind;
        if (header.Training is { } training)
        {
            if (training.Step < 0 || training.Epoch < 0 || training.BatchInEpoch < 0 || training.OptimizerSteps < 0 || training.TotalSteps < 0
                || training.RunningWeight < 0 || training.TrainSamples < 0 || training.EvaluationsWithoutImprovement < 0)
                throw bad("a step, epoch or count in its training state is negative");
            training.Records ??= [];
            training.RunningMeans ??= [];
            training.Schedule ??= "";
            training.Precision ??= "";
            foreach (var record in training.Records)
            {
                if (record is null) throw bad("a metrics record is empty");
                record.TrainMetrics ??= [];
                record.ValidationMetrics ??= [];
            }
            if (training.RunningMeans.Any(m => m is null || m.Name is null)) throw bad("a running mean has no name");
        }
    }

    /// <summary>
    /// Everything that would make a resume fail after it started changing the run: the model's tensors
    /// (names, shapes, dtypes), the optimizer's moments against <paramref name="optimizerState"/>, and the RNG
    /// state against <paramref name="rngState"/>. Empty when the checkpoint fits.
    /// </summary>
    public List<string> ResumeProblems(nn.Module module, IEnumerable<(string Name, Tensor Tensor)> optimizerState, Tensor rngState)
    {
        var problems = new List<string>();
        var optimizer = OptimizerEntries();
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in optimizerState)
        {
            expected.Add(name);
            if (!optimizer.TryGetValue(name, out var saved)) problems.Add($"optimizer state '{Names.Escape(name)}' is missing");
            else if (!saved.shape.SequenceEqual(tensor.shape) || saved.dtype != tensor.dtype)
                problems.Add($"optimizer state '{Names.Escape(name)}' is {saved.dtype} [{string.Join(",", saved.shape)}], the run holds {tensor.dtype} [{string.Join(",", tensor.shape)}]");
        }
        foreach (var name in optimizer.Keys.Where(k => !expected.Contains(k)).OrderBy(k => k, StringComparer.Ordinal))
            problems.Add($"optimizer state '{Names.Escape(name)}' is not a trainable parameter now (was something frozen or unfrozen since?)");
        if (Tensors.TryGetValue(Checkpoint.RngName, out var rng) && (rng.dtype != rngState.dtype || !rng.shape.SequenceEqual(rngState.shape)))
            problems.Add($"the RNG state '{Checkpoint.RngName}' is {rng.dtype} [{string.Join(",", rng.shape)}], this machine's generator needs {rngState.dtype} [{string.Join(",", rngState.shape)}]");
        foreach (var (name, target) in module.state_dict())
        {
            if (ModelEntry(name) is { } source && source.shape.SequenceEqual(target.shape) && IsFloating(source.dtype) != IsFloating(target.dtype))
                problems.Add($"model tensor '{Names.Escape(name)}' is {source.dtype}, the model holds {target.dtype}");
        }
        return problems;
    }

    private Tensor? ModelEntry(string name) => Tensors.TryGetValue(Checkpoint.ModelPrefix + name, out var t) ? t : null;

    private static bool IsFloating(ScalarType type) => type is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64;

    /// <summary>The model's entries (prefix removed).</summary>
    public Dictionary<string, Tensor> ModelEntries() =>
        Tensors.Where(kv => kv.Key.StartsWith(Checkpoint.ModelPrefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[Checkpoint.ModelPrefix.Length..], kv => kv.Value, StringComparer.Ordinal);

    /// <summary>Throws <see cref="CheckpointMismatchException"/> unless the names and shapes match the model's state_dict.</summary>
    public void RequireModelFits(nn.Module module)
    {
        var entries = ModelEntries();
        var state = module.state_dict();
        var missing = state.Where(kv => !entries.ContainsKey(kv.Key))
            .Select(kv => new TensorEntry(kv.Key, kv.Value.dtype.ToString(), kv.Value.shape)).ToList();
        var unexpected = entries.Where(kv => !state.ContainsKey(kv.Key))
            .Select(kv => new TensorEntry(kv.Key, kv.Value.dtype.ToString(), kv.Value.shape)).ToList();
        var shapes = state.Where(kv => entries.TryGetValue(kv.Key, out var e) && !e.shape.SequenceEqual(kv.Value.shape))
            .Select(kv => new ShapeMismatch(kv.Key, kv.Value.shape, entries[kv.Key].shape)).ToList();
        if (missing.Count + unexpected.Count + shapes.Count > 0)
            throw new CheckpointMismatchException(Path, Header.ModelType, module.GetType().Name, missing, unexpected, shapes);
        RequireDTypesFit(module);
    }

    // A floating tensor is converted on copy (F32 into a BF16 model); an integer or bool one into a float, or back, is refused.
    private void RequireDTypesFit(nn.Module module)
    {
        var wrong = new List<string>();
        foreach (var (name, target) in module.state_dict())
        {
            if (ModelEntry(name) is { } source && IsFloating(source.dtype) != IsFloating(target.dtype))
                wrong.Add($"{Names.Escape(name)}: checkpoint {source.dtype}, model {target.dtype}");
        }
        if (wrong.Count > 0)
            throw new InvalidDataException($"'{Path}' does not fit {module.GetType().Name}: element types differ ({Names.Join(wrong, w => w, "; ")}). Nothing was loaded.");
    }

    /// <summary>Copies the model entries into <paramref name="module"/> (after checking them when strict).</summary>
    public void LoadModel(nn.Module module, bool strict)
    {
        if (strict) RequireModelFits(module);
        else RequireDTypesFit(module);
        var entries = ModelEntries();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, target) in module.state_dict())
        {
            if (!entries.TryGetValue(name, out var source) || !source.shape.SequenceEqual(target.shape)) continue;
            target.copy_(source);
        }
    }

    /// <summary>The optimizer entries (prefix removed).</summary>
    public Dictionary<string, Tensor> OptimizerEntries() =>
        Tensors.Where(kv => kv.Key.StartsWith(Checkpoint.OptimizerPrefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[Checkpoint.OptimizerPrefix.Length..], kv => kv.Value, StringComparer.Ordinal);

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
        Tensors.Clear();
    }
}
