using System;
using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Blocks;

public class AttentionTests
{
    public AttentionTests() => torch.manual_seed(42);

    // softmax(Q K^T / sqrt(d)) V per head, written out by hand.
    private static Tensor NaiveAttention(Tensor q, Tensor k, Tensor v)
    {
        var d = q.shape[^1];
        var scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(d);
        return scores.softmax(-1).matmul(v);
    }

    [Fact]
    public void Fused_attention_equals_naive_softmax_attention()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 5, D = 12, H = 3, hd = D / H;
        using var attn = new Attention(D, H);
        var x = randn(B, N, D);

        var sd = attn.state_dict();
        var qkv = nn.functional.linear(x, sd["qkv.weight"], sd["qkv.bias"]);          // [B,N,3D]
        var q = qkv.narrow(2, 0, D).reshape(B, N, H, hd).transpose(1, 2);               // [B,H,N,hd]
        var k = qkv.narrow(2, D, D).reshape(B, N, H, hd).transpose(1, 2);
        var v = qkv.narrow(2, 2 * D, D).reshape(B, N, H, hd).transpose(1, 2);
        var o = NaiveAttention(q, k, v).transpose(1, 2).reshape(B, N, D);
        var expected = nn.functional.linear(o, sd["proj.weight"], sd["proj.bias"]);

        var actual = attn.forward(x);
        Assert.Equal(expected.shape, actual.shape);
        var maxDiff = (actual - expected).abs().max().item<float>();
        Assert.True(maxDiff < 1e-5f, $"max |fused - naive| = {maxDiff}");
    }

    [Fact]
    public void AttentionPool_equals_naive_pooling_with_its_latent_query()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 6, D = 8, H = 2, hd = D / H;
        using var pool = new AttentionPool(D, H, mlpRatio: 2.0);
        var x = randn(B, N, D);
        var sd = pool.state_dict();

        var q = nn.functional.linear(sd["latent"].expand(B, 1, D), sd["q.weight"], sd["q.bias"]).reshape(B, 1, H, hd).transpose(1, 2);
        var kv = nn.functional.linear(x, sd["kv.weight"], sd["kv.bias"]);
        var k = kv.narrow(2, 0, D).reshape(B, N, H, hd).transpose(1, 2);
        var v = kv.narrow(2, D, D).reshape(B, N, H, hd).transpose(1, 2);
        var o = nn.functional.linear(NaiveAttention(q, k, v).transpose(1, 2).reshape(B, 1, D), sd["proj.weight"], sd["proj.bias"]);
        var normed = nn.functional.layer_norm(o, new long[] { D }, sd["norm.weight"], sd["norm.bias"], 1e-6);
        var hidden = nn.functional.gelu(nn.functional.linear(normed, sd["mlp.fc1.weight"], sd["mlp.fc1.bias"]));
        var expected = (o + nn.functional.linear(hidden, sd["mlp.fc2.weight"], sd["mlp.fc2.bias"]))[.., 0];

        var actual = pool.forward(x);
        var maxDiff = (actual - expected).abs().max().item<float>();
        Assert.True(maxDiff < 1e-5f, $"max |pool - naive| = {maxDiff}");
    }

    [Fact]
    public void Heads_must_divide_dim()
    {
        var e = Assert.Throws<ArgumentException>(() => new Attention(10, 3));
        Assert.Contains("heads (3) must divide the embedding dimension (10)", e.Message);
        Assert.Throws<ArgumentException>(() => new EncoderBlock(10, 4, 4.0));
        Assert.Throws<ArgumentException>(() => new TransformerEncoder(10, 2, 4, 4.0));
        Assert.Throws<ArgumentException>(() => new AttentionPool(10, 3));
    }

    [Fact]
    public void Encoder_block_is_pre_norm_residual()
    {
        using var scope = NewDisposeScope();
        using var block = new EncoderBlock(8, 2, 2.0);
        var x = randn(2, 3, 8);
        var sd = block.state_dict();
        var n1 = nn.functional.layer_norm(x, new long[] { 8 }, sd["norm1.weight"], sd["norm1.bias"], 1e-6);
        var h = x + block.Attn.forward(n1);
        var n2 = nn.functional.layer_norm(h, new long[] { 8 }, sd["norm2.weight"], sd["norm2.bias"], 1e-6);
        var expected = h + block.Mlp.forward(n2);
        Assert.True(block.forward(x).allclose(expected, rtol: 0, atol: 1e-6));
    }
}
