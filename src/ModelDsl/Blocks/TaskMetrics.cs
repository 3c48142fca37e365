using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// The per-task metrics of task heads, each a scalar mean over the samples that carry the target:
/// with a presence mask <c>[B]</c> (bool or 0/1), absent samples count in neither the numerator nor
/// the denominator, and a batch with none present gives 0 rather than NaN.
/// </summary>
public static class TaskMetrics
{
    /// <summary>Top-1 accuracy of logits <c>[B,C]</c> against class indices <c>[B]</c>.</summary>
    public static Tensor Accuracy(Tensor logits, Tensor target, Tensor? present = null)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(target);
        using var scope = NewDisposeScope();
        var indices = LabelCheck.ClassIndices(logits, target, nameof(Accuracy), checkRange: false);
        var correct = logits.argmax(1).eq(indices).to_type(ScalarType.Float32);
        return Mean(correct, present, logits.shape[0]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Next-token accuracy of logits <c>[B,T,V]</c> against labels <c>[B,T]</c> (the logits at <c>t</c> predict the label at
    /// <c>t+1</c>), over the labels that are not <see cref="CausalLmLoss.DefaultIgnoreIndex"/>; 0 when there are none.
    /// </summary>
    public static Tensor NextTokenAccuracy(Tensor logits, Tensor labels)
    {
        var (shiftedLogits, shiftedLabels) = CausalLmLoss.Shift(logits, labels, CausalLmLoss.DefaultIgnoreIndex, nameof(NextTokenAccuracy));
        using var scope = NewDisposeScope();
        var counted = shiftedLabels.ne(CausalLmLoss.DefaultIgnoreIndex);
        var correct = shiftedLogits.detach().argmax(-1).eq(shiftedLabels).logical_and(counted).sum().to_type(ScalarType.Float32);
        return (correct / counted.sum().clamp_min(1).to_type(ScalarType.Float32)).MoveToOuterDisposeScope();
    }

    /// <summary>Mean absolute error of predictions against targets of the same shape <c>[B,...]</c>, averaged per sample first.</summary>
    public static Tensor MeanAbsoluteError(Tensor prediction, Tensor target, Tensor? present = null)
    {
        RequireSameShape(prediction, target, nameof(MeanAbsoluteError));
        using var scope = NewDisposeScope();
        var safe = Sanitize(target, present, prediction.shape[0]);
        var perSample = (prediction.detach().to(ScalarType.Float32) - safe).abs().reshape(prediction.shape[0], -1).mean([1L]);
        return Mean(perSample, present, prediction.shape[0]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Intersection over union of the mask <c>logits &gt; 0</c> with <c>target &gt; 0.5</c>, per sample
    /// (1 when both are empty), then averaged.
    /// </summary>
    public static Tensor MaskIou(Tensor logits, Tensor target, Tensor? present = null)
    {
        RequireSameShape(logits, target, nameof(MaskIou));
        using var scope = NewDisposeScope();
        var b = logits.shape[0];
        var predicted = logits.detach().gt(0).reshape(b, -1);
        var truth = Sanitize(target, present, b).gt(0.5).reshape(b, -1);
        var intersection = predicted.logical_and(truth).sum([1L]).to_type(ScalarType.Float32);
        var union = predicted.logical_or(truth).sum([1L]).to_type(ScalarType.Float32);
        var iou = where(union.gt(0), intersection / union.clamp_min(1), ones_like(union));
        return Mean(iou, present, b).MoveToOuterDisposeScope();
    }

    /// <summary>How many samples carry the target: the weight of a metric averaged over them (<see cref="Training.StepOutput.MetricWeights"/>).</summary>
    public static Tensor PresentCount(Tensor present)
    {
        ArgumentNullException.ThrowIfNull(present);
        using var scope = NewDisposeScope();
        return PresentMask(present, present.shape[0]).sum().to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>A presence mask <c>[B]</c> as bool; throws when it has another shape.</summary>
    public static Tensor PresentMask(Tensor present, long batch, string name = "present")
    {
        ArgumentNullException.ThrowIfNull(present, name);
        if (present.ndim != 1 || present.shape[0] != batch)
            throw new ArgumentException($"A presence mask must have shape [{batch}] (one flag per sample); got [{Show(present)}].", name);
        return present.dtype == ScalarType.Bool ? present.alias() : present.ne(0);
    }

    /// <summary>The mean of per-sample values <c>[B]</c> over the present samples; 0 when none is.</summary>
    public static Tensor MeanOverPresent(Tensor perSample, Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(perSample);
        ArgumentNullException.ThrowIfNull(mask);
        using var scope = NewDisposeScope();
        // where, not a product: an absent sample's value may be NaN, and NaN * 0 is NaN.
        var kept = where(mask, perSample, zeros_like(perSample));
        var count = mask.sum().to_type(perSample.dtype).clamp_min(1);
        return (kept.sum() / count).MoveToOuterDisposeScope();
    }

    // A target with absent samples' values replaced by zeros, so a NaN placeholder reaches no gradient.
    internal static Tensor Sanitize(Tensor target, Tensor? present, long batch)
    {
        var values = target.to(ScalarType.Float32);
        if (present is null) return values;
        var shape = new long[target.ndim];
        Array.Fill(shape, 1L);
        shape[0] = batch;
        var mask = PresentMask(present, batch).reshape(shape);
        return where(mask, values, zeros_like(values));
    }

    private static Tensor Mean(Tensor perSample, Tensor? present, long batch) =>
        present is null ? perSample.mean() : MeanOverPresent(perSample, PresentMask(present, batch));

    internal static void RequireSameShape(Tensor prediction, Tensor target, string owner)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(target);
        if (prediction.ndim < 1 || !prediction.shape.AsSpan().SequenceEqual(target.shape))
            throw new ArgumentException($"{owner} expects a target of the prediction's shape [{Show(prediction)}]; got [{Show(target)}].", nameof(target));
        LabelCheck.RequireRows(prediction.shape[0], owner);
    }

    internal static string Show(Tensor t) => string.Join(",", t.shape);
}
