using System.Linq;
using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Blocks;

public class StateDictTests
{
    public StateDictTests() => torch.manual_seed(7);

    [Fact]
    public void TransformerEncoder_registered_as_blocks_has_timm_keys()
    {
        using var host = new TimmLikeHost(dim: 8, depth: 2, heads: 2, classes: 3);
        string[] expected =
        [
            "blocks.0.norm1.weight", "blocks.0.norm1.bias",
            "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias",
            "blocks.0.attn.proj.weight", "blocks.0.attn.proj.bias",
            "blocks.0.norm2.weight", "blocks.0.norm2.bias",
            "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc1.bias",
            "blocks.0.mlp.fc2.weight", "blocks.0.mlp.fc2.bias",
            "blocks.1.norm1.weight", "blocks.1.norm1.bias",
            "blocks.1.attn.qkv.weight", "blocks.1.attn.qkv.bias",
            "blocks.1.attn.proj.weight", "blocks.1.attn.proj.bias",
            "blocks.1.norm2.weight", "blocks.1.norm2.bias",
            "blocks.1.mlp.fc1.weight", "blocks.1.mlp.fc1.bias",
            "blocks.1.mlp.fc2.weight", "blocks.1.mlp.fc2.bias",
            "head.weight", "head.bias",
        ];
        var sd = host.state_dict();
        Assert.Equal(expected, sd.Keys.ToArray());
        Assert.Equal(expected, host.named_parameters().Select(p => p.name).ToArray());

        // timm's parameter shapes for dim 8, mlp ratio 4.
        Assert.Equal(new long[] { 24, 8 }, sd["blocks.0.attn.qkv.weight"].shape);
        Assert.Equal(new long[] { 8, 8 }, sd["blocks.1.attn.proj.weight"].shape);
        Assert.Equal(new long[] { 32, 8 }, sd["blocks.0.mlp.fc1.weight"].shape);
        Assert.Equal(new long[] { 8, 32 }, sd["blocks.0.mlp.fc2.weight"].shape);
        Assert.Equal(new long[] { 3, 8 }, sd["head.weight"].shape);
    }

    [Fact]
    public void AttentionPool_has_timm_attention_pool_latent_keys()
    {
        using var pool = new AttentionPool(dim: 8, heads: 2, mlpRatio: 2.0);
        string[] expected =
        [
            "latent",
            "q.weight", "q.bias",
            "kv.weight", "kv.bias",
            "proj.weight", "proj.bias",
            "norm.weight", "norm.bias",
            "mlp.fc1.weight", "mlp.fc1.bias",
            "mlp.fc2.weight", "mlp.fc2.bias",
        ];
        var sd = pool.state_dict();
        Assert.Equal(expected, sd.Keys.ToArray());
        Assert.Equal(new long[] { 1, 1, 8 }, sd["latent"].shape);
        Assert.Equal(new long[] { 16, 8 }, sd["kv.weight"].shape);
        Assert.Equal(new long[] { 16, 8 }, sd["mlp.fc1.weight"].shape);
    }

    [Fact]
    public void PatchEmbedding_has_proj_keys()
    {
        using var embed = new PatchEmbedding(3, 4, 8);
        var sd = embed.state_dict();
        Assert.Equal(new[] { "proj.weight", "proj.bias" }, sd.Keys.ToArray());
        Assert.Equal(new long[] { 8, 3, 4, 4 }, sd["proj.weight"].shape);
    }

    [Fact]
    public void State_dict_round_trips_between_two_instances()
    {
        using var scope = NewDisposeScope();
        using var a = new TimmLikeHost(8, 2, 2, 3);
        using var b = new TimmLikeHost(8, 2, 2, 3);
        var x = randn(2, 5, 8);
        Assert.False(a.forward(x).allclose(b.forward(x)));
        b.load_state_dict(a.state_dict());
        Assert.True(a.forward(x).allclose(b.forward(x), rtol: 0, atol: 1e-6));
    }
}
