using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>Reductions of a token sequence <c>[B,N,D]</c> to one vector per example <c>[B,D]</c> (timm <c>global_pool</c>).</summary>
public static class Pooling
{
    /// <summary>The first (CLS) token: <c>tokens[:, 0]</c>.</summary>
    public static Tensor Cls(Tensor tokens)
    {
        RequireTokens(tokens, nameof(Cls));
        if (tokens.shape[1] < 1)
            throw new ArgumentException("Pooling.Cls: the token sequence is empty.", nameof(tokens));
        return tokens.select(1, 0);
    }

    /// <summary>
    /// The mean over the patch tokens <c>tokens[:, prefixTokens:]</c> along dim 1; the first
    /// <paramref name="prefixTokens"/> tokens (CLS, registers) are excluded.
    /// </summary>
    public static Tensor AveragePatches(Tensor tokens, int prefixTokens)
    {
        RequireTokens(tokens, nameof(AveragePatches));
        var n = tokens.shape[1];
        if (prefixTokens < 0 || prefixTokens >= n)
            throw new ArgumentOutOfRangeException(nameof(prefixTokens), prefixTokens,
                $"Pooling.AveragePatches: {prefixTokens} prefix tokens leave no patch tokens in a sequence of {n}.");
        using var scope = NewDisposeScope();
        return tokens.narrow(1, prefixTokens, n - prefixTokens).mean(new long[] { 1 }).MoveToOuterDisposeScope();
    }

    private static void RequireTokens(Tensor tokens, string method)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.ndim != 3)
            throw new ArgumentException($"Pooling.{method} expects tokens [B,N,D]; got rank {tokens.ndim} [{string.Join(",", tokens.shape)}].", nameof(tokens));
    }
}
