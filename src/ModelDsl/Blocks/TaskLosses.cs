using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Mean squared error between predictions and float targets of the same shape <c>[B,...]</c>. With a
/// presence mask <c>[B]</c>, the mean over the present samples (0 when none is). No state, not registered.
/// </summary>
public sealed class MseLoss
{
    public Tensor Compute(Tensor prediction, Tensor target)
    {
        TaskMetrics.RequireSameShape(prediction, target, nameof(MseLoss));
        using var scope = NewDisposeScope();
        return nn.functional.mse_loss(prediction.to(ScalarType.Float32), target.to(ScalarType.Float32)).MoveToOuterDisposeScope();
    }

    public Tensor Compute(Tensor prediction, Tensor target, Tensor present)
    {
        TaskMetrics.RequireSameShape(prediction, target, nameof(MseLoss));
        using var scope = NewDisposeScope();
        var b = prediction.shape[0];
        var mask = TaskMetrics.PresentMask(present, b, nameof(present));
        var safe = TaskMetrics.Sanitize(target, present, b);
        var perSample = (prediction.to(ScalarType.Float32) - safe).square().reshape(b, -1).mean([1L]);
        return TaskMetrics.MeanOverPresent(perSample, mask).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Binary cross-entropy between logits and 0/1 float targets of the same shape <c>[B,...]</c> (a mask
/// head's <c>[B,1,H,W]</c>), averaged over every element. With a presence mask <c>[B]</c>, the mean
/// over the present samples (0 when none is). No state, not registered.
/// </summary>
public sealed class BinaryCrossEntropyLoss
{
    public Tensor Compute(Tensor logits, Tensor target)
    {
        TaskMetrics.RequireSameShape(logits, target, nameof(BinaryCrossEntropyLoss));
        using var scope = NewDisposeScope();
        return nn.functional.binary_cross_entropy_with_logits(logits.to(ScalarType.Float32), target.to(ScalarType.Float32)).MoveToOuterDisposeScope();
    }

    public Tensor Compute(Tensor logits, Tensor target, Tensor present)
    {
        TaskMetrics.RequireSameShape(logits, target, nameof(BinaryCrossEntropyLoss));
        using var scope = NewDisposeScope();
        var b = logits.shape[0];
        var mask = TaskMetrics.PresentMask(present, b, nameof(present));
        var safe = TaskMetrics.Sanitize(target, present, b);
        var perSample = nn.functional.binary_cross_entropy_with_logits(logits.to(ScalarType.Float32), safe, reduction: nn.Reduction.None)
            .reshape(b, -1).mean([1L]);
        return TaskMetrics.MeanOverPresent(perSample, mask).MoveToOuterDisposeScope();
    }
}
