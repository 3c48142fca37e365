using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// The routers of Mixture-of-Depths routing: one <c>Linear(D,1)</c> per routed block, registered as <c>"0"</c>..<c>"L-1"</c>
/// (so a model that registers this as <c>routers</c> has <c>routers.0.weight</c> <c>[1,D]</c> and <c>routers.0.bias</c> <c>[1]</c>).
/// Initialised to weight 0 and bias 1: every router weight starts at exactly 1, so a routed model starts as the plain model
/// on the tokens it routes through the block (and at capacity 1 equals it), while the gradient reaches the router weights
/// through <c>r * update</c> from the first step.
/// </summary>
public sealed class DepthRouters : nn.Module
{
    private readonly Linear[] routers;

    /// <param name="dim">The token width D.</param>
    /// <param name="count">The number of routed blocks.</param>
    public DepthRouters(int dim, int count) : base(nameof(DepthRouters))
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "DepthRouters: the width must be positive.");
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "DepthRouters: the number of routed blocks must be positive.");
        Dim = dim;
        routers = new Linear[count];
        for (var i = 0; i < count; i++) {
            routers[i] = nn.Linear(dim, 1, hasBias: true);
            register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), routers[i]);
        }
        ResetParameters();
    }

    /// <summary>The token width D.</summary>
    public int Dim { get; }

    /// <summary>The number of routed blocks.</summary>
    public int Count => routers.Length;

    /// <summary>The router of routed block <paramref name="i"/> (counted from the first block of the range).</summary>
    public Linear this[int i] => routers[i];

    /// <summary>Weight 0, bias 1 for every router (every router weight 1).</summary>
    public void ResetParameters()
    {
        using var _ = no_grad();
        foreach (var router in routers) {
            router.weight!.zero_();
            router.bias!.fill_(1.0);
        }
    }
}

/// <summary>
/// Mixture-of-Depths routing (Raposo et al. 2024) over blocks <c>FirstLayer, FirstLayer+Every, ...</c> (one router each): in each routed block the
/// router gives every token a weight <c>r = x w + b</c> <c>[B,N]</c>; the <c>k = ceil(capacity * (N - pinned))</c> tokens with
/// the largest weights (of those after the <see cref="PinnedTokens"/>) go through the block together with the pinned
/// prefix tokens, in their sequence order (they attend only to each other); the others skip it unchanged. A routed token
/// gets <c>x + r * (Block(x_sel) - x)</c>: the router weight scales the block's update, which puts the router on the
/// gradient path; pinned tokens get the plain update <c>Block(x_sel) - x</c>. The length stays <c>N</c>. With capacity 1
/// every token goes through, and with the routers' initial weight 1 the output equals the plain block's (up to the
/// rounding of <c>x + (y - x)</c>). Top-k over the whole sequence is not causal: this is for encoders.
/// </summary>
public sealed class DepthRouting : EncoderHook
{
    private readonly DepthRouters routers;

    /// <param name="routers">One router per routed block.</param>
    /// <param name="capacity">The fraction of the non-pinned tokens that go through each routed block, in (0, 1].</param>
    /// <param name="firstLayer">The first routed block.</param>
    /// <param name="pinnedTokens">Prefix tokens that always go through the block (the class token).</param>
    /// <param name="every">Route every <paramref name="every"/>-th block from <paramref name="firstLayer"/> (2: alternate blocks, as in the paper); the blocks between run plainly.</param>
    public DepthRouting(DepthRouters routers, double capacity, int firstLayer, int pinnedTokens = 1, int every = 1)
        : base(firstLayer, ((routers ?? throw new ArgumentNullException(nameof(routers))).Count - 1) * Math.Max(every, 1) + 1)
    {
        if (every < 1)
            throw new ArgumentOutOfRangeException(nameof(every), every, "DepthRouting: every must be 1 (each block) or more.");
        Every = every;
        if (!(capacity > 0 && capacity <= 1))
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "DepthRouting: the capacity must lie in (0, 1].");
        if (pinnedTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(pinnedTokens), pinnedTokens, "DepthRouting: the pinned token count must be 0 or more.");
        this.routers = routers;
        Capacity = capacity;
        PinnedTokens = pinnedTokens;
    }

    /// <summary>The fraction of the non-pinned tokens routed through each block of the range.</summary>
    public double Capacity { get; }

    /// <summary>Prefix tokens that always go through the block.</summary>
    public int PinnedTokens { get; }

    /// <summary>The step between routed blocks (1: every block of the range).</summary>
    public int Every { get; }

    /// <summary>The tokens routed through a block of <paramref name="tokens"/> (pinned ones included).</summary>
    public static int Routed(int tokens, int pinnedTokens, double capacity) =>
        pinnedTokens + Math.Min(tokens - pinnedTokens, Math.Max(1, (int)Math.Ceiling(capacity * (tokens - pinnedTokens))));

    /// <inheritdoc/>
    protected internal override bool RunsBlock(int layer) => Covers(layer) && (layer - FirstLayer) % Every == 0;

    /// <inheritdoc/>
    protected internal override void Check(TransformerEncoder encoder, Tensor tokens)
    {
        base.Check(encoder, tokens);
        if (routers.Dim != encoder.Dim)
            throw new ArgumentException($"DepthRouting: the routers are {routers.Dim} wide, the encoder's tokens {encoder.Dim}.", nameof(encoder));
        if (PinnedTokens >= tokens.shape[1])
            throw new ArgumentException($"DepthRouting pins {PinnedTokens} prefix tokens and routes the rest, but the sequence has {tokens.shape[1]}.", nameof(tokens));
    }

    /// <inheritdoc/>
    protected internal override Tensor RunBlock(int layer, EncoderBlock block, Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var (b, n, d) = (tokens.shape[0], tokens.shape[1], tokens.shape[2]);
        var p = PinnedTokens;
        var k = Routed((int)n, p, Capacity) - p;
        var weights = routers[(layer - FirstLayer) / Every].forward(tokens).squeeze(-1);                  // [B,N]
        var chosen = weights.narrow(1, p, n - p).topk(k, dim: 1).indexes.sort(1).Values + p;    // [B,k], in order
        var index = cat(new[] { arange(p, dtype: int64, device: tokens.device).unsqueeze(0).expand(b, p), chosen }, 1);
        var expanded = index.unsqueeze(-1).expand(b, p + k, d);
        var selected = tokens.gather(1, expanded);
        var update = block.forward(selected) - selected;
        var scale = cat(new[] { ones(b, p, dtype: weights.dtype, device: tokens.device), weights.gather(1, chosen) }, 1);
        var routed = tokens.scatter_add(1, expanded, update * scale.unsqueeze(-1).to(update.dtype));
        return routed.MoveToOuterDisposeScope();
    }
}
