using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Mean cross-entropy between logits <c>[B,C]</c> and integer class indices <c>[B]</c>, with label smoothing.
/// Holds no state, so it is not a module and is not registered.
/// </summary>
public sealed class CrossEntropyLoss
{
    public CrossEntropyLoss(double labelSmoothing = 0.0)
    {
        if (double.IsNaN(labelSmoothing) || labelSmoothing < 0.0 || labelSmoothing > 1.0)
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "Label smoothing must be in [0, 1].");
        LabelSmoothing = labelSmoothing;
    }

    public double LabelSmoothing { get; }

    public Tensor Compute(Tensor logits, Tensor target)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(target);
        if (logits.dtype is ScalarType.BFloat16 or ScalarType.Float16)
        {
            // Mixed precision: the log-softmax and the mean in fp32.
            using var scope = NewDisposeScope();
            return nn.functional.cross_entropy(logits.to(ScalarType.Float32), target, label_smoothing: LabelSmoothing)
                .MoveToOuterDisposeScope();
        }
        return nn.functional.cross_entropy(logits, target, label_smoothing: LabelSmoothing);
    }

    /// <summary>
    /// The mean over the samples whose <paramref name="present"/> <c>[B]</c> is set (bool or 0/1); 0 when none
    /// is. An absent sample's class index may be anything, e.g. -1.
    /// </summary>
    public Tensor Compute(Tensor logits, Tensor target, Tensor present)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(target);
        using var scope = NewDisposeScope();
        var mask = TaskMetrics.PresentMask(present, logits.shape[0], nameof(present));
        var safe = where(mask, target, zeros_like(target));
        var perSample = nn.functional.cross_entropy(logits.to(ScalarType.Float32), safe, reduction: nn.Reduction.None, label_smoothing: LabelSmoothing);
        return TaskMetrics.MeanOverPresent(perSample, mask).MoveToOuterDisposeScope();
    }
}
