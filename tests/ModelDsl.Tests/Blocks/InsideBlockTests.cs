using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Blocks;

/// <summary>
/// Hooks that act inside the encoder's blocks: Mixture-of-Depths routing, ToMe merging, EViT pruning. The references
/// written out here follow the public code line by line (facebookresearch/ToMe <c>tome/merge.py</c>, youweiliang/evit
/// <c>evit.py</c>), on the block's own weights.
/// </summary>
public class InsideBlockTests
{
    public InsideBlockTests() => torch.manual_seed(5);

    private static float MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    private sealed record BlockWeights(Tensor N1W, Tensor N1B, Tensor Qkv, Tensor QkvB, Tensor Proj, Tensor ProjB, EncoderBlock Block, int Heads);

    private static BlockWeights Weights(EncoderBlock block)
    {
        var p = block.named_parameters().ToDictionary(t => t.name, t => t.parameter);
        return new(p["norm1.weight"], p["norm1.bias"], p["attn.qkv.weight"], p["attn.qkv.bias"], p["attn.proj.weight"], p["attn.proj.bias"], block, block.Heads);
    }

    // timm's Attention written out, with an optional additive bias [B,N] on the keys; returns (output, q, k, probabilities).
    private static (Tensor Out, Tensor K, Tensor Attn) AttentionByHand(BlockWeights w, Tensor x, Tensor? keyBias = null)
    {
        var (b, n, c) = (x.shape[0], x.shape[1], x.shape[2]);
        var xn = nn.functional.layer_norm(x, new long[] { c }, w.N1W, w.N1B, EncoderBlock.NormEps);
        var qkv = nn.functional.linear(xn, w.Qkv, w.QkvB).reshape(b, n, 3, w.Heads, c / w.Heads).permute(2, 0, 3, 1, 4);
        var (q, k, v) = (qkv[0], qkv[1], qkv[2]);
        var logits = q.matmul(k.transpose(-2, -1)) * Math.Pow(c / w.Heads, -0.5);
        if (keyBias is not null) logits = logits + keyBias.unsqueeze(1).unsqueeze(1);
        var attn = logits.softmax(-1);
        var o = attn.matmul(v).transpose(1, 2).reshape(b, n, c);
        return (nn.functional.linear(o, w.Proj, w.ProjB), k, attn);
    }

    private static Tensor MlpHalf(EncoderBlock block, Tensor h)
    {
        var p = block.named_parameters().ToDictionary(t => t.name, t => t.parameter);
        var hn = nn.functional.layer_norm(h, new long[] { h.shape[2] }, p["norm2.weight"], p["norm2.bias"], EncoderBlock.NormEps);
        return h + block.Mlp.forward(hn);
    }

    // ---------------------------------------------------------------- Mixture-of-Depths

    [Fact]
    public void Routing_at_capacity_1_with_fresh_routers_equals_the_plain_encoder()
    {
        using var scope = NewDisposeScope();
        using var encoder = new TransformerEncoder(16, 3, 2, 2.0);
        using var routers = new DepthRouters(16, 3);
        var x = randn(2, 9, 16);
        var plain = encoder.forward(x);
        var routed = encoder.Forward(x, new DepthRouting(routers, capacity: 1.0, firstLayer: 0));
        // Every token goes through; r = 0·x + 1 = 1 exactly, so the only difference is the rounding of x + (y - x).
        Assert.True(MaxDiff(plain, routed) < 1e-5f, $"max |routed - plain| = {MaxDiff(plain, routed)}");
        foreach (var (name, p) in routers.named_parameters())
            Assert.Equal(name.EndsWith("weight", StringComparison.Ordinal) ? 0f : 1f, p.abs().max().item<float>());
    }

    [Fact]
    public void Routing_sends_the_top_k_tokens_through_the_block_scaled_by_the_router_and_leaves_the_rest()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 11, D = 8;
        using var encoder = new TransformerEncoder(D, 2, 2, 2.0);
        using var routers = new DepthRouters(D, 1);
        using (no_grad()) { routers[0].weight!.normal_(0, 1); routers[0].bias!.fill_(0.5); }
        var x = randn(B, N, D);

        var y = encoder.Forward(x, new DepthRouting(routers, capacity: 0.5, firstLayer: 1, pinnedTokens: 1));
        Assert.Equal(new long[] { B, N, D }, y.shape);

        // By hand: block 0 plain; block 1 routes ceil(0.5 * 10) = 5 of tokens 1..10 plus the pinned class token.
        Assert.Equal(1 + 5, DepthRouting.Routed(N, 1, 0.5));
        var h = encoder[0].forward(x);
        var r = routers[0].forward(h).squeeze(-1);
        var expected = h.clone();
        for (var s = 0; s < B; s++) {
            var chosen = r[s, 1..].topk(5).indexes.sort().Values + 1;
            var idx = cat(new[] { tensor(new long[] { 0 }), chosen });
            var sel = h[s].index_select(0, idx).unsqueeze(0);
            var update = (encoder[1].forward(sel) - sel).squeeze(0);
            var scale = cat(new[] { ones(1), r[s].index_select(0, chosen) });
            expected[s].index_add_(0, idx, update * scale.unsqueeze(-1), 1);
            // The tokens not chosen skip the block.
            var skipped = Enumerable.Range(1, N - 1).Where(i => !chosen.data<long>().Contains(i)).ToArray();
            foreach (var i in skipped)
                Assert.Equal(0f, MaxDiff(y[s, i], h[s, i]));
        }
        Assert.True(MaxDiff(y, expected) < 1e-5f, $"max |routed - by hand| = {MaxDiff(y, expected)}");

        // The router is on the gradient path.
        y.pow(2).sum().backward();
        Assert.True(routers[0].weight!.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void Routing_is_checked()
    {
        using var scope = NewDisposeScope();
        using var encoder = new TransformerEncoder(8, 2, 2, 2.0);
        var x = randn(1, 5, 8);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DepthRouting(new DepthRouters(8, 1), 0.0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DepthRouting(new DepthRouters(8, 1), 1.5, 0));
        Assert.Throws<ArgumentException>(() => encoder.Forward(x, new DepthRouting(new DepthRouters(6, 1), 0.5, 0)));       // width
        Assert.Throws<ArgumentOutOfRangeException>(() => encoder.Forward(x, new DepthRouting(new DepthRouters(8, 2), 0.5, 1))); // past the last block
        var both = Assert.Throws<ArgumentException>(() => encoder.Forward(x,
            new DepthRouting(new DepthRouters(8, 1), 0.5, 0), new TokenPruning(0.5, 0, 1)));
        Assert.Contains("both act inside block 0", both.Message, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------- ToMe

    [Fact]
    public void Merging_with_r_0_is_the_plain_encoder()
    {
        using var scope = NewDisposeScope();
        using var encoder = new TransformerEncoder(16, 3, 2, 2.0);
        var x = randn(2, 9, 16);
        Assert.Equal(0f, MaxDiff(encoder.forward(x), encoder.Forward(x, new TokenMerging(0, 0, 3))));
    }

    // facebookresearch/ToMe bipartite_soft_matching + merge_wavg with class_token = True, written out.
    private static (Tensor X, Tensor Size) ToMeReference(Tensor x, Tensor metric, Tensor size, int r)
    {
        var (n, t, c) = (x.shape[0], x.shape[1], x.shape[2]);
        r = (int)Math.Min(r, (t - 1) / 2);
        metric = metric / metric.norm(-1, keepdim: true);
        var a = metric.slice(1, 0, t, 2);
        var bb = metric.slice(1, 1, t, 2);
        var scores = a.matmul(bb.transpose(-1, -2));
        scores[.., 0, ..] = float.NegativeInfinity;
        var (nodeMax, nodeIdx) = scores.max(-1);
        var edgeIdx = nodeMax.argsort(-1, descending: true).unsqueeze(-1);
        var unmIdx = edgeIdx[.., r..].sort(1).Values;
        var srcIdx = edgeIdx[.., ..r];
        var dstIdx = nodeIdx.unsqueeze(-1).gather(1, srcIdx);
        Tensor Merge(Tensor v)
        {
            var w = v.shape[2];
            var src = v.slice(1, 0, t, 2);
            var dst = v.slice(1, 1, t, 2);
            var unm = src.gather(1, unmIdx.expand(n, unmIdx.shape[1], w));
            var moved = src.gather(1, srcIdx.expand(n, r, w));
            // scatter_reduce(mode="sum") = scatter_add
            dst = dst.scatter_add(1, dstIdx.expand(n, r, w), moved);
            return cat(new[] { unm, dst }, 1);
        }
        var merged = Merge(x * size);
        var newSize = Merge(size);
        return (merged / newSize, newSize);
    }

    [Fact]
    public void Merging_follows_the_public_code_with_proportional_attention_in_the_following_blocks()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 17, D = 16, R = 3;
        using var encoder = new TransformerEncoder(D, 3, 4, 2.0);
        var x = randn(B, N, D);

        var y = encoder.Forward(x, new TokenMerging(R, firstLayer: 0, layers: 2, prefixTokens: 1));
        Assert.Equal(new long[] { B, N - 2 * R, D }, y.shape);
        Assert.Equal(N - 2 * R, TokenMerging.LengthAfter(N, 1, R, 0, 2, layer: 2));

        // By hand: blocks 0 and 1 merge (block 1 with log(size) on its logits), block 2 only adds log(size).
        var h = x;
        var size = ones(B, N, 1);
        for (var layer = 0; layer < 3; layer++) {
            var w = Weights(encoder[layer]);
            var (o, k, _) = AttentionByHand(w, h, layer == 0 ? null : size.squeeze(-1).log());
            h = h + o;
            if (layer < 2) (h, size) = ToMeReference(h, k.mean(new long[] { 1 }), size, R);
            h = MlpHalf(encoder[layer], h);
        }
        Assert.True(MaxDiff(y, h) < 2e-5f, $"max |ToMe - reference| = {MaxDiff(y, h)}");
        // Every patch is in exactly one token: the sizes sum to N.
        Assert.Equal((float)N, size[0].sum().item<float>(), 4);
        // The class token stays first and is never merged.
        Assert.Equal(1f, size[.., 0].min().item<float>());
    }

    [Fact]
    public void Merging_caps_r_at_half_the_mergeable_tokens()
    {
        using var scope = NewDisposeScope();
        using var encoder = new TransformerEncoder(8, 2, 2, 2.0);
        var y = encoder.Forward(randn(1, 9, 8), new TokenMerging(10, 0, 2));
        Assert.Equal(TokenMerging.LengthAfter(9, 1, 10, 0, 2, 1), (int)y.shape[1]);   // 9 -> 5 -> 3
        Assert.Equal(3, (int)y.shape[1]);
    }

    // ---------------------------------------------------------------- EViT

    [Fact]
    public void Pruning_at_keep_rate_1_is_the_plain_encoder()
    {
        using var scope = NewDisposeScope();
        using var encoder = new TransformerEncoder(16, 3, 2, 2.0);
        var x = randn(2, 9, 16);
        Assert.Equal(0f, MaxDiff(encoder.forward(x), encoder.Forward(x, new TokenPruning(1.0, 0, 3))));
    }

    [Fact]
    public void Pruning_follows_the_public_code()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 17, D = 16;
        using var encoder = new TransformerEncoder(D, 2, 4, 2.0);
        var x = randn(B, N, D);

        var y = encoder.Forward(x, new TokenPruning(0.5, firstLayer: 0, layers: 2));
        // Block 0: 16 -> 8 kept + 1 fused; block 1: ceil(0.5 * 9) = 5 kept + 1 fused.
        Assert.Equal(new long[] { B, 1 + 5 + 1, D }, y.shape);
        Assert.Equal(7, TokenPruning.LengthAfter(N, 1, 0.5, true, 0, 2, 1));

        var h = x;
        for (var layer = 0; layer < 2; layer++) {
            var w = Weights(encoder[layer]);
            var (o, _, attn) = AttentionByHand(w, h);
            h = h + o;
            var (n, c) = (h.shape[1], h.shape[2]);
            var left = (int)Math.Ceiling(0.5 * (n - 1));
            var clsAttn = attn[.., .., 0, 1..].mean(new long[] { 1 });              // [B, N-1]
            var (_, idx) = clsAttn.topk(left, dim: 1, largest: true, sorted: true);
            var nonCls = h[.., 1..];
            var others = nonCls.gather(1, idx.unsqueeze(-1).expand(-1, -1, c));
            // complement_idx: the indices not in idx
            var mask = ones(B, n - 1, dtype: ScalarType.Bool).scatter(1, idx, zeros(B, left, dtype: ScalarType.Bool));
            var compl = arange(n - 1).expand(B, n - 1).masked_select(mask).reshape(B, n - 1 - left);
            var nonTopk = nonCls.gather(1, compl.unsqueeze(-1).expand(-1, -1, c));
            var nonTopkAttn = clsAttn.gather(1, compl);
            var extra = (nonTopk * nonTopkAttn.unsqueeze(-1)).sum(1, keepdim: true);
            h = cat(new[] { h[.., 0..1], others, extra }, 1);
            h = MlpHalf(encoder[layer], h);
        }
        Assert.True(MaxDiff(y, h) < 2e-5f, $"max |EViT - reference| = {MaxDiff(y, h)}");
    }

    [Fact]
    public void Pruning_without_fusion_drops_the_rest_and_the_warm_up_follows_the_public_schedule()
    {
        using var scope = NewDisposeScope();
        using var encoder = new TransformerEncoder(8, 1, 2, 2.0);
        Assert.Equal(new long[] { 1, 1 + 7, 8 }, encoder.Forward(randn(1, 11, 8), new TokenPruning(0.7, 0, 1, fuse: false)).shape);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenPruning(0, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenPruning(1.2, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenPruning(0.5, 0, 1, prefixTokens: 0));

        // helpers.adjust_keep_rate: 1 before the start, cosine down, the target after the end.
        Assert.Equal(1.0, TokenPruning.WarmupKeepRate(step: 5, stepsPerEpoch: 10, startEpochs: 1, endEpochs: 3, keepRate: 0.7));
        Assert.Equal(0.85, TokenPruning.WarmupKeepRate(20, 10, 1, 3, 0.7), 12);
        Assert.Equal(0.7, TokenPruning.WarmupKeepRate(30, 10, 1, 3, 0.7));
    }
}
