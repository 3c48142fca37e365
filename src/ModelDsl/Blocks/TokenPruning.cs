using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// EViT token pruning (Liang et al. 2022; youweiliang/evit, <c>evit.py</c>) in each block of
/// <c>FirstLayer..FirstLayer+Layers-1</c>: between the attention and the MLP, the class token's attention to the other
/// tokens, averaged over heads, ranks them; the top <c>ceil(keepRate * (N - prefix))</c> are kept (most attended first, as
/// the public code's sorted top-k gives them) and, with <see cref="Fuse"/>, the rest are fused into one token appended at
/// the end, their sum weighted by their (unnormalised) class attention. The <see cref="PrefixTokens"/> (the class token
/// first) are always kept and stay first. A fused token of an earlier block is ranked like any other token, as in the
/// public code. Keep rate 1 keeps every token and runs the plain block. Adds no parameters.
/// </summary>
public sealed class TokenPruning : EncoderHook
{
    /// <param name="keepRate">The fraction of the non-prefix tokens kept in each block of the range, in (0, 1].</param>
    /// <param name="firstLayer">The first block of the range.</param>
    /// <param name="layers">The number of blocks in the range.</param>
    /// <param name="prefixTokens">Tokens at the start that are always kept; the first is the class token whose attention ranks the rest.</param>
    /// <param name="fuse">Fuse the pruned tokens into one token (EViT's inattentive-token fusion) instead of dropping them.</param>
    public TokenPruning(double keepRate, int firstLayer, int layers, int prefixTokens = 1, bool fuse = true) : base(firstLayer, layers)
    {
        if (!(keepRate > 0 && keepRate <= 1))
            throw new ArgumentOutOfRangeException(nameof(keepRate), keepRate, "TokenPruning: the keep rate must lie in (0, 1].");
        if (prefixTokens < 1)
            throw new ArgumentOutOfRangeException(nameof(prefixTokens), prefixTokens, "TokenPruning: ranking by class attention needs a class token (1 or more prefix tokens).");
        keepRate_ = keepRate;
        PrefixTokens = prefixTokens;
        Fuse = fuse;
    }

    private double keepRate_;

    /// <summary>The fraction of the non-prefix tokens kept per block of the range; set it between epochs for EViT's keep-rate warm-up.</summary>
    public double KeepRate
    {
        get => keepRate_;
        set => keepRate_ = value > 0 && value <= 1 ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "TokenPruning: the keep rate must lie in (0, 1].");
    }

    /// <summary>Tokens at the start that are always kept (the class token first).</summary>
    public int PrefixTokens { get; }

    /// <summary>Whether the pruned tokens are fused into one token.</summary>
    public bool Fuse { get; }

    /// <summary>
    /// EViT's keep-rate warm-up (<c>helpers.py</c>, <c>adjust_keep_rate</c>): 1 during the first <paramref name="startEpochs"/>
    /// epochs, then a cosine from 1 down to <paramref name="keepRate"/> reached at <paramref name="endEpochs"/>, then
    /// <paramref name="keepRate"/>. <paramref name="step"/> counts optimizer steps from 0.
    /// </summary>
    public static double WarmupKeepRate(long step, int stepsPerEpoch, int startEpochs, int endEpochs, double keepRate)
    {
        if (stepsPerEpoch <= 0) throw new ArgumentOutOfRangeException(nameof(stepsPerEpoch), stepsPerEpoch, "TokenPruning.WarmupKeepRate: the steps per epoch must be positive.");
        if (endEpochs <= startEpochs) throw new ArgumentOutOfRangeException(nameof(endEpochs), endEpochs, $"TokenPruning.WarmupKeepRate: the warm-up must end after it starts (epoch {startEpochs}).");
        var epoch = step / stepsPerEpoch;
        if (epoch < startEpochs) return 1;
        if (epoch >= endEpochs) return keepRate;
        var total = (double)stepsPerEpoch * (endEpochs - startEpochs);
        var done = step - (double)stepsPerEpoch * startEpochs;
        return keepRate + (1 - keepRate) * (Math.Cos(done / total * Math.PI) + 1) * 0.5;
    }

    /// <summary>The tokens kept of <paramref name="others"/> non-prefix tokens at <paramref name="keepRate"/>: <c>ceil(keepRate * others)</c>.</summary>
    public static int Kept(int others, double keepRate) => (int)Math.Ceiling(keepRate * others);

    /// <summary>
    /// The sequence length after block <paramref name="layer"/> for <paramref name="tokens"/> entering the encoder: in each block
    /// of the range that prunes (keeps fewer than all), <c>prefix + kept (+ 1 fused)</c>.
    /// </summary>
    public static int LengthAfter(int tokens, int prefixTokens, double keepRate, bool fuse, int firstLayer, int layers, int layer)
    {
        var n = tokens;
        for (var i = firstLayer; i < firstLayer + layers && i <= layer; i++) {
            var kept = Kept(n - prefixTokens, keepRate);
            if (kept < n - prefixTokens)
                n = prefixTokens + kept + (fuse ? 1 : 0);
        }
        return n;
    }

    /// <inheritdoc/>
    protected internal override bool RunsBlock(int layer) => Covers(layer);

    /// <inheritdoc/>
    protected internal override void Check(TransformerEncoder encoder, Tensor tokens)
    {
        base.Check(encoder, tokens);
        if (PrefixTokens >= tokens.shape[1])
            throw new ArgumentException($"TokenPruning keeps {PrefixTokens} prefix tokens and ranks the rest, but the sequence has {tokens.shape[1]}.", nameof(tokens));
    }

    /// <inheritdoc/>
    protected internal override Tensor RunBlock(int layer, EncoderBlock block, Tensor tokens)
    {
        var others = (int)tokens.shape[1] - PrefixTokens;
        var kept = Kept(others, KeepRate);
        if (kept >= others)
            return block.forward(tokens);
        return block.ForwardSplit(tokens, logitBias: null, keys: false, classAttention: true, (h, seen) => Prune(h, seen.ClassAttention!, kept));
    }

    private Tensor Prune(Tensor x, Tensor classAttention, int kept)
    {
        var (b, n, c) = (x.shape[0], x.shape[1], x.shape[2]);
        var p = PrefixTokens;
        var others = x.narrow(1, p, n - p);
        var attention = classAttention.narrow(1, p, n - p).to(x.dtype);          // [B, N-p]
        var order = attention.argsort(-1, descending: true);                     // most attended first
        var top = order.narrow(1, 0, kept);
        var keptTokens = others.gather(1, top.unsqueeze(-1).expand(b, kept, c));
        if (!Fuse)
            return cat(new[] { x.narrow(1, 0, p), keptTokens }, 1);
        var rest = order.narrow(1, kept, n - p - kept);
        var restTokens = others.gather(1, rest.unsqueeze(-1).expand(b, rest.shape[1], c));
        var fused = (restTokens * attention.gather(1, rest).unsqueeze(-1)).sum(1, keepdim: true); // [B,1,C]
        return cat(new[] { x.narrow(1, 0, p), keptTokens, fused }, 1);
    }
}
