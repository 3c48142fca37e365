using System;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>The decay after warmup of a <see cref="LearningRateSchedule"/>.</summary>
public enum ScheduleKind
{
    /// <summary>Half a cosine from the base rate down to the minimum (the default).</summary>
    Cosine,

    /// <summary>A straight line from the base rate down to the minimum.</summary>
    Linear,

    /// <summary>The base rate after warmup, unchanged.</summary>
    Constant,
}

/// <summary>
/// A step-based learning-rate schedule: linear warmup to the base rate, then a decay to
/// <c>base * minLearningRateRatio</c>. Step <c>s</c> is the 0-based index of the optimizer step about
/// to be taken: during warmup the factor is <c>(s+1)/warmup</c>, so step <c>warmup-1</c> runs at the
/// base rate; the decay then reaches the minimum exactly at the last step, <c>totalSteps-1</c>, and
/// stays there. The schedule has no state besides the step, so a checkpoint's step restores it.
/// </summary>
public abstract class LearningRateSchedule
{
    /// <summary>Checks and stores the settings shared by every schedule.</summary>
    protected LearningRateSchedule(double baseLearningRate, long totalSteps, long warmupSteps, double minLearningRateRatio)
    {
        if (!(baseLearningRate > 0) || double.IsInfinity(baseLearningRate))
            throw new ArgumentOutOfRangeException(nameof(baseLearningRate), baseLearningRate, "The learning rate must be positive and finite.");
        ArgumentOutOfRangeException.ThrowIfLessThan(totalSteps, 1);
        if (warmupSteps < 0 || warmupSteps > totalSteps)
            throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, $"Warmup must be between 0 and the {totalSteps} total steps.");
        if (!(minLearningRateRatio >= 0 && minLearningRateRatio <= 1))
            throw new ArgumentOutOfRangeException(nameof(minLearningRateRatio), minLearningRateRatio, "The minimum ratio must be between 0 and 1.");
        BaseLearningRate = baseLearningRate;
        TotalSteps = totalSteps;
        WarmupSteps = warmupSteps;
        MinLearningRateRatio = minLearningRateRatio;
    }

    /// <summary>Creates the schedule of <paramref name="kind"/>.</summary>
    public static LearningRateSchedule Create(ScheduleKind kind, double baseLearningRate, long totalSteps, long warmupSteps = 0, double minLearningRateRatio = 0.0) =>
        kind switch
        {
            ScheduleKind.Cosine => new WarmupCosineSchedule(baseLearningRate, totalSteps, warmupSteps, minLearningRateRatio),
            ScheduleKind.Linear => new WarmupLinearSchedule(baseLearningRate, totalSteps, warmupSteps, minLearningRateRatio),
            ScheduleKind.Constant => new WarmupConstantSchedule(baseLearningRate, totalSteps, warmupSteps),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown schedule."),
        };

    /// <summary>The decay's kind.</summary>
    public abstract ScheduleKind Kind { get; }

    /// <summary>The peak rate.</summary>
    public double BaseLearningRate { get; }

    /// <summary>The number of optimizer steps of the whole run.</summary>
    public long TotalSteps { get; }

    /// <summary>Steps of linear warmup.</summary>
    public long WarmupSteps { get; }

    /// <summary>The final rate as a fraction of the base rate.</summary>
    public double MinLearningRateRatio { get; }

    /// <summary>The multiplier of the base rate at <paramref name="step"/>.</summary>
    public double FactorAt(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        if (step < WarmupSteps) return (step + 1) / (double)WarmupSteps;
        long decaySpan = Math.Max(1, TotalSteps - 1 - WarmupSteps);
        double progress = Math.Clamp((step - WarmupSteps) / (double)decaySpan, 0.0, 1.0);
        return DecayFactor(progress);
    }

    /// <summary>The multiplier after warmup at <paramref name="progress"/> (0 at the first decay step, 1 at the last).</summary>
    protected abstract double DecayFactor(double progress);

    /// <summary>The learning rate at <paramref name="step"/>.</summary>
    public double LearningRateAt(long step) => BaseLearningRate * FactorAt(step);

    /// <summary>
    /// Sets the rate of every parameter group of a TorchSharp <paramref name="optimizer"/> for
    /// <paramref name="step"/>: the group's initial rate times <see cref="FactorAt"/>, so groups with
    /// their own base rates keep their ratios. Returns <see cref="LearningRateAt"/>.
    /// </summary>
    public double Apply(optim.Optimizer optimizer, long step)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        double factor = FactorAt(step);
        foreach (var group in optimizer.ParamGroups)
            group.LearningRate = group.InitialLearningRate * factor;
        return BaseLearningRate * factor;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        FormattableString.Invariant($"{Kind} (lr {BaseLearningRate:G4}, {WarmupSteps} warmup of {TotalSteps} steps, min ratio {MinLearningRateRatio:G4})");
}

/// <summary>Linear warmup, then a cosine decay to <c>base * minLearningRateRatio</c> (see <see cref="LearningRateSchedule"/>).</summary>
public sealed class WarmupCosineSchedule : LearningRateSchedule
{
    /// <summary>Creates a schedule.</summary>
    /// <param name="baseLearningRate">The peak rate, reached at the end of warmup.</param>
    /// <param name="totalSteps">The number of optimizer steps of the whole run.</param>
    /// <param name="warmupSteps">Steps of linear warmup (0: none).</param>
    /// <param name="minLearningRateRatio">The final rate as a fraction of the base rate.</param>
    public WarmupCosineSchedule(double baseLearningRate, long totalSteps, long warmupSteps = 0, double minLearningRateRatio = 0.0)
        : base(baseLearningRate, totalSteps, warmupSteps, minLearningRateRatio)
    {
    }

    /// <inheritdoc/>
    public override ScheduleKind Kind => ScheduleKind.Cosine;

    /// <inheritdoc/>
    protected override double DecayFactor(double progress) =>
        MinLearningRateRatio + (1 - MinLearningRateRatio) * 0.5 * (1 + Math.Cos(Math.PI * progress));
}

/// <summary>Linear warmup, then a linear decay to <c>base * minLearningRateRatio</c> (see <see cref="LearningRateSchedule"/>).</summary>
public sealed class WarmupLinearSchedule : LearningRateSchedule
{
    /// <summary>Creates a schedule.</summary>
    public WarmupLinearSchedule(double baseLearningRate, long totalSteps, long warmupSteps = 0, double minLearningRateRatio = 0.0)
        : base(baseLearningRate, totalSteps, warmupSteps, minLearningRateRatio)
    {
    }

    /// <inheritdoc/>
    public override ScheduleKind Kind => ScheduleKind.Linear;

    /// <inheritdoc/>
    protected override double DecayFactor(double progress) => 1 - (1 - MinLearningRateRatio) * progress;
}

/// <summary>Linear warmup, then the base rate (see <see cref="LearningRateSchedule"/>).</summary>
public sealed class WarmupConstantSchedule : LearningRateSchedule
{
    /// <summary>Creates a schedule.</summary>
    public WarmupConstantSchedule(double baseLearningRate, long totalSteps, long warmupSteps = 0)
        : base(baseLearningRate, totalSteps, warmupSteps, 1.0)
    {
    }

    /// <inheritdoc/>
    public override ScheduleKind Kind => ScheduleKind.Constant;

    /// <inheritdoc/>
    protected override double DecayFactor(double progress) => 1.0;
}
