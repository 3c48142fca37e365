using System;
using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Blocks;

public class InitializationTests
{
    public InitializationTests() => torch.manual_seed(2024);

    [Fact]
    public void TruncatedNormal_stays_in_bounds_with_the_truncated_spread()
    {
        using var scope = NewDisposeScope();
        var t = TorchSharp.torch.zeros(20000);
        Initialization.TruncatedNormal_(t, std: 1.0, a: -1.0, b: 1.0);
        Assert.True(t.min().item<float>() >= -1f);
        Assert.True(t.max().item<float>() <= 1f);
        // Standard normal truncated to [-1, 1]: std = sqrt(1 - 2 phi(1) / (Phi(1) - Phi(-1))) = 0.5396.
        Assert.InRange(t.std().item<float>(), 0.52f, 0.56f);
        Assert.InRange(t.mean().item<float>(), -0.02f, 0.02f);
    }

    [Fact]
    public void TruncatedNormal_keeps_the_parameter_a_trainable_leaf()
    {
        using var p = Tokens.CreatePositions(4, 4);
        Assert.True(p.requires_grad);
        Assert.True(p.is_leaf);
    }

    [Fact]
    public void Blocks_initialise_like_timm()
    {
        using var scope = NewDisposeScope();
        using var reg = Tokens.Create(64, 64);
        using var pos = Tokens.CreatePositions(197, 64);
        using var head = new ClassifierHead(256, 100);
        using var pool = new AttentionPool(256, 4);

        Assert.InRange(reg.std().item<float>(), 0.8e-6f, 1.2e-6f);
        Assert.InRange(pos.std().item<float>(), 0.018f, 0.022f);
        Assert.InRange(head.state_dict()["weight"].std().item<float>(), 0.018f, 0.022f);
        Assert.Equal(0f, head.state_dict()["bias"].abs().max().item<float>());
        // latent: trunc normal with std dim^-0.5 = 1/16; 256 samples.
        Assert.InRange(pool.state_dict()["latent"].std().item<float>(), 0.05f, 0.075f);
    }
}
