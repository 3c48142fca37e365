using System.Linq;
using ModelDsl.Blocks;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Generated;

/// <summary>Generated models that route, merge and prune inside their encoder's blocks.</summary>
public class InsideBlockModelTests
{
    private static float MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    // The plain model's weights in a model of the same names (the hooks add none, or only routers).
    private static void CopyInto(nn.Module from, nn.Module to)
    {
        var source = from.state_dict();
        using var _ = no_grad();
        foreach (var (name, p) in to.named_parameters())
            if (source.TryGetValue(name, out var value)) p.copy_(value);
    }

    [Fact]
    public void Merging_shortens_the_sequence_as_the_summary_says_and_is_the_runtime_hook_on_the_plain_weights()
    {
        manual_seed(3);
        using var plain = new PlainBlocksVit(CPU);
        using var merging = new MergingVit(CPU);
        plain.eval(); merging.eval();
        CopyInto(plain, merging);
        var image = randn(2, 1, 28, 28);

        var output = merging.Forward(image);
        Assert.Equal([2L, 17 - 3 * 3, 32], output.Tokens.shape);
        Assert.Contains(MergingVit.Summary.Rows, r => r.Stage == "Encoder" && r.Output == "[B,8,32]");
        Assert.Equal(3, merging.Merging.R);
        Assert.Equal(1, merging.Merging.PrefixTokens);

        using (no_grad())
        {
            var x = Tokens.Prepend(plain.Patches.forward(image), plain.Cls) + plain.Positions;
            var byHand = plain.Encoder.Forward(x, new TokenMerging(3, firstLayer: 0, layers: 3, prefixTokens: 1));
            var norm = plain.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            byHand = nn.functional.layer_norm(byHand, [32], norm["norm.weight"], norm["norm.bias"], 1e-6);
            Assert.True(MaxDiff(output.Tokens, byHand) < 1e-5f, $"max |generated - runtime hook| = {MaxDiff(output.Tokens, byHand)}");
            // Merging changes the class token's output: the model is not the plain one.
            Assert.True(MaxDiff(output.Logits, plain.Forward(image).Logits) > 1e-4f);
        }
    }

    [Fact]
    public void Pruning_keeps_the_declared_tokens_and_at_keep_rate_1_is_the_plain_model()
    {
        manual_seed(4);
        using var plain = new PlainBlocksVit(CPU);
        using var pruning = new PruningVit(CPU);
        plain.eval(); pruning.eval();
        CopyInto(plain, pruning);
        var image = randn(2, 1, 28, 28);

        Assert.Equal([2L, 7, 32], pruning.Forward(image).Tokens.shape);
        Assert.Contains(PruningVit.Summary.Rows, r => r.Stage == "Encoder" && r.Output == "[B,7,32]");

        // EViT's warm-up sets the keep rate between steps; at 1 nothing is pruned.
        pruning.Early.KeepRate = 1;
        pruning.Late.KeepRate = 1;
        using (no_grad())
            Assert.Equal(0f, MaxDiff(pruning.Forward(image).Logits, plain.Forward(image).Logits));
    }

    [Fact]
    public void Routing_registers_one_router_per_routed_block_and_trains_them()
    {
        manual_seed(5);
        using var model = new RoutingVit(CPU);
        var names = model.named_parameters().Where(p => p.name.StartsWith("routers.", System.StringComparison.Ordinal))
            .Select(p => $"{p.name}:{string.Join(",", p.parameter.shape)}").ToArray();
        Assert.Equal(["routers.0.weight:1,32", "routers.0.bias:1", "routers.1.weight:1,32", "routers.1.bias:1"], names);
        Assert.Contains(RoutingVit.Summary.Rows, r => r.Stage == "Encoder" && r.Output == "[B,17,32]");

        model.train();
        var step = model.TrainingStep(new RoutingVitBatch(randn(4, 1, 28, 28), tensor(new long[] { 1, 2, 3, 4 })));
        step.Loss.backward();
        Assert.True(model.Routers[0].weight!.grad!.abs().sum().item<float>() > 0);
        Assert.True(model.Routers[1].weight!.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void A_grown_TokenFormer_loads_the_smaller_checkpoint_and_starts_as_the_smaller_model()
    {
        manual_seed(8);
        using var small = new TokenFormerVit(CPU);
        using var grown = new GrownTokenFormerVit(CPU);
        small.eval(); grown.eval();
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"modeldsl-tokenformer-{System.Guid.NewGuid():N}.safetensors");
        try
        {
            global::ModelDsl.Weights.Weights.SaveSafetensors(small, path);
            var report = ParameterTokenGrowth.Load(grown, path, NewTokenInit.ZeroKeys);
            Assert.Equal(2 * 5 * 2, report.Grown.Count);                  // 2 blocks x 5 Pattentions x (keys, values)
            Assert.Equal(2L * (4 * 16 + 64), report.AddedPairs);
            Assert.Contains("blocks.0.mlp.key_param_tokens: 64 -> 128 tokens, new rows zero", report.ToString(), System.StringComparison.Ordinal);
            Assert.Contains("blocks.0.mlp.value_param_tokens: 64 -> 128 tokens, new rows at their own init", report.ToString(), System.StringComparison.Ordinal);
            var image = randn(3, 1, 28, 28);
            using (no_grad())
                Assert.True(MaxDiff(grown.Forward(image).Logits, small.Forward(image).Logits) < 1e-5f);
        }
        finally
        {
            System.IO.File.Delete(path);
        }
    }

    // One encoder block's FLOPs: qkv, scores, weighted sum, proj on the attended tokens; fc1 and fc2 on the fed ones.
    private static long Block(long attention, long mlp, long d = 32, long hidden = 128) =>
        2 * attention * d * 3 * d + 2 * 2 * attention * attention * d + 2 * attention * d * d + 2 * 2 * mlp * d * hidden;

    [Fact]
    public void The_summary_counts_forward_flops_per_stage_and_what_routing_merging_and_pruning_save()
    {
        long patches = 2L * 16 * 1 * 7 * 7 * 32, head = 2L * 32 * 10, plainEncoder = 4 * Block(17, 17);
        long Flops(global::ModelDsl.ModelSummary summary, string stage) => summary.Rows.Single(r => r.Stage == stage).Flops;

        Assert.Equal(patches, Flops(PlainBlocksVit.Summary, "Patches"));
        Assert.Equal(plainEncoder, Flops(PlainBlocksVit.Summary, "Encoder"));
        Assert.Equal(head, Flops(PlainBlocksVit.Summary, "Head"));
        Assert.Equal(patches + plainEncoder + head, PlainBlocksVit.Summary.TotalFlops);
        Assert.Equal(PlainBlocksVit.Summary.TotalFlops, PlainBlocksVit.Summary.PlainFlops);

        // ToMe, r = 3 in blocks 0..2: each block attends over what enters it and feeds 3 fewer tokens to its MLP.
        Assert.Equal(Block(17, 14) + Block(14, 11) + Block(11, 8) + Block(8, 8), Flops(MergingVit.Summary, "Encoder"));
        Assert.Equal(plainEncoder, MergingVit.Summary.Rows.Single(r => r.Stage == "Encoder").PlainFlops);
        // EViT at 0.5 in blocks 1 and 3: 17 -> 10 (8 kept + fused) in block 1, 10 -> 7 in block 3.
        Assert.Equal(Block(17, 17) + Block(17, 10) + Block(10, 10) + Block(10, 7), Flops(PruningVit.Summary, "Encoder"));
        // MoD at 0.5 on blocks 0 and 2: CLS + 8 of 16 patches through them, and the routers on all 17 tokens.
        Assert.Equal(Block(9, 9) + Block(17, 17) + Block(9, 9) + Block(17, 17), Flops(RoutingVit.Summary, "Encoder"));
        Assert.Equal(2 * 2L * 17 * 32, Flops(RoutingVit.Summary, "Routers"));

        foreach (var summary in new[] { MergingVit.Summary, PruningVit.Summary, RoutingVit.Summary })
        {
            Assert.True(summary.TotalFlops < summary.PlainFlops, summary.ToString());
            Assert.Equal(PlainBlocksVit.Summary.TotalFlops, summary.PlainFlops);
            Assert.Contains($"without routing, merging and pruning", summary.ToString(), System.StringComparison.Ordinal);
        }
        // TokenFormer: four Pattentions of 16 tokens and one of 64 on 17 tokens (n x 2D each), plus the attention.
        long tokenFormerBlock = 2L * 4 * 17 * 16 * 64 + 2L * 17 * 64 * 64 + 2L * 2 * 17 * 17 * 32;
        Assert.Equal(2 * tokenFormerBlock, Flops(TokenFormerVit.Summary, "Encoder"));
    }
}
