using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>Settings of <see cref="Trainer.Fit{TBatch}(TrainableModule{TBatch}, ModelDsl.Data.TensorDataset, ModelDsl.Data.TensorDataset, TrainOptions)"/>. The defaults suit a small ViT on Fashion-MNIST.</summary>
public sealed record TrainOptions
{
    /// <summary>Passes over the training set.</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Training batch size.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Validation batch size; twice <see cref="BatchSize"/> when null.</summary>
    public int? EvalBatchSize { get; init; }

    /// <summary>Peak learning rate (AdamW), reached at the end of warmup.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Decoupled weight decay of the decay group (matrices; not biases, norms or tokens).</summary>
    public double WeightDecay { get; init; } = 0.05;

    /// <summary>AdamW betas.</summary>
    public (double Beta1, double Beta2) Betas { get; init; } = (0.9, 0.999);

    /// <summary>AdamW epsilon.</summary>
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>Warmup length in optimizer steps; overrides <see cref="WarmupFraction"/> when set.</summary>
    public long? WarmupSteps { get; init; }

    /// <summary>Warmup length as a fraction of all optimizer steps (used when <see cref="WarmupSteps"/> is null).</summary>
    public double WarmupFraction { get; init; } = 0.05;

    /// <summary>The final learning rate of the cosine decay, as a fraction of <see cref="LearningRate"/>.</summary>
    public double MinLearningRateRatio { get; init; } = 0.01;

    /// <summary>The decay after warmup: cosine (default), linear, or constant.</summary>
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Cosine;

    /// <summary>
    /// Learning-rate multipliers by registered parameter name or module prefix, e.g.
    /// <c>{ ["prompt_tokens"] = 10 }</c> for a higher rate on prompt tokens; each multiplier makes its
    /// own optimizer group and follows the schedule. Keys must match a parameter.
    /// </summary>
    public IReadOnlyDictionary<string, double>? LearningRateScales { get; init; }

    /// <summary>Maximum global gradient norm; null turns clipping off.</summary>
    public double? GradientClipNorm { get; init; } = 1.0;

    /// <summary>
    /// Batches whose gradients are summed before each optimizer step (the effective batch is
    /// <c>BatchSize * GradientAccumulationSteps</c>); each batch's loss is weighted by its share of the
    /// rows, so the step equals one on the concatenated batch. The last group of an epoch may be shorter.
    /// </summary>
    public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary>
    /// Evaluate (validation, metrics record, checkpoints, early stopping) every this many optimizer
    /// steps, and at the end of training; when null, at the end of every epoch.
    /// </summary>
    public int? EvaluateEveryNSteps { get; init; }

    /// <summary>
    /// Compute precision: <see cref="Precision.Auto"/> (bf16 on a CUDA device that runs it, fp32 on
    /// the CPU), <see cref="Precision.Float32"/> or <see cref="Precision.BFloat16"/> (mixed precision:
    /// bf16 matrix products and attention, fp32 weights, norms, softmax and loss; see <see cref="ModelDsl.Blocks.Autocast"/>).
    /// </summary>
    public Precision Precision { get; init; } = Precision.Auto;

    /// <summary>
    /// The metric that decides the best checkpoint and early stopping: <c>val_loss</c>,
    /// <c>val_accuracy</c>, <c>train_loss</c>, ... (the keys of <c>metrics.jsonl</c>). When null,
    /// <c>val_loss</c> with a validation set, else <c>train_loss</c>.
    /// </summary>
    public string? Monitor { get; init; }

    /// <summary>Whether lower or higher <see cref="Monitor"/> values are better; Auto: lower for names containing "loss" or "error".</summary>
    public MonitorMode MonitorMode { get; init; } = MonitorMode.Auto;

    /// <summary>Stop after this many evaluations in a row without an improvement of <see cref="Monitor"/> by more than <see cref="EarlyStoppingMinDelta"/>; null never stops early.</summary>
    public int? EarlyStoppingPatience { get; init; }

    /// <summary>The smallest change of <see cref="Monitor"/> that counts as an improvement for early stopping.</summary>
    public double EarlyStoppingMinDelta { get; init; }

    /// <summary>
    /// A training checkpoint (<c>last.ckpt</c> or <c>best.ckpt</c> of an earlier run, or a folder holding
    /// <c>last.ckpt</c>) to continue from: model, optimizer, schedule, position in the data, RNG, metrics,
    /// early-stopping state. With the same options, the continued run computes exactly what the
    /// uninterrupted run would have (bit for bit on the CPU).
    /// </summary>
    public string? ResumeFrom { get; init; }

    /// <summary>
    /// A quick end-to-end check: one epoch of two optimizer steps, a validation pass of two batches,
    /// the metrics log, checkpoints and curves, as a full run writes them.
    /// </summary>
    public bool Smoke { get; init; }

    /// <summary>Caps the batches of each validation pass (all when null).</summary>
    public int? MaxEvalBatches { get; init; }

    /// <summary>
    /// Stops training at the next optimizer step when cancelled (e.g. from Ctrl+C): <c>last.ckpt</c>
    /// is written with the exact position, and the report says the run was interrupted; resume it with
    /// <see cref="ResumeFrom"/>.
    /// </summary>
    public CancellationToken CancellationToken { get; init; }

    /// <summary>Whether to write <c>curves.png</c> (loss, metrics and learning rate against steps) at the end, when there is an output folder.</summary>
    public bool WriteCurves { get; init; } = true;

    /// <summary>Seeds TorchSharp's generators and the shuffle.</summary>
    public long Seed { get; init; }

    /// <summary>Where to train; <see cref="Devices.Default"/> (CUDA when available) when null.</summary>
    public Device? Device { get; init; }

    /// <summary>Copy the datasets to the training device once, before the first epoch (default), instead of copying every batch.</summary>
    public bool PreloadToDevice { get; init; } = true;

    /// <summary>Whether the last, short training batch of an epoch is skipped.</summary>
    public bool DropLast { get; init; }

    /// <summary>
    /// Folder for <c>metrics.jsonl</c>, <c>metrics.csv</c>, <c>last.ckpt</c>, <c>best.ckpt</c> and
    /// <c>curves.png</c> (created if missing); nothing is written when null.
    /// </summary>
    public string? OutputDirectory { get; init; }

    /// <summary>
    /// Whether to draw a live progress bar (loss, learning rate, samples/s). It is drawn only on an
    /// interactive console; when null, also only if output is not redirected and the <c>CI</c>
    /// environment variable is not set.
    /// </summary>
    public bool? ShowProgress { get; init; }

    /// <summary>Caps the optimizer steps of each epoch; all batches when null.</summary>
    public int? MaxStepsPerEpoch { get; init; }

    /// <summary>
    /// How often (in steps) the loop reads the running loss from the device, to update the progress
    /// bar and check for a NaN or infinite loss; it also reads at the end of each epoch.
    /// </summary>
    public int SyncEveryNSteps { get; init; } = 25;

    /// <summary>Receives the parameter report and one JSON line per epoch; <see cref="Console.Out"/> when null, <see cref="TextWriter.Null"/> to silence.</summary>
    public TextWriter? Log { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        static void Require(bool ok, string name, object? value, string rule)
        {
            if (!ok) throw new ArgumentException($"TrainOptions.{name} = {value}: {rule}.", name);
        }

        Require(Epochs >= 1, nameof(Epochs), Epochs, "must be at least 1");
        Require(BatchSize >= 1, nameof(BatchSize), BatchSize, "must be at least 1");
        Require(EvalBatchSize is null or >= 1, nameof(EvalBatchSize), EvalBatchSize, "must be at least 1");
        Require(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), LearningRate, "must be positive");
        Require(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), WeightDecay, "must be >= 0");
        Require(Betas.Beta1 is >= 0 and < 1 && Betas.Beta2 is >= 0 and < 1, nameof(Betas), Betas, "each beta must be in [0, 1)");
        Require(Epsilon >= 0, nameof(Epsilon), Epsilon, "must be >= 0");
        Require(WarmupSteps is null or >= 0, nameof(WarmupSteps), WarmupSteps, "must be >= 0");
        Require(WarmupFraction is >= 0 and <= 1, nameof(WarmupFraction), WarmupFraction, "must be in [0, 1]");
        Require(MinLearningRateRatio is >= 0 and <= 1, nameof(MinLearningRateRatio), MinLearningRateRatio, "must be in [0, 1]");
        Require(GradientClipNorm is null || GradientClipNorm > 0, nameof(GradientClipNorm), GradientClipNorm, "must be positive (null turns clipping off)");
        Require(MaxStepsPerEpoch is null or >= 1, nameof(MaxStepsPerEpoch), MaxStepsPerEpoch, "must be at least 1");
        Require(SyncEveryNSteps >= 1, nameof(SyncEveryNSteps), SyncEveryNSteps, "must be at least 1");
        Require(GradientAccumulationSteps >= 1, nameof(GradientAccumulationSteps), GradientAccumulationSteps, "must be at least 1");
        Require(EvaluateEveryNSteps is null or >= 1, nameof(EvaluateEveryNSteps), EvaluateEveryNSteps, "must be at least 1");
        Require(EarlyStoppingPatience is null or >= 1, nameof(EarlyStoppingPatience), EarlyStoppingPatience, "must be at least 1");
        Require(EarlyStoppingMinDelta >= 0 && double.IsFinite(EarlyStoppingMinDelta), nameof(EarlyStoppingMinDelta), EarlyStoppingMinDelta, "must be >= 0");
        Require(MaxEvalBatches is null or >= 1, nameof(MaxEvalBatches), MaxEvalBatches, "must be at least 1");
        Require(Monitor is null || Monitor.StartsWith("val_", StringComparison.Ordinal) || Monitor.StartsWith("train_", StringComparison.Ordinal),
            nameof(Monitor), Monitor, "must name a logged metric such as val_loss, val_accuracy or train_loss");
        Require(Enum.IsDefined(Precision), nameof(Precision), Precision, "must be Auto, Float32 or BFloat16");
        Require(Enum.IsDefined(Schedule), nameof(Schedule), Schedule, "must be Cosine, Linear or Constant");
        if (LearningRateScales is not null)
        {
            foreach (var (key, value) in LearningRateScales)
                Require(value > 0 && double.IsFinite(value), nameof(LearningRateScales), $"{key} = {value}", "each multiplier must be positive and finite");
        }
    }

    /// <summary>These options as a smoke run uses them (see <see cref="Smoke"/>).</summary>
    public TrainOptions ForSmoke() => this with
    {
        Smoke = true,
        Epochs = 1,
        MaxStepsPerEpoch = 2,
        MaxEvalBatches = 2,
        EvaluateEveryNSteps = null,
        EarlyStoppingPatience = null,
        WarmupSteps = WarmupSteps is null ? null : Math.Min(WarmupSteps.Value, 1),
    };
}

/// <summary>The compute precision of training and evaluation.</summary>
public enum Precision
{
    /// <summary>bf16 mixed precision on a CUDA device that supports it, fp32 on the CPU.</summary>
    Auto,

    /// <summary>Everything in fp32.</summary>
    Float32,

    /// <summary>Mixed precision: bf16 matrix products and attention; fp32 weights, optimizer, norms, softmax and loss.</summary>
    BFloat16,
}

/// <summary>Whether lower or higher values of the monitored metric are better.</summary>
public enum MonitorMode
{
    /// <summary>Lower for names that contain "loss" or "error", higher otherwise.</summary>
    Auto,

    /// <summary>Lower is better.</summary>
    Min,

    /// <summary>Higher is better.</summary>
    Max,
}

internal static class TrainOptionsExtensions
{
    public static bool LowerIsBetter(this MonitorMode mode, string monitor) => mode switch
    {
        MonitorMode.Min => true,
        MonitorMode.Max => false,
        _ => monitor.Contains("loss", StringComparison.OrdinalIgnoreCase) || monitor.Contains("error", StringComparison.OrdinalIgnoreCase),
    };
}
