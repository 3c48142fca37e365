using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// CLIP's symmetric contrastive loss over square logits <c>[B,B]</c> whose diagonal holds the matching
/// pairs: the mean of the cross-entropy over rows (image to text) and over columns (text to image).
/// </summary>
public sealed class ContrastiveLoss
{
    /// <summary>The loss of one batch; <paramref name="logits"/> must be <c>[B,B]</c>.</summary>
    public Tensor Compute(Tensor logits)
    {
        ArgumentNullException.ThrowIfNull(logits);
        if (logits.ndim != 2 || logits.shape[0] != logits.shape[1])
            throw new ArgumentException($"ContrastiveLoss expects square logits [B,B] (pair i in row i and column i); got [{string.Join(",", logits.shape)}].", nameof(logits));
        LabelCheck.RequireRows(logits.shape[0], nameof(ContrastiveLoss));
        using var scope = NewDisposeScope();
        var targets = Targets(logits);
        var loss = (nn.functional.cross_entropy(logits, targets) + nn.functional.cross_entropy(logits.t(), targets)) / 2;
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>The index of each row's matching column: <c>0..B-1</c>.</summary>
    public static Tensor Targets(Tensor logits) => arange(logits.shape[0], dtype: int64, device: logits.device);
}
