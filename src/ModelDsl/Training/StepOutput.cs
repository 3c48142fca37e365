using System.Collections.Generic;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>What one training or validation step returns.</summary>
/// <param name="Loss">The scalar loss to minimise (a batch mean).</param>
/// <param name="Metrics">Named scalar batch means, e.g. <c>"accuracy"</c>; logged as <c>train_*</c> / <c>val_*</c>.</param>
/// <param name="MetricWeights">
/// For a metric (or <c>"loss"</c>) that is a mean over fewer samples than the batch's rows, such as
/// the samples that carry an optional target: that count, a scalar tensor. The logged means weight
/// each batch by it (by the batch's rows otherwise), so they are means over those samples.
/// </param>
public sealed record StepOutput(Tensor Loss, IReadOnlyDictionary<string, Tensor> Metrics, IReadOnlyDictionary<string, Tensor>? MetricWeights = null)
{
    /// <summary>A step output with a loss and no metrics.</summary>
    public StepOutput(Tensor loss) : this(loss, new Dictionary<string, Tensor>()) { }
}
