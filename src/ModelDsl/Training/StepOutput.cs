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

    /// <summary>The loss and its named metrics, in the order given (a name given twice is an error).</summary>
    public static StepOutput From(Tensor loss, params (string Name, Tensor Value)[] metrics)
    {
        System.ArgumentNullException.ThrowIfNull(metrics);
        var named = new Dictionary<string, Tensor>(metrics.Length);
        foreach (var (name, value) in metrics)
        {
            if (!named.TryAdd(name, value))
                throw new System.ArgumentException($"StepOutput.From: the metric '{name}' is given twice.", nameof(metrics));
        }
        return new StepOutput(loss, named);
    }

    /// <summary>
    /// These metrics are means over <paramref name="samples"/> samples (those that carry an optional target), not over
    /// the batch's rows: the logged epoch means weight each batch by that count.
    /// </summary>
    public StepOutput WeightedBy(Tensor samples, params string[] metrics)
    {
        System.ArgumentNullException.ThrowIfNull(metrics);
        var weights = MetricWeights is null ? new Dictionary<string, Tensor>() : new Dictionary<string, Tensor>(MetricWeights);
        foreach (var metric in metrics)
        {
            if (!Metrics.ContainsKey(metric))
                throw new System.ArgumentException($"StepOutput.WeightedBy: there is no metric '{metric}' (the metrics are {string.Join(", ", Metrics.Keys)}).", nameof(metrics));
            weights[metric] = samples;
        }
        return this with { MetricWeights = weights };
    }
}
