using System.Collections.Generic;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>What one training or validation step returns.</summary>
/// <param name="Loss">The scalar loss to minimise (a batch mean).</param>
/// <param name="Metrics">Named scalar batch means, e.g. <c>"accuracy"</c>; logged as <c>train_*</c> / <c>val_*</c>.</param>
public sealed record StepOutput(Tensor Loss, IReadOnlyDictionary<string, Tensor> Metrics)
{
    /// <summary>A step output with a loss and no metrics.</summary>
    public StepOutput(Tensor loss) : this(loss, new Dictionary<string, Tensor>()) { }
}
