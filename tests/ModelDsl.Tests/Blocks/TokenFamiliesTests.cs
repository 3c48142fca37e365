using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Blocks;

/// <summary>VPT-deep prompts, VQT query tokens, the resampler and ChannelViT's patch embedding.</summary>
public class TokenFamiliesTests
{
    public TokenFamiliesTests() => torch.manual_seed(11);

    private static long Live => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    private static float MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    // softmax(Q K^T / sqrt(d)) V per head, written out by hand.
    private static Tensor NaiveAttention(Tensor q, Tensor k, Tensor v)
        => (q.matmul(k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1])).softmax(-1).matmul(v);

    // ---------------------------------------------------------------- VPT-deep

    [Fact]
    public void Deep_prompts_insert_before_block_0_then_replace_the_slice_before_every_later_block()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 5, D = 8, P = 3, L = 3, Offset = 1;
        using var encoder = new TransformerEncoder(D, L, 2, 2.0);
        var x = randn(B, N, D);
        var prompts = randn(L, P, D);

        var y = encoder.Forward(x, new DeepPrompts(prompts, firstLayer: 0, offset: Offset));
        Assert.Equal(new long[] { B, N + P, D }, y.shape);

        // By hand: insert prompts[0] after the prefix, then overwrite [Offset, Offset+P) before blocks 1.. .
        var h = cat(new[] { x[.., ..Offset], prompts[0].expand(B, P, D), x[.., Offset..] }, 1);
        h = encoder[0].forward(h);
        for (var i = 1; i < L; i++) {
            Assert.Equal(N + P, h.shape[1]);   // the length holds through every block
            h = cat(new[] { h[.., ..Offset], prompts[i].expand(B, P, D), h[.., (Offset + P)..] }, 1);
            h = encoder[i].forward(h);
        }
        Assert.True(MaxDiff(y, h) < 1e-6f, $"max |Forward - by hand| = {MaxDiff(y, h)}");

        // Prompts at either end of the sequence.
        Assert.Equal(new long[] { B, N + P, D }, encoder.Forward(x, new DeepPrompts(prompts, 0, 0)).shape);
        Assert.Equal(new long[] { B, N + P, D }, encoder.Forward(x, new DeepPrompts(prompts, 0, N)).shape);
    }

    [Fact]
    public void Deep_prompts_of_every_block_get_gradients_through_a_frozen_encoder()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 4, D = 8, P = 2, L = 3;
        using var encoder = new TransformerEncoder(D, L, 2, 2.0);
        Freezing.Freeze(encoder);
        var x = randn(B, N, D);
        var prompts = randn(L, P, D).requires_grad_(true);

        var y = encoder.Forward(x, new DeepPrompts(prompts, 0, 1));
        y.pow(2).sum().backward();
        Assert.NotNull(prompts.grad);
        for (var i = 0; i < L; i++)
            Assert.True(prompts.grad![i].abs().sum().item<float>() > 0, $"no gradient reaches the prompts of block {i}");
        Assert.All(encoder.parameters(), p => Assert.Null(p.grad));

        // Block 1 sees prompts[1]: changing it changes the output.
        using (no_grad()) {
            var changed = prompts.detach().clone();
            changed[1] = randn(P, D);   // not a constant shift: norm1 would remove it
            Assert.True(MaxDiff(encoder.Forward(x, new DeepPrompts(changed, 0, 1)), y.detach()) > 1e-4f);
        }
    }

    [Fact]
    public void Deep_prompts_are_checked()
    {
        using var scope = NewDisposeScope();
        using var encoder = new TransformerEncoder(8, 2, 2, 2.0);
        var x = randn(2, 4, 8);
        var tooMany = Assert.Throws<ArgumentOutOfRangeException>(() => encoder.Forward(x, new DeepPrompts(randn(3, 2, 8), 0, 0)));   // 3 sets, 2 blocks
        Assert.Contains("blocks 0..2, but the encoder has 2", tooMany.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => encoder.Forward(x, new DeepPrompts(randn(1, 2, 8), 2, 0)));   // starts past the last block
        Assert.Throws<ArgumentException>(() => encoder.Forward(x, new DeepPrompts(randn(2, 2, 6), 0, 0)));   // wrong width
        Assert.Throws<ArgumentOutOfRangeException>(() => encoder.Forward(x, new DeepPrompts(randn(2, 2, 8), 0, 5)));
        Assert.Throws<ArgumentOutOfRangeException>(() => encoder.Forward(x, new DeepPrompts(randn(2, 2, 8), 0, -1)));
    }

    [Fact]
    public void Deep_prompts_over_a_layer_range_join_at_its_first_block_and_stay_through_the_rest()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 4, D = 8, P = 2, L = 4, First = 1, Layers = 2, Offset = 1;
        using var encoder = new TransformerEncoder(D, L, 2, 2.0);
        var x = randn(B, N, D);
        var prompts = randn(Layers, P, D);

        var y = encoder.Forward(x, new DeepPrompts(prompts, firstLayer: First, offset: Offset));

        // By hand (official VPT): block 0 unprompted, inserted before block 1, replaced before block 2, kept through block 3.
        var h = encoder[0].forward(x);
        h = cat(new[] { h[.., ..Offset], prompts[0].expand(B, P, D), h[.., Offset..] }, 1);
        h = encoder[1].forward(h);
        h = cat(new[] { h[.., ..Offset], prompts[1].expand(B, P, D), h[.., (Offset + P)..] }, 1);
        h = encoder[2].forward(h);
        h = encoder[3].forward(h);
        Assert.Equal(new long[] { B, N + P, D }, y.shape);
        Assert.True(MaxDiff(y, h) < 1e-6f, $"max |Forward - by hand| = {MaxDiff(y, h)}");
    }

    [Fact]
    public void Query_tokens_over_a_layer_range_read_only_the_blocks_of_the_range()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 4, D = 8, T = 2, L = 4, First = 2;
        using var encoder = new TransformerEncoder(D, L, 2, 2.0);
        var x = randn(B, N, D);
        var queries = randn(L - First, T, D);

        var hook = new LayerQueries(queries, firstLayer: First);
        var tokens = encoder.Forward(x, hook);

        Assert.True(MaxDiff(tokens, encoder.forward(x)) < 1e-6f);
        Assert.Equal(new long[] { B, L - First, T, D }, hook.Outputs.shape);
        var h = encoder[1].forward(encoder[0].forward(x));
        Assert.True(MaxDiff(hook.Outputs[.., 0], encoder[2].ForwardQueries(h, queries[0].unsqueeze(0))) < 1e-6f);
    }

    // ---------------------------------------------------------------- VQT

    [Fact]
    public void Query_tokens_do_not_disturb_the_tokens_and_are_collected_from_every_block()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 5, D = 8, T = 3, L = 3;
        using var encoder = new TransformerEncoder(D, L, 2, 2.0);
        var x = randn(B, N, D);
        var queries = randn(L, T, D);

        var hook = new LayerQueries(queries, firstLayer: 0);
        var tokens = encoder.Forward(x, hook);
        var queryOutputs = hook.Outputs;
        Assert.Equal(new long[] { B, N, D }, tokens.shape);
        Assert.Equal(new long[] { B, L, T, D }, queryOutputs.shape);
        Assert.True(tokens.allclose(encoder.forward(x), rtol: 0, atol: 1e-6));

        // Block i's queries read the tokens that enter block i.
        var h = x;
        for (var i = 0; i < L; i++) {
            var expected = encoder[i].ForwardQueries(h, queries[i].unsqueeze(0));
            Assert.True(MaxDiff(queryOutputs[.., i], expected) < 1e-6f);
            h = encoder[i].forward(h);
        }
    }

    [Fact]
    public void ForwardQueries_attends_with_the_blocks_own_split_qkv_weights()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 5, D = 8, H = 2, hd = D / H, T = 3;
        using var block = new EncoderBlock(D, H, 2.0);
        var x = randn(B, N, D);
        var q = randn(1, T, D);
        var sd = block.state_dict();
        Assert.DoesNotContain(sd.Keys, k => k.Contains("query"));   // no new parameters

        Tensor Norm(Tensor t, string name) => nn.functional.layer_norm(t, new long[] { D }, sd[$"{name}.weight"], sd[$"{name}.bias"], 1e-6);
        var qe = q.expand(B, T, D);
        var w = sd["attn.qkv.weight"];
        var bias = sd["attn.qkv.bias"];
        var query = nn.functional.linear(Norm(qe, "norm1"), w[..D], bias[..D]).reshape(B, T, H, hd).transpose(1, 2);
        var kv = nn.functional.linear(Norm(x, "norm1"), w[D..], bias[D..]);
        var k = kv[.., .., ..D].reshape(B, N, H, hd).transpose(1, 2);
        var v = kv[.., .., D..].reshape(B, N, H, hd).transpose(1, 2);
        var o = NaiveAttention(query, k, v).transpose(1, 2).reshape(B, T, D);
        var hq = qe + nn.functional.linear(o, sd["attn.proj.weight"], sd["attn.proj.bias"]);
        var expected = hq + block.Mlp.forward(Norm(hq, "norm2"));

        var actual = block.ForwardQueries(x, q);
        Assert.Equal(new long[] { B, T, D }, actual.shape);
        Assert.True(MaxDiff(actual, expected) < 1e-5f, $"max |ForwardQueries - naive| = {MaxDiff(actual, expected)}");

        // A query's output does not depend on the other queries (they do not attend to each other).
        var alone = block.ForwardQueries(x, q[.., ..1]);
        Assert.True(MaxDiff(alone, actual[.., ..1]) < 1e-6f);
    }

    [Fact]
    public void Query_tokens_get_gradients_while_a_frozen_encoder_gets_none()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 4, D = 8, T = 2, L = 3;
        using var encoder = new TransformerEncoder(D, L, 2, 2.0);
        Freezing.Freeze(encoder);
        var x = randn(B, N, D);
        var queries = randn(L, T, D).requires_grad_(true);

        var hook = new LayerQueries(queries, 0);
        var tokens = encoder.Forward(x, hook);
        var queryOutputs = hook.Outputs;
        Assert.False(tokens.requires_grad);   // the frozen backbone's own path builds no graph
        queryOutputs.pow(2).sum().backward();
        Assert.NotNull(queries.grad);
        for (var i = 0; i < L; i++)
            Assert.True(queries.grad![i].abs().sum().item<float>() > 0, $"no gradient reaches the queries of block {i}");
        Assert.All(encoder.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void Query_tokens_with_deep_prompts_see_the_prompted_sequence()
    {
        using var scope = NewDisposeScope();
        const int B = 2, N = 4, D = 8, T = 2, P = 3, L = 2;
        using var encoder = new TransformerEncoder(D, L, 2, 2.0);
        var x = randn(B, N, D);
        var queries = randn(L, T, D);
        var prompts = randn(L, P, D);

        var hook = new LayerQueries(queries, 0);
        var tokens = encoder.Forward(x, new DeepPrompts(prompts, 0, 1), hook);
        var queryOutputs = hook.Outputs;
        Assert.True(MaxDiff(tokens, encoder.Forward(x, new DeepPrompts(prompts, 0, 1))) < 1e-6f);
        Assert.Equal(new long[] { B, L, T, D }, queryOutputs.shape);
        var first = cat(new[] { x[.., ..1], prompts[0].expand(B, P, D), x[.., 1..] }, 1);
        Assert.True(MaxDiff(queryOutputs[.., 0], encoder[0].ForwardQueries(first, queries[0].unsqueeze(0))) < 1e-6f);

        Assert.Throws<ArgumentOutOfRangeException>(() => encoder.Forward(x, new LayerQueries(randn(L + 1, T, D), 0)));
        Assert.Throws<ArgumentException>(() => encoder.Forward(x, new LayerQueries(randn(L, T, D + 1), 0)));
    }

    // ---------------------------------------------------------------- Resampler

    [Fact]
    public void Resampler_maps_a_source_of_another_width_to_its_queries()
    {
        using var scope = NewDisposeScope();
        using var resampler = new Resampler(sourceDim: 12, dim: 8, queries: 3, depth: 2, heads: 2, mlpRatio: 2.0);
        Assert.Equal((3, 8, 12, 2, 2), (resampler.Queries, resampler.Dim, resampler.SourceDim, resampler.Depth, resampler.Heads));
        Assert.Equal(new long[] { 2, 3, 8 }, resampler.forward(randn(2, 7, 12)).shape);
        Assert.Equal(new long[] { 5, 3, 8 }, resampler.forward(randn(5, 1, 12)).shape);
        Assert.Throws<ArgumentException>(() => resampler.forward(randn(2, 7, 8)));

        using var same = new Resampler(8, 8, 4, 1, 4);
        Assert.Equal(new long[] { 2, 4, 8 }, same.forward(randn(2, 6, 8)).shape);

        var e = Assert.Throws<ArgumentException>(() => new Resampler(12, 10, 3, 1, 3));
        Assert.Contains("heads (3) must divide the embedding dimension (10)", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Resampler(12, 8, 0, 1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Resampler(12, 8, 3, 0, 2));
    }

    [Fact]
    public void Resampler_registers_latents_and_a_list_of_cross_attention_layers()
    {
        using var host = new ResamplerHost();
        static string[] Layer(int i) =>
        [
            $"resampler.layers.{i}.norm_q.weight", $"resampler.layers.{i}.norm_q.bias",
            $"resampler.layers.{i}.norm_kv.weight", $"resampler.layers.{i}.norm_kv.bias",
            $"resampler.layers.{i}.attn.q.weight", $"resampler.layers.{i}.attn.q.bias",
            $"resampler.layers.{i}.attn.kv.weight", $"resampler.layers.{i}.attn.kv.bias",
            $"resampler.layers.{i}.attn.proj.weight", $"resampler.layers.{i}.attn.proj.bias",
            $"resampler.layers.{i}.norm2.weight", $"resampler.layers.{i}.norm2.bias",
            $"resampler.layers.{i}.mlp.fc1.weight", $"resampler.layers.{i}.mlp.fc1.bias",
            $"resampler.layers.{i}.mlp.fc2.weight", $"resampler.layers.{i}.mlp.fc2.bias",
        ];
        string[] expected = ["resampler.latents", .. Layer(0), .. Layer(1)];
        var sd = host.state_dict();
        Assert.Equal(expected, sd.Keys.ToArray());
        Assert.Equal(expected, host.named_parameters().Select(p => p.name).ToArray());
        Assert.Equal(new long[] { 1, 3, 8 }, sd["resampler.latents"].shape);
        Assert.Equal(new long[] { 12 }, sd["resampler.layers.0.norm_kv.weight"].shape);
        Assert.Equal(new long[] { 16, 12 }, sd["resampler.layers.0.attn.kv.weight"].shape);
        Assert.Equal(new long[] { 8, 8 }, sd["resampler.layers.1.attn.q.weight"].shape);

        var latents = sd["resampler.latents"];
        Assert.True(latents.abs().max().item<float>() <= 2.0f);
        Assert.True(latents.std().item<float>() is > 0.005f and < 0.06f);
    }

    [Fact]
    public void Resampler_layer_is_pre_norm_cross_attention_with_residual_on_the_queries()
    {
        using var scope = NewDisposeScope();
        const int B = 2, K = 3, N = 5, D = 8, Ds = 6, H = 2, hd = D / H;
        using var resampler = new Resampler(Ds, D, K, 1, H, 2.0);
        var x = randn(B, N, Ds);
        var sd = resampler.state_dict();

        Tensor Norm(Tensor t, string name, long width) =>
            nn.functional.layer_norm(t, new long[] { width }, sd[$"layers.0.{name}.weight"], sd[$"layers.0.{name}.bias"], 1e-6);
        Tensor Linear(Tensor t, string name) => nn.functional.linear(t, sd[$"layers.0.{name}.weight"], sd[$"layers.0.{name}.bias"]);
        var lat = sd["latents"].expand(B, K, D);
        var q = Linear(Norm(lat, "norm_q", D), "attn.q").reshape(B, K, H, hd).transpose(1, 2);
        var kv = Linear(Norm(x, "norm_kv", Ds), "attn.kv");
        var k = kv[.., .., ..D].reshape(B, N, H, hd).transpose(1, 2);
        var v = kv[.., .., D..].reshape(B, N, H, hd).transpose(1, 2);
        var h = lat + Linear(NaiveAttention(q, k, v).transpose(1, 2).reshape(B, K, D), "attn.proj");
        var hidden = nn.functional.gelu(Linear(Norm(h, "norm2", D), "mlp.fc1"));
        var expected = h + Linear(hidden, "mlp.fc2");

        var actual = resampler.forward(x);
        Assert.True(MaxDiff(actual, expected) < 1e-5f, $"max |resampler - naive| = {MaxDiff(actual, expected)}");
    }

    private sealed class ResamplerHost : nn.Module<Tensor, Tensor>
    {
        private readonly Resampler resampler;

        public ResamplerHost() : base(nameof(ResamplerHost))
        {
            resampler = new Resampler(sourceDim: 12, dim: 8, queries: 3, depth: 2, heads: 2, mlpRatio: 2.0);
            register_module(nameof(resampler), resampler);
        }

        public override Tensor forward(Tensor x) => resampler.forward(x);
    }

    // ---------------------------------------------------------------- ChannelViT

    [Fact]
    public void ChannelPatchEmbedding_embeds_each_channel_with_the_shared_projection_and_tables()
    {
        using var scope = NewDisposeScope();
        const int B = 2, C = 3, P = 4, D = 8, N = 4;   // 8x8 image -> 2x2 patches per channel
        using var embed = new ChannelPatchEmbedding(C, P, D, N, sampleChannels: false);
        var x = randn(B, C, 8, 8);
        var y = embed.forward(x);
        Assert.Equal(new long[] { B, C * N, D }, y.shape);

        var sd = embed.state_dict();
        for (var c = 0; c < C; c++) {
            var patches = nn.functional.conv2d(x[.., c..(c + 1)], sd["proj.weight"], sd["proj.bias"], strides: new long[] { P, P })
                .flatten(2).transpose(1, 2);                                               // [B,N,D]
            var expected = patches + sd["pos_embed"] + sd["channel_embed"][.., c..(c + 1)];
            Assert.True(MaxDiff(y[.., (c * N)..((c + 1) * N)], expected) < 1e-5f, $"channel {c}");
        }

        Assert.Throws<ArgumentException>(() => embed.forward(randn(B, 2, 8, 8)));    // channel count
        Assert.Throws<ArgumentException>(() => embed.forward(randn(B, C, 12, 12)));  // patches per channel
        Assert.Throws<ArgumentException>(() => embed.forward(randn(B, C, 8, 6)));    // not divisible
    }

    [Fact]
    public void ChannelPatchEmbedding_registers_proj_channel_embed_and_pos_embed()
    {
        using var embed = new ChannelPatchEmbedding(channels: 3, patchSize: 4, dim: 8, patchesPerChannel: 4, sampleChannels: true);
        var sd = embed.state_dict();
        // Own parameters come before the children's, as in PyTorch's state_dict.
        Assert.Equal(new[] { "channel_embed", "pos_embed", "proj.weight", "proj.bias" }, sd.Keys.ToArray());
        Assert.Equal(new long[] { 8, 1, 4, 4 }, sd["proj.weight"].shape);
        Assert.Equal(new long[] { 1, 3, 8 }, sd["channel_embed"].shape);
        Assert.Equal(new long[] { 1, 4, 8 }, sd["pos_embed"].shape);
        Assert.True(sd["channel_embed"].abs().max().item<float>() <= 2.0f);
        Assert.True(sd["pos_embed"].std().item<float>() is > 0.005f and < 0.06f);
    }

    [Fact]
    public void ChannelPatchEmbedding_embeds_only_the_active_channels()
    {
        using var scope = NewDisposeScope();
        const int B = 2, C = 4, N = 4, D = 8;
        using var embed = new ChannelPatchEmbedding(C, 4, D, N, sampleChannels: false);
        var x = randn(B, C, 8, 8);
        var all = embed.forward(x);

        embed.ActiveChannels = [3, 1];
        var some = embed.forward(x);
        Assert.Equal(new long[] { B, 2 * N, D }, some.shape);
        Assert.True(MaxDiff(some[.., ..N], all[.., (3 * N)..(4 * N)]) < 1e-6f);
        Assert.True(MaxDiff(some[.., N..], all[.., N..(2 * N)]) < 1e-6f);
        Assert.Equal(new[] { 3, 1 }, embed.ActiveChannels);

        embed.ActiveChannels = null;
        Assert.Equal(new long[] { B, C * N, D }, embed.forward(x).shape);

        Assert.Throws<ArgumentOutOfRangeException>(() => embed.ActiveChannels = [4]);
        Assert.Throws<ArgumentException>(() => embed.ActiveChannels = [1, 1]);
        Assert.Throws<ArgumentException>(() => embed.ActiveChannels = []);
    }

    [Fact]
    public void ChannelPatchEmbedding_samples_channels_in_training_reproducibly_and_uses_all_in_eval()
    {
        using var scope = NewDisposeScope();
        const int B = 3, C = 4, N = 4, D = 8, Calls = 12;
        using var embed = new ChannelPatchEmbedding(C, 4, D, N, sampleChannels: true);
        var x = randn(B, C, 8, 8);

        List<Tensor> Run()
        {
            var outputs = new List<Tensor>();
            for (var i = 0; i < Calls; i++) outputs.Add(embed.forward(x));
            return outputs;
        }

        embed.train();
        torch.manual_seed(123);
        var first = Run();
        torch.manual_seed(123);
        var second = Run();

        var lengths = first.Select(t => t.shape[1]).ToArray();
        Assert.All(first, t => Assert.Equal(0, t.shape[1] % N));                    // whole channels, same for the batch
        Assert.All(first, t => Assert.Equal(B, t.shape[0]));
        Assert.True(lengths.Distinct().Count() > 1, $"token counts did not vary: {string.Join(",", lengths)}");
        Assert.Equal(lengths, second.Select(t => t.shape[1]).ToArray());
        for (var i = 0; i < Calls; i++)
            Assert.True(first[i].allclose(second[i], rtol: 0, atol: 0), $"call {i} was not reproduced by the same seed");

        // Sampling draws from the active channels only.
        embed.ActiveChannels = [0, 2];
        Assert.All(Run(), t => Assert.True(t.shape[1] is N or 2 * N));
        embed.ActiveChannels = null;

        embed.eval();
        Assert.All(Run(), t => Assert.Equal(new long[] { B, C * N, D }, t.shape));

        using var fixedEmbed = new ChannelPatchEmbedding(C, 4, D, N, sampleChannels: false);
        fixedEmbed.train();
        Assert.Equal(C * N, fixedEmbed.forward(x).shape[1]);
    }

    [Fact]
    public void Parameters_follow_a_dtype_change()
    {
        using var scope = NewDisposeScope();
        using var embed = new ChannelPatchEmbedding(2, 4, 8, 4, sampleChannels: false);
        using var resampler = new Resampler(8, 8, 2, 1, 2);
        var x = randn(2, 2, 8, 8);
        var before = resampler.forward(embed.forward(x));
        embed.to(float64);
        resampler.to(float64);
        var after = resampler.forward(embed.forward(x.to(float64)));
        Assert.Equal(ScalarType.Float64, after.dtype);
        Assert.True(after.to(float32).allclose(before, rtol: 0, atol: 1e-5));
    }

    // ---------------------------------------------------------------- dispose-scope hygiene

    public static IEnumerable<object[]> Calls()
    {
        yield return ["DeepPrompts", 1];
        yield return ["Queries", 2];
        yield return ["ForwardQueries", 1];
        yield return ["Resampler", 1];
        yield return ["ChannelPatchEmbedding", 1];
        yield return ["ChannelPatchEmbeddingSampled", 1];
    }

    [Theory]
    [MemberData(nameof(Calls))]
    public void Forward_leaves_only_its_results_alive(string name, int results)
    {
        var owned = new List<IDisposable>();
        T Own<T>(T d) where T : IDisposable { owned.Add(d); return d; }
        try {
            var tokens = Own(randn(2, 5, 8, requires_grad: true));
            var image = Own(randn(2, 3, 8, 8, requires_grad: true));
            var encoder = Own(new TransformerEncoder(8, 2, 2, 2.0));
            var prompts = Own(randn(2, 3, 8, requires_grad: true));
            var queries = Own(randn(2, 2, 8, requires_grad: true));
            var firstQueries = Own(randn(1, 2, 8, requires_grad: true));
            var resampler = Own(new Resampler(8, 6, 3, 2, 2));
            var embed = Own(new ChannelPatchEmbedding(3, 4, 8, 4, false));
            var sampled = Own(new ChannelPatchEmbedding(3, 4, 8, 4, true));
            sampled.train();
            Func<Tensor[]> forward = name switch {
                "DeepPrompts" => () => [encoder.Forward(tokens, new DeepPrompts(prompts, 0, 1))],
                "Queries" => () => { var hook = new LayerQueries(queries, 0); var t = encoder.Forward(tokens, new DeepPrompts(prompts, 0, 1), hook); return [t, hook.Outputs]; },
                "ForwardQueries" => () => [encoder[0].ForwardQueries(tokens, firstQueries)],
                "Resampler" => () => [resampler.forward(tokens)],
                "ChannelPatchEmbedding" => () => [embed.forward(image)],
                "ChannelPatchEmbeddingSampled" => () => [sampled.forward(image)],
                _ => throw new ArgumentException(name),
            };

            var before = Live;
            var ys = forward();
            Assert.Equal(before + results, Live);   // intermediates were disposed, the results were not
            foreach (var y in ys) y.Dispose();

            Tensor[] zs;
            using (NewDisposeScope()) {
                zs = forward();
                zs.Select(z => z.sum()).Aggregate((a, b) => a + b).backward();
                Assert.All(zs, z => Assert.False(z.IsInvalid));
            }
            Assert.All(zs, z => Assert.True(z.IsInvalid));
            Assert.Equal(before, Live);
        } finally {
            foreach (var d in owned) d.Dispose();
        }
    }
}
