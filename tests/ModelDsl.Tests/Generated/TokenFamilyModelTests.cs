using System.Linq;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Generated;

public class TokenFamilyModelTests
{
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
