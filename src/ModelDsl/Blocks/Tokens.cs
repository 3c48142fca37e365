using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>Learnable token tables (timm <c>cls_token</c>, <c>reg_token</c>, <c>pos_embed</c>) and prepending.</summary>
public static class Tokens
{
    /// <summary>Standard deviation of the normal initialisation of CLS and register tokens (timm).</summary>
    public const double TokenInitStd = 1e-6;

    /// <summary>Standard deviation of the truncated-normal initialisation of position tables (timm).</summary>
    public const double PositionInitStd = 0.02;

    /// <summary>
    /// <paramref name="count"/> learnable tokens <c>[1,count,D]</c>, initialised from a normal with
    /// std 1e-6 (timm's CLS / register token initialisation).
    /// </summary>
    public static Parameter Create(int count, int dim)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "The token count must be positive.");
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "The token dimension must be positive.");
        var p = new Parameter(empty(1, count, dim));
        using (no_grad())
            nn.init.normal_(p, mean: 0.0, std: TokenInitStd);
        return (Parameter)p.DetachFromDisposeScope();
    }

    /// <summary>
    /// A learnable position table <c>[1,length,D]</c>, initialised from a normal with std 0.02
    /// truncated to [-2, 2] (timm's <c>trunc_normal_(pos_embed, std=.02)</c>).
    /// </summary>
    public static Parameter CreatePositions(int length, int dim)
    {
        if (length <= 0) throw new ArgumentOutOfRangeException(nameof(length), length, "The position table length must be positive.");
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "The token dimension must be positive.");
        var p = new Parameter(empty(1, length, dim));
        using (no_grad())
            Initialization.TruncatedNormal_(p, std: PositionInitStd);
        return (Parameter)p.DetachFromDisposeScope();
    }

    /// <summary>
    /// <paramref name="count"/> learnable query tokens <c>[1,count,D]</c> that a decoder reads with
    /// (task tokens): trunc-normal std 0.02, so they differ from the start, unlike CLS tokens.
    /// </summary>
    public static Parameter CreateQueries(int count, int dim) => CreateLayered(1, count, dim);

    /// <summary>
    /// One set of <paramref name="count"/> tokens per encoder block, <c>[depth,count,D]</c>: VPT-deep
    /// prompts or VQT query tokens. Trunc-normal std 0.02, like the other learned tables.
    /// </summary>
    public static Parameter CreateLayered(int depth, int count, int dim)
    {
        if (depth <= 0) throw new ArgumentOutOfRangeException(nameof(depth), depth, "The depth must be positive.");
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "The token count must be positive.");
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "The token dimension must be positive.");
        var p = new Parameter(empty(depth, count, dim));
        using (no_grad())
            Initialization.TruncatedNormal_(p, std: PositionInitStd);
        return (Parameter)p.DetachFromDisposeScope();
    }

    /// <summary>
    /// Puts prefix tokens in front of a token sequence: each <c>[1,n,D]</c> (or <c>[B,n,D]</c>) prefix is
    /// expanded to the batch of <paramref name="x"/> <c>[B,N,D]</c>, and the result is
    /// <c>cat([prefix0, prefix1, ..., x], dim 1)</c>, prefixes in the given order.
    /// </summary>
    public static Tensor Prepend(Tensor x, params Tensor[] prefixTokens)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(prefixTokens);
        if (x.ndim != 3)
            throw new ArgumentException($"Tokens.Prepend expects tokens [B,N,D]; got rank {x.ndim} [{string.Join(",", x.shape)}].", nameof(x));

        var (b, d) = (x.shape[0], x.shape[2]);
        using var scope = NewDisposeScope();
        var parts = new Tensor[prefixTokens.Length + 1];
        for (var i = 0; i < prefixTokens.Length; i++) {
            var t = prefixTokens[i] ?? throw new ArgumentNullException(nameof(prefixTokens), $"Prefix token tensor {i} is null.");
            if (t.ndim != 3 || t.shape[2] != d || (t.shape[0] != 1 && t.shape[0] != b))
                throw new ArgumentException(
                    $"Tokens.Prepend: prefix {i} has shape [{string.Join(",", t.shape)}]; expected [1,n,{d}] or [{b},n,{d}] to go in front of [{string.Join(",", x.shape)}].",
                    nameof(prefixTokens));
            parts[i] = t.expand(new long[] { b, -1, -1 });
        }
        parts[^1] = x;
        return cat(parts, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Puts tokens after a token sequence: each <c>[1,n,D]</c> (or <c>[B,n,D]</c>) is expanded to the batch of
    /// <paramref name="x"/> <c>[B,N,D]</c>, and the result is <c>cat([x, tokens0, tokens1, ...], dim 1)</c>.
    /// </summary>
    public static Tensor Append(Tensor x, params Tensor[] tokens)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(tokens);
        if (x.ndim != 3)
            throw new ArgumentException($"Tokens.Append expects tokens [B,N,D]; got rank {x.ndim} [{string.Join(",", x.shape)}].", nameof(x));
        var (b, d) = (x.shape[0], x.shape[2]);
        using var scope = NewDisposeScope();
        var parts = new Tensor[tokens.Length + 1];
        parts[0] = x;
        for (var i = 0; i < tokens.Length; i++) {
            var t = tokens[i] ?? throw new ArgumentNullException(nameof(tokens), $"Token tensor {i} is null.");
            if (t.ndim != 3 || t.shape[2] != d || (t.shape[0] != 1 && t.shape[0] != b))
                throw new ArgumentException(
                    $"Tokens.Append: tokens {i} have shape [{string.Join(",", t.shape)}]; expected [1,n,{d}] or [{b},n,{d}] to go after [{string.Join(",", x.shape)}].",
                    nameof(tokens));
            parts[i + 1] = t.expand(new long[] { b, -1, -1 });
        }
        return cat(parts, 1).MoveToOuterDisposeScope();
    }
}
