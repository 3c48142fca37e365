using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>Batch metrics the generated steps report; each is a scalar mean over the batch, left on the device.</summary>
public static class Metrics
{
    /// <summary>
    /// Top-1 accuracy of logits <c>[B,C]</c> against class indices <c>[B]</c> (int64, or an integer type of
    /// another width, converted). Values out of range count as wrong; the loss reports them.
    /// </summary>
    /// <exception cref="LabelException">Float, bool or one-hot labels, or labels of another shape than <c>[B]</c>.</exception>
    /// <exception cref="EmptyBatchException">The batch has no rows.</exception>
    public static Tensor Accuracy(Tensor logits, Tensor target)
    {
        using var scope = NewDisposeScope();
        var indices = LabelCheck.ClassIndices(logits, target, "Accuracy", checkRange: false);
        return logits.argmax(1).eq(indices).to_type(ScalarType.Float32).mean().MoveToOuterDisposeScope();
    }
}
