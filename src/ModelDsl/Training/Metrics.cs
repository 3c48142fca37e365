using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>Batch metrics the generated steps report; each is a scalar mean over the batch, left on the device.</summary>
public static class Metrics
{
    /// <summary>Top-1 accuracy of logits <c>[B,C]</c> against class indices <c>[B]</c>.</summary>
    public static Tensor Accuracy(Tensor logits, Tensor target) =>
        logits.argmax(1).eq(target).to_type(ScalarType.Float32).mean();
}
