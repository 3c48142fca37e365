using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Blocks;

/// <summary>TokenFormer's Pattention, its block and encoder, and growing by parameter tokens.</summary>
public class ParameterTokenTests
{
    public ParameterTokenTests() => torch.manual_seed(3);

    private static float MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    [Fact]
    public void Pattention_registers_the_public_names_and_computes_gelu_of_the_l2_normalised_scores()
    {
        using var scope = NewDisposeScope();
        using var p = new Pattention(8, 12, 5);
        var table = p.named_parameters().Select(t => (t.name, string.Join(",", t.parameter.shape))).ToArray();
        Assert.Equal(new[] { ("key_param_tokens", "5,8"), ("value_param_tokens", "5,12") }, table);

        var x = randn(2, 3, 8);
        var y = p.forward(x);
        Assert.Equal(new long[] { 2, 3, 12 }, y.shape);
        // A = X K^T; S = GELU(A / ||A||_2 * sqrt(n)); Y = S V.
        var a = x.matmul(p.Keys.t());
        var s = nn.functional.gelu(a / a.pow(2).sum(-1, keepdim: true).sqrt() * Math.Sqrt(5));
        Assert.True(MaxDiff(y, s.matmul(p.Values)) < 1e-6f);
        Assert.Equal(5L * (8 + 12), p.MultiplyAdds);
        Assert.Throws<ArgumentException>(() => p.forward(randn(2, 3, 7)));
    }

    [Fact]
    public void Pattention_keys_start_at_std_0_02()
    {
        using var scope = NewDisposeScope();
        using var p = new Pattention(256, 16, 512, valueStd: 0.1);
        Assert.Equal(0.02, p.Keys.std().item<float>(), 3);
        Assert.Equal(0.1, p.Values.std().item<float>(), 2);
    }

    [Fact]
    public void A_TokenFormer_encoder_holds_only_parameter_tokens_under_the_public_names()
    {
        using var scope = NewDisposeScope();
        using var encoder = new TokenFormerEncoder(dim: 16, depth: 2, heads: 2, qkvTokens: 6, projTokens: 7, ffnTokens: 9);
        var names = encoder.named_parameters().Select(t => $"{t.name}:{string.Join(",", t.parameter.shape)}").ToArray();
        var expected = new List<string>();
        for (var i = 0; i < 2; i++) {
            foreach (var (part, n) in new[] { ("attention.query", 6), ("attention.key", 6), ("attention.value", 6), ("attention.proj", 7), ("mlp", 9) }) {
                expected.Add($"{i}.{part}.key_param_tokens:{n},16");
                expected.Add($"{i}.{part}.value_param_tokens:{n},16");
            }
        }
        Assert.Equal(expected, names);
        Assert.Equal(new long[] { 3, 5, 16 }, encoder.forward(randn(3, 5, 16)).shape);
        // Values start at the public code's wang_init: 2 / layers / sqrt(D).
        Assert.InRange(encoder[0].named_parameters().First(t => t.name == "mlp.value_param_tokens").parameter.std().item<float>(), 0.8 * 0.25, 1.2 * 0.25);
    }

    private static Dictionary<string, Tensor> State(nn.Module m) => m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    [Fact]
    public void Zero_new_tokens_give_the_smaller_model_exactly_when_sqrt_n_keeps_the_old_n_and_not_otherwise()
    {
        using var scope = NewDisposeScope();
        using var small = new TokenFormerEncoder(16, 2, 2, qkvTokens: 4, projTokens: 4, ffnTokens: 8);
        var x = randn(2, 5, 16);
        var expected = small.forward(x);

        using var kept = new TokenFormerEncoder(16, 2, 2, qkvTokens: 8, projTokens: 8, ffnTokens: 16);
        var report = ParameterTokenGrowth.Load(kept, State(small), NewTokenInit.Zero, keepScale: true);
        Assert.Equal(20, report.Grown.Count);                     // 5 Pattentions x (keys, values) x 2 blocks
        Assert.Empty(report.Copied);
        Assert.Equal(2L * (4 + 4 + 4 + 4 + 8), report.AddedPairs);
        Assert.Contains("0.mlp.key_param_tokens: 8 -> 16 tokens, new rows zero", report.ToString(), StringComparison.Ordinal);
        Assert.True(MaxDiff(kept.forward(x), expected) < 1e-6f, $"kept scale: {MaxDiff(kept.forward(x), expected)}");

        // The public code's sqrt(n) follows the new n: the same scores are scaled by sqrt(2) before the GELU.
        using var followed = new TokenFormerEncoder(16, 2, 2, 8, 8, 16);
        ParameterTokenGrowth.Load(followed, State(small), NewTokenInit.Zero, keepScale: false);
        Assert.True(MaxDiff(followed.forward(x), expected) > 1e-3f, $"new scale: {MaxDiff(followed.forward(x), expected)}");

        // Zero keys hide whatever the new values are (GELU(0) = 0).
        using var zeroKeys = new TokenFormerEncoder(16, 2, 2, 8, 8, 16);
        ParameterTokenGrowth.Load(zeroKeys, State(small), NewTokenInit.ZeroKeys, keepScale: true);
        Assert.True(MaxDiff(zeroKeys.forward(x), expected) < 1e-6f);

        // The public loader leaves the new rows at their own random init: a different function.
        using var random = new TokenFormerEncoder(16, 2, 2, 8, 8, 16);
        ParameterTokenGrowth.Load(random, State(small), NewTokenInit.Random, keepScale: true);
        Assert.True(MaxDiff(random.forward(x), expected) > 1e-3f);
    }

    [Fact]
    public void Zero_new_pairs_get_no_gradient_while_zero_keys_with_random_values_train()
    {
        using var scope = NewDisposeScope();
        using var small = new Pattention(8, 8, 4);
        var x = randn(6, 8);

        Tensor NewKeyGradient(NewTokenInit init, out Tensor newValueGradient)
        {
            var grown = new Pattention(8, 8, 6);
            ParameterTokenGrowth.Load(grown, State(small), init, keepScale: true);
            grown.forward(x).pow(2).sum().backward();
            newValueGradient = grown.Values.grad![4..].abs().sum();
            return grown.Keys.grad![4..].abs().sum();
        }

        Assert.Equal(0f, NewKeyGradient(NewTokenInit.Zero, out var zeroValues).item<float>());
        Assert.Equal(0f, zeroValues.item<float>());
        Assert.True(NewKeyGradient(NewTokenInit.ZeroKeys, out _).item<float>() > 0);
    }

    [Fact]
    public void Growing_is_refused_for_fewer_tokens_or_another_shape_and_copies_nothing()
    {
        using var scope = NewDisposeScope();
        using var big = new Pattention(8, 8, 6);
        using var small = new Pattention(8, 8, 4);
        var before = small.Keys.detach().clone();
        var fewer = Assert.Throws<ArgumentException>(() => ParameterTokenGrowth.Load(small, State(big)));
        Assert.Contains("key_param_tokens: 6 parameter tokens in the checkpoint, 4 in the model (growing to fewer tokens)", fewer.Message, StringComparison.Ordinal);
        Assert.Equal(0f, MaxDiff(small.Keys, before));

        using var wider = new Pattention(10, 8, 6);
        var width = Assert.Throws<ArgumentException>(() => ParameterTokenGrowth.Load(wider, State(small)));
        Assert.Contains("key_param_tokens: [4,8] in the checkpoint, [6,10] in the model", width.Message, StringComparison.Ordinal);
    }
}
