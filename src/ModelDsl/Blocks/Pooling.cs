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

    /// <summary>The mean of the segment <c>tokens[:, start:start+length]</c> along dim 1: <c>[B,N,D] -> [B,D]</c>.</summary>
    public static Tensor Mean(Tensor tokens, int start, int length)
    {
        RequireSegment(tokens, start, length, nameof(Mean));
        using var scope = NewDisposeScope();
        return tokens.narrow(1, start, length).mean(new long[] { 1 }).MoveToOuterDisposeScope();
    }

    /// <summary>The token at <paramref name="index"/>: <c>tokens[:, index]</c>, <c>[B,N,D] -> [B,D]</c>.</summary>
    public static Tensor Token(Tensor tokens, int index)
    {
        RequireSegment(tokens, index, 1, nameof(Token));
        return tokens.select(1, index);
    }

    private static void RequireSegment(Tensor tokens, int start, int length, string method)
    {
        RequireTokens(tokens, method);
        if (start < 0 || length < 1 || start + length > tokens.shape[1])
            throw new ArgumentOutOfRangeException(nameof(start), start,
                $"Pooling.{method}: tokens {start}..{start + length - 1} lie outside the sequence of {tokens.shape[1]} ([{string.Join(",", tokens.shape)}]).");
    }

        private static void RequireTokens(Tensor tokens, string method)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.ndim != 3)
            throw new ArgumentException($"Pooling.{method} expects tokens [B,N,D]; got rank {tokens.ndim} [{string.Join(",", tokens.shape)}].", nameof(tokens));
    }
}
