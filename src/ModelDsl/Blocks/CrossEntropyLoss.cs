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

    /// <summary>The mean loss of logits <c>[B,C]</c> against class indices <c>[B]</c>.</summary>
    /// <exception cref="LabelException">The labels are not integer class indices <c>[B]</c> in <c>[0, C)</c> (float, bool or one-hot labels, another shape, a value out of range); int32, int16, int8 and uint8 labels are converted, not refused.</exception>
    /// <exception cref="EmptyBatchException">The batch has no rows.</exception>
    public Tensor Compute(Tensor logits, Tensor target)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(target);
        using var scope = NewDisposeScope();
        var indices = LabelCheck.ClassIndices(logits, target, nameof(CrossEntropyLoss));
        // Mixed precision: the log-softmax and the mean in fp32.
        var input = logits.dtype is ScalarType.BFloat16 or ScalarType.Float16 ? logits.to(ScalarType.Float32) : logits;
        return nn.functional.cross_entropy(input, indices, label_smoothing: LabelSmoothing).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The mean over the samples whose <paramref name="present"/> <c>[B]</c> is set (bool or 0/1); 0 when none
    /// is. An absent sample's class index may be anything, e.g. -1; the present ones are checked as in
    /// <see cref="Compute(Tensor, Tensor)"/>.
    /// </summary>
    public Tensor Compute(Tensor logits, Tensor target, Tensor present)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(target);
        using var scope = NewDisposeScope();
        var mask = TaskMetrics.PresentMask(present, logits.ndim >= 1 ? logits.shape[0] : 0, nameof(present));
        var indices = LabelCheck.ClassIndices(logits, target, nameof(CrossEntropyLoss), mask);
        var safe = where(mask, indices, zeros_like(indices));
        var perSample = nn.functional.cross_entropy(logits.to(ScalarType.Float32), safe, reduction: nn.Reduction.None, label_smoothing: LabelSmoothing);
        return TaskMetrics.MeanOverPresent(perSample, mask).MoveToOuterDisposeScope();
    }
}
