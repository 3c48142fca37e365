using System;
using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Blocks;

public class BlockShapeTests
{
    public BlockShapeTests() => torch.manual_seed(1234);

    [Fact]
    public void PatchEmbedding_maps_image_to_patch_tokens()
    {
        using var scope = NewDisposeScope();
        using var embed = new PatchEmbedding(inChannels: 1, patchSize: 7, dim: 16);
        var y = embed.forward(randn(3, 1, 28, 28));
        Assert.Equal(new long[] { 3, 16, 16 }, y.shape); // (28/7)*(28/7) = 16 patches
        Assert.Equal(7, embed.PatchSize);
        Assert.Equal(16, embed.Dim);
    }

    [Fact]
    public void PatchEmbedding_orders_patches_row_major()
    {
        using var scope = NewDisposeScope();
        using var embed = new PatchEmbedding(1, 2, 4);
        // Only the top-right 2x2 patch (row 0, column 1 -> token 1) is non-zero.
        var image = zeros(1, 1, 4, 4);
        image[0, 0, 0, 2] = tensor(5.0f);
        var y = embed.forward(image);
        var bias = embed.state_dict()["proj.bias"];
        for (var t = 0; t < 4; t++) {
            var equalsBias = y[0, t].allclose(bias);
            Assert.Equal(t != 1, equalsBias);
        }
    }

    [Fact]
    public void PatchEmbedding_rejects_wrong_channels_and_sizes()
    {
        using var scope = NewDisposeScope();
        using var embed = new PatchEmbedding(1, 7, 8);
        Assert.Contains("channels", Assert.Throws<ArgumentException>(() => embed.forward(zeros(2, 3, 28, 28))).Message);
        Assert.Contains("not divisible", Assert.Throws<ArgumentException>(() => embed.forward(zeros(2, 1, 30, 28))).Message);
    }

    [Fact]
    public void Tokens_have_timm_shapes_and_initialisation()
    {
        using var cls = Tokens.Create(1, 32);
        using var reg = Tokens.Create(4, 32);
        using var pos = Tokens.CreatePositions(197, 64);
        Assert.Equal(new long[] { 1, 1, 32 }, cls.shape);
        Assert.Equal(new long[] { 1, 4, 32 }, reg.shape);
        Assert.Equal(new long[] { 1, 197, 64 }, pos.shape);
        Assert.True(cls.requires_grad && reg.requires_grad && pos.requires_grad);
        Assert.True(reg.abs().max().item<float>() < 1e-4f);     // normal std 1e-6
        Assert.True(reg.abs().max().item<float>() > 0f);
        var std = pos.std().item<float>();
        Assert.InRange(std, 0.017f, 0.023f);                      // trunc normal std 0.02
    }

    [Fact]
    public void Attention_mlp_and_block_keep_token_shape()
    {
        using var scope = NewDisposeScope();
        var x = randn(2, 5, 12);
        using var attn = new Attention(12, 3);
        using var mlp = new Mlp(12, 48);
        using var block = new EncoderBlock(12, 3, 4.0);
        Assert.Equal(x.shape, attn.forward(x).shape);
        Assert.Equal(x.shape, mlp.forward(x).shape);
        Assert.Equal(x.shape, block.forward(x).shape);
        Assert.Equal(4, attn.HeadDim);
    }

    [Fact]
    public void TransformerEncoder_keeps_shape_and_exposes_blocks()
    {
        using var scope = NewDisposeScope();
        using var encoder = new TransformerEncoder(dim: 8, depth: 3, heads: 2, mlpRatio: 2.0);
        var x = randn(2, 6, 8);
        var y = encoder.forward(x);
        Assert.Equal(x.shape, y.shape);
        Assert.Equal(3, encoder.Depth);
        Assert.Equal(8, encoder.Dim);
        Assert.Equal(8, encoder[2].Dim);
        Assert.Equal(16, encoder[0].Mlp.HiddenFeatures);

        // The encoder is its blocks applied in order.
        var manual = encoder[2].forward(encoder[1].forward(encoder[0].forward(x)));
        Assert.True(manual.allclose(y, rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void ClassifierHead_is_a_linear_layer()
    {
        using var scope = NewDisposeScope();
        using var head = new ClassifierHead(dim: 16, classes: 10);
        var x = randn(4, 16);
        var y = head.forward(x);
        Assert.Equal(new long[] { 4, 10 }, y.shape);
        var sd = head.state_dict();
        Assert.Equal(new long[] { 10, 16 }, sd["weight"].shape);
        Assert.Equal(new long[] { 10 }, sd["bias"].shape);
        Assert.Equal(0f, sd["bias"].abs().sum().item<float>());
        Assert.True(y.allclose(x.matmul(sd["weight"].t()) + sd["bias"], rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void AttentionPool_reduces_tokens_to_one_vector()
    {
        using var scope = NewDisposeScope();
        using var pool = new AttentionPool(dim: 16, heads: 4);
        var y = pool.forward(randn(3, 7, 16));
        Assert.Equal(new long[] { 3, 16 }, y.shape);
        Assert.Equal(64, pool.state_dict()["mlp.fc1.weight"].shape[0]); // hidden = 16 * 4.0
    }

    [Fact]
    public void Pooling_cls_takes_the_first_token()
    {
        using var scope = NewDisposeScope();
        var tokens = randn(2, 5, 3);
        var pooled = Pooling.Cls(tokens);
        Assert.Equal(new long[] { 2, 3 }, pooled.shape);
        Assert.True(pooled.allclose(tokens[.., 0], rtol: 0, atol: 0));
    }

    [Fact]
    public void AveragePatches_excludes_prefix_tokens()
    {
        using var scope = NewDisposeScope();
        var patches = randn(2, 4, 3);
        var prefix = full(2, 2, 3, 1e6f);                 // CLS + one register token, huge
        var tokens = cat(new[] { prefix, patches }, 1);   // [2,6,3]
        var pooled = Pooling.AveragePatches(tokens, prefixTokens: 2);
        Assert.Equal(new long[] { 2, 3 }, pooled.shape);
        Assert.True(pooled.abs().max().item<float>() < 100f);
        Assert.True(pooled.allclose(patches.mean(new long[] { 1 }), rtol: 0, atol: 1e-6));

        // With no prefix tokens every token counts.
        Assert.True(Pooling.AveragePatches(patches, 0).allclose(patches.mean(new long[] { 1 }), rtol: 0, atol: 1e-6));
        Assert.Throws<ArgumentOutOfRangeException>(() => Pooling.AveragePatches(tokens, 6));
    }

    [Fact]
    public void Prepend_puts_prefixes_first_in_the_given_order()
    {
        using var scope = NewDisposeScope();
        var x = zeros(3, 4, 2);
        var cls = full(1, 1, 2, 1f);
        var reg = full(1, 2, 2, 2f);
        var y = Tokens.Prepend(x, cls, reg);
        Assert.Equal(new long[] { 3, 7, 2 }, y.shape);
        var expectedRow = new[] { 1f, 2f, 2f, 0f, 0f, 0f, 0f };
        for (var b = 0; b < 3; b++)
            for (var t = 0; t < 7; t++)
                Assert.Equal(expectedRow[t], y[b, t, 0].item<float>());

        // Reversed order gives reversed prefixes.
        var z = Tokens.Prepend(x, reg, cls);
        Assert.Equal(2f, z[0, 0, 0].item<float>());
        Assert.Equal(1f, z[0, 2, 0].item<float>());
        Assert.Equal(x.shape, Tokens.Prepend(x).shape);
    }

    [Fact]
    public void Prepend_rejects_a_prefix_of_another_width()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => Tokens.Prepend(zeros(2, 4, 8), zeros(1, 1, 6)));
        Assert.Contains("[1,1,6]", e.Message);
    }
}
