using System;
using System.IO;
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

    /// <summary>Maximum global gradient norm; null turns clipping off.</summary>
    public double? GradientClipNorm { get; init; } = 1.0;

    /// <summary>Seeds TorchSharp's generators and the shuffle.</summary>
    public long Seed { get; init; }

    /// <summary>Where to train; <see cref="Devices.Default"/> (CUDA when available) when null.</summary>
    public Device? Device { get; init; }

    /// <summary>Copy the datasets to the training device once, before the first epoch (default), instead of copying every batch.</summary>
    public bool PreloadToDevice { get; init; } = true;

    /// <summary>Whether the last, short training batch of an epoch is skipped.</summary>
    public bool DropLast { get; init; }

    /// <summary>
    /// Folder for <c>metrics.jsonl</c> and <c>last.ckpt</c> (created if missing); nothing is
    /// written when null.
    /// </summary>
    public string? OutputDirectory { get; init; }

    /// <summary>
    /// Whether to draw a live progress bar (loss, learning rate, samples/s). It is drawn only on an
    /// interactive console; when null, also only if output is not redirected and the <c>CI</c>
    /// environment variable is not set.
    /// </summary>
    public bool? ShowProgress { get; init; }

    /// <summary>Caps the optimizer steps of each epoch (for smoke runs); all batches when null.</summary>
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
    }
}
