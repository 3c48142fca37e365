using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// The causal language-modelling loss (Hugging Face's <c>GPT2LMHeadModel</c> with <c>labels</c>): the logits at
/// position <c>t</c> predict the label at <c>t+1</c>; mean cross-entropy over the label positions that are not
/// <see cref="IgnoreIndex"/> (padding, prompt, soft-prompt positions). Its metric is <see cref="TaskMetrics.NextTokenAccuracy"/>.
/// </summary>
public sealed class CausalLmLoss
{
    /// <summary>Hugging Face's and PyTorch's default ignore index.</summary>
    public const long DefaultIgnoreIndex = -100;

    /// <summary>Labels equal to this count in neither the loss nor the metric (-100, as Hugging Face's <c>labels</c>).</summary>
    public long IgnoreIndex => DefaultIgnoreIndex;

    /// <summary>The mean loss of logits <c>[B,T,V]</c> against labels <c>[B,T]</c> (int64; usually the input ids with ignored positions set to <see cref="IgnoreIndex"/>).</summary>
    /// <exception cref="LabelException">The labels are not int64 <c>[B,T]</c> matching the logits, or hold an id outside <c>[0, V)</c> other than the ignore index.</exception>
    public Tensor Compute(Tensor logits, Tensor labels)
    {
        var (shiftedLogits, shiftedLabels) = Shift(logits, labels, IgnoreIndex, nameof(CausalLmLoss));
        using var scope = NewDisposeScope();
        var loss = nn.functional.cross_entropy(shiftedLogits.reshape(-1, logits.shape[2]), shiftedLabels.reshape(-1), ignore_index: IgnoreIndex);
        // Every label ignored: 0 instead of cross_entropy's NaN (0/0), so a batch of prompts only does not poison a mean.
        if (shiftedLabels.ne(IgnoreIndex).sum().item<long>() == 0)
            loss = logits.sum() * 0;
        return loss.MoveToOuterDisposeScope();
    }

    internal static (Tensor Logits, Tensor Labels) Shift(Tensor logits, Tensor labels, long ignoreIndex, string owner)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        if (logits.ndim != 3)
            throw new ArgumentException($"{owner} expects logits [B,T,V]; got [{string.Join(",", logits.shape)}].", nameof(logits));
        if (labels.dtype != ScalarType.Int64 || labels.ndim != 2 || labels.shape[0] != logits.shape[0] || labels.shape[1] != logits.shape[1])
            throw new LabelException(owner,
                $"the labels are {labels.dtype} [{string.Join(",", labels.shape)}]; it needs int64 [{logits.shape[0]},{logits.shape[1]}], the logits' batch and length.",
                $"Give the token ids, with {ignoreIndex} at the positions that take no loss (padding, the prompt).", targetHandle: labels.Handle);
        var vocab = logits.shape[2];
        var bad = labels.ne(ignoreIndex).logical_and(labels.lt(0).logical_or(labels.ge(vocab)));
        if (bad.any().item<bool>())
        {
            var at = bad.nonzero()[0];
            var (row, column) = (at[0].item<long>(), at[1].item<long>());
            var value = labels[row, column].item<long>();
            throw new LabelException(owner,
                $"the label at position {column} is {value}, outside the vocabulary [0, {vocab}) and not the ignore index {ignoreIndex}.",
                "Check the tokenizer's vocabulary against the model's Vocab.", row, value.ToString(System.Globalization.CultureInfo.InvariantCulture), targetHandle: labels.Handle);
        }
        var t = logits.shape[1];
        return (logits.narrow(1, 0, t - 1), labels.narrow(1, 1, t - 1));
    }
}
