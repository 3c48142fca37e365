using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// ToMe token merging (Bolya et al. 2023; facebookresearch/ToMe, <c>tome/merge.py</c> and <c>tome/patch/timm.py</c>) over
/// blocks <c>FirstLayer..FirstLayer+Layers-1</c>: in each block of the range, between the attention and the MLP, the
/// tokens after the <see cref="PrefixTokens"/> (which are never merged and stay first) are split by their position in the
/// sequence into alternating sets A (even positions) and B (odd positions); each A token's best match in B is found by the
/// cosine similarity of the keys averaged over heads, and the <c>r</c> A tokens with the most similar matches are merged
/// into them. A merge is a size-weighted average (a token's size counts the patches it holds), so merging is a sum of
/// <c>x * size</c> divided by the summed size. The output is <c>[prefix, unmerged A in order, B]</c>: <c>N - r</c> tokens.
/// With <see cref="ProportionalAttention"/>, every block from the first merge on (also after the range) adds
/// <c>log(size)</c> of each key to the attention logits, so a merged token weighs as the tokens it holds (the public
/// code's default for models used off the shelf). Needs no retraining; adds no parameters.
/// </summary>
/// <remarks>
/// As in the public code, <c>r</c> is capped at half the mergeable tokens, <c>(N - prefix) / 2</c>, in each block
/// (the compile-time check reports a declared <c>r</c> above that); <c>r = 0</c> runs the plain blocks. One difference:
/// the unmerged A tokens are always kept in sequence order (the public code sorts them only when there is a class token);
/// attention and the MLP do not see the order, so outputs that pool the tokens are the same.
/// </remarks>
public sealed class TokenMerging : EncoderHook
{
    private Tensor? sizes; // [B,N,1] once a merge happened in this forward pass

    /// <param name="r">Tokens merged away in each block of the range (0 or more).</param>
    /// <param name="firstLayer">The first block of the range.</param>
    /// <param name="layers">The number of blocks in the range.</param>
    /// <param name="prefixTokens">Tokens at the start of the sequence that are never merged (the class token, registers).</param>
    /// <param name="proportionalAttention">Add <c>log(size)</c> to the attention logits after the first merge.</param>
    public TokenMerging(int r, int firstLayer, int layers, int prefixTokens = 1, bool proportionalAttention = true) : base(firstLayer, layers)
    {
        if (r < 0) throw new ArgumentOutOfRangeException(nameof(r), r, "TokenMerging: r (the tokens merged per block) must be 0 or more.");
        if (prefixTokens < 0) throw new ArgumentOutOfRangeException(nameof(prefixTokens), prefixTokens, "TokenMerging: the prefix token count must be 0 or more.");
        R = r;
        PrefixTokens = prefixTokens;
        ProportionalAttention = proportionalAttention;
    }

    /// <summary>Tokens merged away per block of the range.</summary>
    public int R { get; }

    /// <summary>Tokens at the start that are never merged.</summary>
    public int PrefixTokens { get; }

    /// <summary>Whether attention adds <c>log(size)</c> after the first merge.</summary>
    public bool ProportionalAttention { get; }

    /// <summary>The sequence length after block <paramref name="layer"/> for <paramref name="tokens"/> entering the encoder.</summary>
    public static int LengthAfter(int tokens, int prefixTokens, int r, int firstLayer, int layers, int layer)
    {
        var n = tokens;
        for (var i = firstLayer; i < firstLayer + layers && i <= layer; i++)
            n -= Math.Min(r, (n - prefixTokens) / 2);
        return n;
    }

    /// <inheritdoc/>
    // Merging blocks, and with proportional attention every block after the first merge (the sizes bias its attention).
    protected internal override bool RunsBlock(int layer) => R > 0 && (Covers(layer) || (ProportionalAttention && layer > FirstLayer));

    /// <inheritdoc/>
    protected internal override void Begin() => sizes = null;

    /// <inheritdoc/>
    protected internal override void Check(TransformerEncoder encoder, Tensor tokens)
    {
        base.Check(encoder, tokens);
        if (PrefixTokens > tokens.shape[1])
            throw new ArgumentException($"TokenMerging protects {PrefixTokens} prefix tokens, but the sequence has {tokens.shape[1]}.", nameof(tokens));
    }

    /// <inheritdoc/>
    protected internal override Tensor RunBlock(int layer, EncoderBlock block, Tensor tokens)
    {
        var bias = ProportionalAttention && sizes is not null ? sizes.squeeze(-1).log() : null;
        if (!Covers(layer))
            return block.ForwardSplit(tokens, bias, keys: false, classAttention: false, (h, _) => h);
        return block.ForwardSplit(tokens, bias, keys: true, classAttention: false, (h, seen) => Merge(h, seen.MeanKeys!));
    }

    // Bipartite soft matching on the keys, then the size-weighted merge of x; updates `sizes`.
    private Tensor Merge(Tensor x, Tensor metric)
    {
        var (b, n, c) = (x.shape[0], x.shape[1], x.shape[2]);
        var p = PrefixTokens;
        var r = (int)Math.Min(R, (n - p) / 2);
        var size = sizes ?? ones(b, n, 1, dtype: x.dtype, device: x.device);
        if (r <= 0)
            return x;

        // Set A holds the even positions of the whole sequence, B the odd ones (the prefix excluded from both).
        var aStart = p % 2 == 0 ? 0 : 1;
        Tensor A(Tensor t) => t.narrow(1, p, n - p).slice(1, aStart, n - p, 2);
        Tensor Bset(Tensor t) => t.narrow(1, p, n - p).slice(1, 1 - aStart, n - p, 2);

        Tensor unmIdx, srcIdx, dstIdx;
        using (no_grad()) {
            var m = metric.to(float32);
            m = m / m.norm(-1, keepdim: true);
            var scores = A(m).matmul(Bset(m).transpose(-1, -2));       // [B, |A|, |B|]
            var (nodeMax, nodeIdx) = scores.max(-1);                   // [B, |A|]
            var edgeIdx = nodeMax.argsort(-1, descending: true).unsqueeze(-1);
            unmIdx = edgeIdx.narrow(1, r, edgeIdx.shape[1] - r).sort(1).Values;
            srcIdx = edgeIdx.narrow(1, 0, r);
            dstIdx = nodeIdx.unsqueeze(-1).gather(1, srcIdx);
        }

        Tensor MergeSum(Tensor t)
        {
            var width = t.shape[2];
            var src = A(t);
            var dst = Bset(t);
            var unm = src.gather(1, unmIdx.expand(b, unmIdx.shape[1], width));
            var moved = src.gather(1, srcIdx.expand(b, r, width));
            dst = dst.scatter_add(1, dstIdx.expand(b, r, width), moved);
            return cat(new[] { t.narrow(1, 0, p), unm, dst }, 1);
        }

        var merged = MergeSum(x * size);
        var newSize = MergeSum(size);
        // Out of the block's dispose scope: the sizes live until the encoder's forward pass ends.
        sizes = newSize.MoveToOuterDisposeScope();
        return merged / newSize;
    }
}
