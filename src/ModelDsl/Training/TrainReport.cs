using System;
using System.Collections.Generic;

namespace ModelDsl.Training;

/// <summary>
/// The metrics of one evaluation (the end of an epoch, or every <see cref="TrainOptions.EvaluateEveryNSteps"/>
/// steps), as written to <c>metrics.jsonl</c> and <c>metrics.csv</c>.
/// </summary>
/// <param name="Epoch">1-based epoch number.</param>
/// <param name="Step">Optimizer steps completed so far.</param>
/// <param name="TrainLoss">Sample-weighted mean training loss since the previous record.</param>
/// <param name="TrainMetrics">Sample-weighted means of the training step's metrics since the previous record.</param>
/// <param name="ValidationLoss">Mean validation loss, or null without a validation set.</param>
/// <param name="ValidationMetrics">Sample-weighted means of the validation step's metrics (empty without one).</param>
/// <param name="LearningRate">The base learning rate of the last step before the record.</param>
/// <param name="Seconds">Wall time since the previous record, validation included.</param>
/// <param name="SamplesPerSecond">Training throughput since the previous record (validation excluded).</param>
public sealed record EpochRecord(
    int Epoch,
    long Step,
    double TrainLoss,
    IReadOnlyDictionary<string, double> TrainMetrics,
    double? ValidationLoss,
    IReadOnlyDictionary<string, double> ValidationMetrics,
    double LearningRate,
    double Seconds,
    double SamplesPerSecond)
{
    /// <summary>
    /// Named warnings of this evaluation (a validation loss or metric that is NaN or infinite), also written to the
    /// log and, as <c>warnings</c>, to the record's line of <c>metrics.jsonl</c>. Empty when all was well.
    /// </summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>What <see cref="Trainer.Fit{TBatch}(TrainableModule{TBatch}, ModelDsl.Data.TensorDataset, ModelDsl.Data.TensorDataset, TrainOptions)"/> returns.</summary>
/// <param name="Epochs">One record per completed epoch.</param>
/// <param name="FinalValidation">The last epoch's validation <c>loss</c> and metrics (empty without a validation set).</param>
/// <param name="CheckpointPath">The full path of <c>last.ckpt</c>, or null without an output folder.</param>
/// <param name="MetricsPath">The full path of <c>metrics.jsonl</c>, or null without an output folder.</param>
/// <param name="Steps">Optimizer steps taken.</param>
/// <param name="Elapsed">Wall time of the whole run.</param>
/// <param name="SamplesPerSecond">Training throughput over the whole run (validation excluded).</param>
/// <param name="Parameters">The trainable/frozen parameter report.</param>
public sealed record TrainReport(
    IReadOnlyList<EpochRecord> Epochs,
    IReadOnlyDictionary<string, double> FinalValidation,
    string? CheckpointPath,
    string? MetricsPath,
    long Steps,
    TimeSpan Elapsed,
    double SamplesPerSecond,
    ParameterReport Parameters)
{
    /// <summary>Why the run ended.</summary>
    public TrainStop Stop { get; init; } = TrainStop.Completed;

    /// <summary>The metric that chose the best checkpoint (e.g. <c>val_loss</c>).</summary>
    public string? Monitor { get; init; }

    /// <summary>Its best value, or null before the first evaluation.</summary>
    public double? BestValue { get; init; }

    /// <summary>The step of the best value.</summary>
    public long? BestStep { get; init; }

    /// <summary>The full path of <c>best.ckpt</c>, or null without an output folder.</summary>
    public string? BestCheckpointPath { get; init; }

    /// <summary>The full path of <c>metrics.csv</c>, or null without an output folder.</summary>
    public string? MetricsCsvPath { get; init; }

    /// <summary>The full path of <c>curves.png</c>, or null when none was written.</summary>
    public string? CurvesPath { get; init; }

    /// <summary>The step the run resumed from, or null for a fresh run.</summary>
    public long? ResumedFromStep { get; init; }

    /// <summary>Every warning of the run, in order (each evaluation's <see cref="EpochRecord.Warnings"/>).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The compute type used: <c>Float32</c>, or <c>BFloat16</c> for mixed precision.</summary>
    public TorchSharp.torch.ScalarType ComputeType { get; init; } = TorchSharp.torch.ScalarType.Float32;
}

/// <summary>Why a training run ended.</summary>
public enum TrainStop
{
    /// <summary>Every epoch ran.</summary>
    Completed,

    /// <summary>The monitored metric stopped improving (<see cref="TrainOptions.EarlyStoppingPatience"/>).</summary>
    EarlyStopped,

    /// <summary><see cref="TrainOptions.CancellationToken"/> was cancelled; <c>last.ckpt</c> holds the exact position.</summary>
    Interrupted,
}

/// <summary>
/// Thrown when the training loss becomes NaN or infinite. Training stops; checkpoints already
/// written are left as they were.
/// </summary>
public sealed class NonFiniteLossException : Exception
{
    public NonFiniteLossException(long step, int epoch, long batchInEpoch, double loss, string? checkpointPath)
        : base(BuildMessage(step, epoch, batchInEpoch, loss, checkpointPath))
    {
        Step = step;
        Epoch = epoch;
        BatchInEpoch = batchInEpoch;
        Loss = loss;
        CheckpointPath = checkpointPath;
    }

    /// <summary>The 1-based optimizer step whose loss was not finite (counted as in <c>metrics.jsonl</c>).</summary>
    public long Step { get; }

    /// <summary>The 1-based epoch of that step.</summary>
    public int Epoch { get; }

    /// <summary>The 1-based optimizer step within the epoch.</summary>
    public long BatchInEpoch { get; }

    /// <summary>The loss value (NaN or ±infinity).</summary>
    public double Loss { get; }

    /// <summary>The last checkpoint written before the failure, if any.</summary>
    public string? CheckpointPath { get; }

    private static string BuildMessage(long step, int epoch, long batch, double loss, string? checkpoint) =>
        $"Training stopped: the loss was {loss} at step {step} (epoch {epoch}, batch {batch}). " +
        (checkpoint is null
            ? "No checkpoint had been written. "
            : $"The last good checkpoint, '{checkpoint}', was written before that step and is intact; resume from it with TrainOptions.ResumeFrom. ") +
        "Try a lower learning rate or more warmup, keep gradient clipping on, and check the inputs for NaN or infinite values.";
}
