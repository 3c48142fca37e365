using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Sparsemax (Martins and Astudillo, 2016): the Euclidean projection of scores onto the probability simplex,
/// <c>max(z - tau, 0)</c> with the threshold <c>tau</c> chosen so the result sums to 1. Unlike softmax it gives
/// exact zeros: only the codes whose scores are close to the largest keep weight. TorchSharp has none.
/// </summary>
/// <remarks>
/// The closed form (sort the scores, cumulative sums, the support size <c>k = max{j : 1 + j z_(j) > sum_{i&lt;=j} z_(i)}</c>,
/// <c>tau = (sum of the k largest - 1) / k</c>) is written with differentiable operations, so autograd gives the
/// exact Jacobian <c>diag(s) - s s^T / |S|</c> on the support <c>S</c> (<c>s</c> its indicator): the support test is a
/// comparison and carries no gradient, the threshold is a mean over the support, and <c>relu</c> passes gradient only
/// where the output is positive. FDT's public <c>Sparsemax</c> computes the same values.
/// </remarks>
public static class Sparsemax
{
    /// <summary>Sparsemax of <paramref name="scores"/> along <paramref name="dim"/>: non-negative, summing to 1, usually sparse.</summary>
    /// <param name="scores">Floating scores of any rank (e.g. <c>[B,K]</c> over K codes); the result has its shape and dtype.</param>
    /// <param name="dim">The dimension normalised (negative counts from the end).</param>
    /// <exception cref="DtypeMismatchException">The scores are not floating point.</exception>
    /// <exception cref="ArgumentException">The scores have rank 0, <paramref name="dim"/> is out of range, or it has size 0.</exception>
    public static Tensor Apply(Tensor scores, long dim = -1)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (!LabelCheck.IsFloating(scores.dtype))
            throw new DtypeMismatchException("scores", ScalarType.Float32, scores.dtype,
                $"Sparsemax: the scores have dtype {LabelCheck.Name(scores.dtype)} ({scores.dtype}); it needs floating-point scores (float32, float64, float16 or bfloat16).");
        var rank = scores.ndim;
        if (rank == 0)
            throw new ArgumentException("Sparsemax: the scores are a scalar (shape []); it normalises along a dimension of a tensor such as [B,K].", nameof(scores));
        var axis = dim < 0 ? dim + rank : dim;
        if (axis < 0 || axis >= rank)
            throw new ArgumentException($"Sparsemax: dim {dim} is out of range for scores of shape [{string.Join(",", scores.shape)}] (rank {rank}).", nameof(dim));
        var n = scores.shape[axis];
        if (n == 0)
            throw new ArgumentException($"Sparsemax: the scores of shape [{string.Join(",", scores.shape)}] have no entries along dim {dim}.", nameof(scores));

        using var scope = NewDisposeScope();
        // Half precision cannot hold the cumulative sums exactly; compute in float32 and return the input's dtype.
        var lowPrecision = scores.dtype is ScalarType.Float16 or ScalarType.BFloat16;
        var z = lowPrecision ? scores.to(ScalarType.Float32) : scores;
        // Shifting by the maximum changes nothing (tau shifts with it) and keeps the sums small.
        z = z - z.max(axis, keepdim: true).values.detach();
        var sorted = z.sort(axis, descending: true).Values;
        var broadcast = Enumerable.Repeat(1L, (int)rank).ToArray();
        broadcast[axis] = n;
        var position = arange(1, n + 1, dtype: z.dtype, device: z.device).view(broadcast);
        var cumulative = sorted.cumsum(axis);
        // The support is a prefix of the sorted scores: its size is the number of positions that pass the test.
        var inSupport = (1 + position * sorted).gt(cumulative);
        var supportSize = inSupport.sum(axis, keepdim: true, type: ScalarType.Int64);
        var supportSum = cumulative.gather(axis, supportSize - 1);
        var tau = (supportSum - 1) / supportSize.to(z.dtype);
        var result = nn.functional.relu(z - tau);
        if (lowPrecision)
            result = result.to(scores.dtype);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The number of non-zero weights along <paramref name="dim"/> (the active codes of each row), as int64.</summary>
    public static Tensor SupportSize(Tensor weights, long dim = -1)
    {
        ArgumentNullException.ThrowIfNull(weights);
        using var scope = NewDisposeScope();
        return weights.gt(0).sum(dim, type: ScalarType.Int64).MoveToOuterDisposeScope();
    }
}
