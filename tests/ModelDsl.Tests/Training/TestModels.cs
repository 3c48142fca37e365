using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using ModelDsl.Data;
using ModelDsl.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ModelDsl.Tests.Training;

internal sealed record ImageBatch(Tensor Image, Tensor Label);

/// <summary>flatten -> linear -> relu -> (dropout) -> linear, trained with cross-entropy.</summary>
internal class TinyMlp : TrainableModule<ImageBatch>
{
    private readonly Sequential body;

    public TinyMlp(int hidden = 32, double dropout = 0.0) : base("tiny_mlp")
    {
        body = dropout > 0
            ? Sequential(("flatten", Flatten()), ("fc1", Linear(28 * 28, hidden)), ("relu", ReLU()), ("drop", Dropout(dropout)), ("fc2", Linear(hidden, 10)))
            : Sequential(("flatten", Flatten()), ("fc1", Linear(28 * 28, hidden)), ("relu", ReLU()), ("fc2", Linear(hidden, 10)));
        RegisterComponents();
    }

    public Tensor Forward(Tensor image) => body.forward(image);

    public override ImageBatch CreateBatch(NamedBatch batch) => new(batch["image"], batch["label"]);

    public override StepOutput TrainingStep(ImageBatch batch) => Step(batch);

    public override StepOutput ValidationStep(ImageBatch batch) => Step(batch);

    protected virtual Tensor Loss(Tensor logits, Tensor label) => functional.cross_entropy(logits, label);

    private StepOutput Step(ImageBatch batch)
    {
        var logits = Forward(batch.Image);
        var accuracy = logits.argmax(1).eq(batch.Label).to_type(ScalarType.Float32).mean();
        return new StepOutput(Loss(logits, batch.Label), new Dictionary<string, Tensor> { ["accuracy"] = accuracy });
    }
}

/// <summary>A TinyMlp whose training loss is NaN (or <paramref name="poison"/>) on one chosen training step (1-based).</summary>
internal sealed class NaNAtStepMlp(long nanStep, double poison = double.NaN) : TinyMlp
{
    private long calls;

    public override StepOutput TrainingStep(ImageBatch batch)
    {
        var output = base.TrainingStep(batch);
        return ++calls == nanStep ? output with { Loss = output.Loss * poison } : output;
    }
}

/// <summary>
/// A TinyMlp (with dropout, so the RNG matters) that cancels a token on its n-th training batch:
/// Ctrl+C in a test. It keeps every training batch's loss, read exactly as computed.
/// </summary>
internal sealed class InterruptingMlp(long cancelOnCall, CancellationTokenSource source) : TinyMlp(hidden: 16, dropout: 0.2)
{
    private long calls;

    public List<float> Losses { get; } = [];

    public override StepOutput TrainingStep(ImageBatch batch)
    {
        if (++calls == cancelOnCall) source.Cancel();
        var output = base.TrainingStep(batch);
        Losses.Add(output.Loss.item<float>());
        return output;
    }
}

/// <summary>A TinyMlp that records the process's resident memory (after a full GC) on chosen training calls.</summary>
internal sealed class MemoryProbeMlp(params long[] probeCalls) : TinyMlp(hidden: 8)
{
    private long calls;

    /// <summary>The process's resident set at each probed step.</summary>
    public Dictionary<long, long> ResidentBytes { get; } = new();

    /// <summary>
    /// The resident set less the memory the GC has committed: tensors, libtorch and the runtime's native
    /// state. The GC keeps or returns free committed memory as it sees fit (several MiB either way from one
    /// probe to the next), so leaks are read apart: native here, managed in <see cref="LiveManagedBytes"/>.
    /// </summary>
    public Dictionary<long, long> NativeResidentBytes { get; } = new();

    /// <summary>Bytes of live managed objects after the full collection of the probe.</summary>
    public Dictionary<long, long> LiveManagedBytes { get; } = new();

    public override StepOutput TrainingStep(ImageBatch batch)
    {
        if (Array.IndexOf(probeCalls, ++calls) >= 0)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            // Hand glibc's free pages back first: after other tests the native heap is fragmented, and
            // pages freed but kept by the allocator would read as growth of this run.
            if (OperatingSystem.IsLinux())
                _ = malloc_trim(0);
            using var process = Process.GetCurrentProcess();
            process.Refresh();
            ResidentBytes[calls] = process.WorkingSet64;
            NativeResidentBytes[calls] = process.WorkingSet64 - GC.GetGCMemoryInfo().TotalCommittedBytes;
            LiveManagedBytes[calls] = GC.GetTotalMemory(forceFullCollection: false);
        }
        return base.TrainingStep(batch);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int malloc_trim(nuint pad);
}

/// <summary>
/// Runs a test class's tests with one intra-op thread and restores the setting after each test. The
/// models here are tiny: one thread is faster for them, and it keeps the timings sane when the
/// machine is shared (two OpenMP threads on two busy cores wait on each other at every parallel
/// region). The tests run one at a time (xunit.runner.json), so the global setting is safe to change.
/// </summary>
public abstract class SingleThreadedTorch : IDisposable
{
    private readonly int _threads = TorchSharp.torch.get_num_threads();

    protected SingleThreadedTorch() => TorchSharp.torch.set_num_threads(1);

    public void Dispose()
    {
        TorchSharp.torch.set_num_threads(_threads);
        GC.SuppressFinalize(this);
    }
}
