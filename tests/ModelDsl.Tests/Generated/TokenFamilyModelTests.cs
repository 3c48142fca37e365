using System.Linq;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Generated;

public class TokenFamilyModelTests
{
    [Fact]
    public void A_token_bank_gives_each_sample_the_set_its_index_input_chooses_and_trains_only_the_chosen_sets()
    {
        manual_seed(7);
        using var model = new DomainTokensVit(CPU);
        model.eval();
        var image = randn(1, 1, 28, 28).expand(2, 1, 28, 28).contiguous();

        Assert.Equal([3L, 2, 32], model.DomainTokens.shape);
        Assert.Equal([1L, 1 + 2 + 16, 32], model.Positions.shape);
        using (no_grad())
        {
            // The same image under domains 0 and 2: different sequences; changing set 1 changes neither.
            var before = model.Forward(image, tensor(new long[] { 0, 2 })).Tokens.clone();
            Assert.True((before[0] - before[1]).abs().max().item<float>() > 1e-4f);
            model.DomainTokens[1].add_(1.0f);
            var after = model.Forward(image, tensor(new long[] { 0, 2 })).Tokens;
            Assert.True((before - after).abs().max().item<float>() == 0f);
            // Sample 0 under domain 1 now sees the changed set.
            Assert.True((model.Forward(image, tensor(new long[] { 1, 2 })).Tokens[0] - before[0]).abs().max().item<float>() > 1e-4f);
        }

        model.train();
        var step = model.TrainingStep(new DomainTokensVitBatch(image, tensor(new long[] { 0, 0 }), tensor(new long[] { 3, 7 })));
        step.Loss.backward();
        var grad = model.DomainTokens.grad!;
        Assert.True(grad[0].abs().sum().item<float>() > 0);
        Assert.Equal(0f, grad[1].abs().sum().item<float>());
        Assert.Equal(0f, grad[2].abs().sum().item<float>());
    }

    [Fact]
    public void Tokens_after_the_patches_are_a_named_segment_a_head_reads_with_positions_over_every_token()
    {
        manual_seed(6);
        using var model = new ReadoutVit(CPU);
        model.eval();
        var image = randn(2, 1, 28, 28);
        var output = model.Forward(image);

        Assert.Equal([1L, 2, 32], model.Readout.shape);
        Assert.Equal([1L, 1 + 16 + 2, 32], model.Positions.shape);
        Assert.Equal([2L, 1 + 16 + 2, 32], output.Tokens.shape);
        Assert.Equal([2L, 1], output.Score.shape);

        using (no_grad())
        {
            // [CLS | patches | readout] + positions, the encoder, its norm; the score head averages tokens 17 and 18.
            var x = global::ModelDsl.Blocks.Tokens.Append(global::ModelDsl.Blocks.Tokens.Prepend(model.Patches.forward(image), model.Cls), model.Readout) + model.Positions;
            var norm = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            var tokens = nn.functional.layer_norm(model.Encoder.forward(x), [32], norm["norm.weight"], norm["norm.bias"], 1e-6);
            Assert.True((output.Tokens - tokens).abs().max().item<float>() < 1e-5f);
            var expected = model.Score.forward(tokens.narrow(1, 17, 2).mean([1]));
            Assert.True((output.Score - expected).abs().max().item<float>() < 1e-6f);
            Assert.True((output.Logits - model.Head.forward(tokens.select(1, 0))).abs().max().item<float>() < 1e-6f);
        }

        // Both losses train; each head's metrics are logged under its own name.
        model.train();
        var step = model.TrainingStep(new ReadoutVitBatch(image, tensor(new long[] { 3, 7 }), randn(2, 1)));
        Assert.Equal(new[] { "accuracy", "loss", "score_loss", "score_mae" }, step.Metrics.Keys.OrderBy(k => k, System.StringComparer.Ordinal));
        step.Loss.backward();
        Assert.NotNull(model.Readout.grad);
    }

    [Fact]
    public void Layer_ranges_give_each_stage_one_token_set_per_block_of_its_range_and_the_encoder_applies_them_there()
    {
        manual_seed(5);
        using var model = new RangedTokensVit(CPU);
        model.eval();
        var image = randn(2, 1, 28, 28);
        var output = model.Forward(image);

        Assert.Equal([2L, 3, 32], model.Prompts.shape);   // blocks 0..1
        Assert.Equal([1L, 2, 32], model.Queries.shape);   // block 2 only
        Assert.Equal([2L, 1 + 3 + 16, 32], output.Tokens.shape);
        Assert.Equal([2L, 32 + 1 * 2 * 32], output.Pooled.shape);

        // The same encoder run by hand with the runtime hooks over the same ranges.
        using (no_grad())
        {
            var x = global::ModelDsl.Blocks.Tokens.Prepend(model.Patches.forward(image), model.Cls) + model.Positions;
            var queries = new global::ModelDsl.Blocks.LayerQueries(model.Queries, firstLayer: 2);
            var tokens = model.Encoder.Forward(x, new global::ModelDsl.Blocks.DeepPrompts(model.Prompts, firstLayer: 0, offset: 1), queries);
            Assert.True((output.Tokens - tokens).abs().max().item<float>() < 1e-6f);
            Assert.True((output.Pooled[.., 32..] - queries.Outputs.flatten(1)).abs().max().item<float>() < 1e-6f);
        }
    }

    [Fact]
    public void Vpt_deep_keeps_prompts_in_the_sequence_and_trains_only_prompts_and_head()
    {
        manual_seed(4);
        using var model = new VptDeepVit(CPU);
        var output = model.Forward(randn(2, 1, 28, 28));

        Assert.Equal([2L, 1 + 3 + 16, 32], output.Tokens.shape);
        Assert.Equal([2L, 3, 32], model.Prompts.shape);
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToHashSet();
        Assert.Equal(new[] { "prompts", "head.weight", "head.bias" }.ToHashSet(), trainable);
        Assert.DoesNotContain("blocks.0.attn.qkv.weight", trainable);
        Assert.Equal(VptDeepVit.Summary.TrainableParameters, model.parameters().Where(p => p.requires_grad).Sum(p => p.numel()));
    }

    [Fact]
    public void Vqt_head_reads_cls_and_every_blocks_query_outputs()
    {
        using var model = new VqtVit(CPU);
        var output = model.Forward(randn(2, 1, 28, 28));

        Assert.Equal([2L, 1 + 16, 32], output.Tokens.shape);
        Assert.Equal([2L, 32 * (1 + 2 * 2)], output.Pooled.shape);
        Assert.Equal([2L, 2, 32], model.Queries.shape);
    }

    [Fact]
    public void Resampler_compresses_the_encoder_tokens()
    {
        using var model = new ResampledVit(CPU);
        var output = model.Forward(randn(2, 1, 28, 28));

        Assert.Equal([2L, 4, 16], output.Tokens.shape);
        Assert.Equal([2L, 10], output.Logits.shape);
        Assert.Equal(ResampledVit.Summary.TotalParameters, model.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Channel_vit_embeds_every_channel_in_evaluation()
    {
        using var model = new ChannelVit(CPU);
        model.eval();
        var output = model.Forward(randn(2, 3, 28, 28));

        Assert.Equal([2L, 1 + 3 * 16, 32], output.Tokens.shape);
        Assert.Equal(ChannelVit.Summary.TotalParameters, model.parameters().Sum(p => p.numel()));
    }
}
