using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// The mean squared cosine similarity between two sets of vectors (each flattened to <c>[n,D]</c>), or, given one set,
/// between its distinct vectors: 0 when every pair is orthogonal, 1 when all are parallel. No state.
/// </summary>
public sealed class OrthogonalityPenalty
{
    /// <param name="set">A token set of any shape <c>[..., D]</c> (<c>[1,n,D]</c> tokens, <c>[K,D]</c> codes).</param>
    /// <param name="other">A second set of the same width, or null for the pairs within <paramref name="set"/>.</param>
    public Tensor Compute(Tensor set, Tensor? other = null)
    {
        ArgumentNullException.ThrowIfNull(set);
        if (set.ndim < 1 || other is not null && (other.ndim < 1 || other.shape[^1] != set.shape[^1]))
            throw new ArgumentException($"OrthogonalityPenalty expects token sets of one width [..., D]; got [{string.Join(",", set.shape)}] and [{(other is null ? "" : string.Join(",", other.shape))}].");
        using var scope = NewDisposeScope();
        var a = nn.functional.normalize(set.reshape(-1, set.shape[^1]), dim: 1);
        if (other is not null)
        {
            var b = nn.functional.normalize(other.reshape(-1, other.shape[^1]), dim: 1);
            return a.matmul(b.t()).pow(2).mean().MoveToOuterDisposeScope();
        }
        var n = a.shape[0];
        if (n < 2)
            throw new ArgumentException($"OrthogonalityPenalty of one set needs at least 2 vectors; got [{string.Join(",", set.shape)}].", nameof(set));
        // The diagonal (each vector with itself) is 1 by construction: only the n(n-1) distinct pairs count.
        var squared = a.matmul(a.t()).pow(2);
        return ((squared.sum() - squared.diagonal().sum()) / (n * (n - 1))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// How unevenly a batch uses a codebook: <c>log K - H(p)</c> with <c>p</c> the batch mean of the code weights <c>[B,K]</c>;
/// 0 when every code gets the same mean weight, <c>log K</c> when one code takes it all. No state.
/// </summary>
public sealed class CodeUsageRegularizer
{
    // Keeps log(0) out of the entropy of codes that no sample uses (sparsemax gives exact zeros).
    private const double Epsilon = 1e-12;

    /// <param name="weights">Code weights <c>[B,K]</c>, each row summing to 1.</param>
    public Tensor Compute(Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.ndim != 2)
            throw new ArgumentException($"CodeUsageRegularizer expects code weights [B,K]; got [{string.Join(",", weights.shape)}].", nameof(weights));
        using var scope = NewDisposeScope();
        var usage = weights.mean(new long[] { 0 });
        var entropy = -(usage * (usage + Epsilon).log()).sum();
        return (Math.Log(weights.shape[1]) - entropy).MoveToOuterDisposeScope();
    }

    /// <summary>The number of codes with non-zero weight per sample, as a float mean over the batch (a metric).</summary>
    public static Tensor ActiveCodes(Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        using var scope = NewDisposeScope();
        return weights.gt(0).sum(1).to(float32).mean().MoveToOuterDisposeScope();
    }
}
