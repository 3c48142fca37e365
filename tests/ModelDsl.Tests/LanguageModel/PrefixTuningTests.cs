using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Blocks;
using ModelDsl.Data;
using ModelDsl.Weights;
using static TorchSharp.torch;

namespace ModelDsl.Tests.LanguageModel;

/// <summary>[PrefixTuning] on a frozen [LanguageModel]: PEFT's layout and meaning, generation, training.</summary>
public sealed class PrefixTuningTests
{
    private static PrefixTunedLm Loaded()
    {
        var model = new PrefixTunedLm(CPU);
        model.Load(DecoderLanguageModelTests.Fixture("gpt2_tiny.safetensors"), LoadOptions.Partial);
        model.eval();
        return model;
    }

    [Fact]
    public void Only_the_prefix_trains_in_peft_s_layout()
    {
        using var model = new PrefixTunedLm(CPU);
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, string.Join(",", p.parameter.shape))).ToList();
        Assert.Equal(new[] { ("prefix.embedding.weight", "4,256") }, trainable);   // [Count, 2 * Depth * Dim]
    }

    [Fact]
    public void A_prefix_holding_real_tokens_keys_and_values_equals_reading_those_tokens_first()
    {
        using var model = Loaded();
        using var block = DecoderLanguageModelTests.LoadTiny();
        using var _ = no_grad();
        var context = tensor(new long[] { 3, 14, 15, 92 }).unsqueeze(0);
        var ids = tensor(new long[] { 65, 35, 89, 79, 32 }).unsqueeze(0);

        // The tokens' own keys and values, as the cache holds them after reading the context.
        using var cache = block.NewCache();
        block.Forward(block.Transformer.Embed(context), cache: cache);
        var expected = block.Forward(block.Transformer.Embed(ids), cache: cache);

        // Written into the prefix table in PEFT's layout: [P, 2L, H, hd] with keys at 2i and values at 2i+1.
        var table = model.Prefix.Weight.view(4, 4, 4, 16).permute(1, 2, 0, 3);
        for (var layer = 0; layer < 2; layer++) {
            var (keys, values) = CachedLayer(block, context, layer);
            table[2 * layer].copy_(keys[0]);
            table[2 * layer + 1].copy_(values[0]);
        }
        var actual = model.Forward(ids).Logits;
        var diff = (actual - expected).abs().max().item<float>();
        Assert.True(diff < 1e-5f, $"max |prefix-tuned - context-first| = {diff}");
    }

    // Layer `layer`'s keys and values of the context, [1,H,P,hd], read back from the cache by appending nothing.
    private static (Tensor Keys, Tensor Values) CachedLayer(DecoderLanguageModel block, Tensor context, int layer)
    {
        using var cache = block.NewCache();
        block.Forward(block.Transformer.Embed(context), cache: cache);
        var empty = zeros(1, 4, 0, 16);
        var (keys, values) = cache.Append(layer, empty, empty);
        return (keys.clone(), values.clone());
    }

    [Fact]
    public void Generation_puts_the_prefix_into_the_cache_first()
    {
        using var model = Loaded();
        var prompt = new long[] { 5, 17, 42 };
        var sequence = prompt.ToList();
        var expected = new List<long>();
        using (no_grad())
            for (var i = 0; i < 10; i++) {
                var next = model.Forward(tensor(sequence.ToArray()).unsqueeze(0)).Logits[0, -1].argmax().item<long>();
                expected.Add(next);
                sequence.Add(next);
            }
        var options = GenerationOptions.Greedy with { MaxNewTokens = 10 };
        var batch = model.Generate(new IReadOnlyList<long>[] { prompt, new long[] { 9, 1 } }, options);
        Assert.Equal(expected, batch.Tokens[0]);
        Assert.Equal(model.Generate(new IReadOnlyList<long>[] { new long[] { 9, 1 } }, options).Tokens[0], batch.Tokens[1]);
    }

    [Fact]
    public void Prefix_tuning_lowers_the_loss_and_leaves_the_language_model_unchanged()
    {
        manual_seed(6);
        using var model = Loaded();
        var before = model.Lm.TokenEmbeddingWeight.clone();
        var starts = randint(0, 100, new long[] { 64, 1 });
        var ids = (starts + arange(12).unsqueeze(0)).remainder(100);
        using var data = new TensorDataset(("ids", ids), ("labels", ids.clone()));
        float first;
        using (no_grad())
            first = model.TrainingStep(new PrefixTunedLmBatch(ids, ids)).Loss.item<float>();
        var output = System.IO.Directory.CreateTempSubdirectory("prefix-tuning-").FullName;
        try {
            model.Fit(data, null, new global::ModelDsl.Training.TrainOptions
            {
                Epochs = 10, BatchSize = 16, LearningRate = 3e-2, WeightDecay = 0, Device = CPU, OutputDirectory = output,
                ShowProgress = false, Log = System.IO.TextWriter.Null, WriteCurves = false,
            });
        } finally {
            System.IO.Directory.Delete(output, recursive: true);
        }
        model.eval();
        float after;
        using (no_grad())
            after = model.TrainingStep(new PrefixTunedLmBatch(ids, ids)).Loss.item<float>();
        Assert.True(after < first, $"loss {first} -> {after}");
        Assert.True(model.Lm.TokenEmbeddingWeight.equal(before).all().item<bool>());
    }
}
