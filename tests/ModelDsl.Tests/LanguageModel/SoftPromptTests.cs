using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Blocks;
using ModelDsl.Data;
using ModelDsl.Text;
using ModelDsl.Weights;
using static TorchSharp.torch;

namespace ModelDsl.Tests.LanguageModel;

/// <summary>[SoftPrompt] on a frozen [LanguageModel] (prompt tuning): placement, initialisation, generation, training.</summary>
public sealed class SoftPromptTests
{
    // Characters to ids below the tiny model's vocabulary of 100.
    private sealed class TinyTokenizer : ITextTokenizer
    {
        public int VocabSize => 100;
        public long EndOfText => 99;
        public IReadOnlyList<long> Encode(string text) => text.Select(ch => (long)(ch % 99)).ToArray();
        public string Decode(IEnumerable<long> ids) => new(ids.Select(id => (char)id).ToArray());
    }

    private static PromptTunedLm Loaded()
    {
        var model = new PromptTunedLm(CPU);
        model.Load(DecoderLanguageModelTests.Fixture("gpt2_tiny.safetensors"), LoadOptions.Partial);
        model.InitializePrompt(new TinyTokenizer());
        model.eval();
        return model;
    }

    [Fact]
    public void Only_the_prompt_trains_and_it_is_registered_under_the_member_name()
    {
        using var model = new PromptTunedLm(CPU);
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, string.Join(",", p.parameter.shape))).ToList();
        Assert.Equal(new[] { ("prompt.weight", "4,64") }, trainable);
        Assert.Equal(256, PromptTunedLm.Summary.Rows.Where(r => !r.Frozen).Sum(r => r.Parameters));
    }

    [Fact]
    public void The_prompt_goes_before_the_input_and_the_logits_cover_the_input_only()
    {
        using var model = Loaded();
        using var block = DecoderLanguageModelTests.LoadTiny();
        using var _ = no_grad();
        var ids = randint(0, 100, new long[] { 2, 7 });
        var logits = model.Forward(ids).Logits;
        Assert.Equal(new long[] { 2, 7, 100 }, logits.shape);
        var prompt = model.Prompt.Weight.unsqueeze(0).expand(2, -1, -1);
        var full = block.Forward(cat(new[] { prompt, block.Transformer.Embed(ids) }, 1));
        Assert.True(logits.allclose(full[.., 4..], rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void Initialising_from_words_copies_their_embeddings_repeated()
    {
        using var model = Loaded();
        var ids = new TinyTokenizer().Encode("Count up:");   // 9 ids, the first 4 fill the prompt
        var expected = model.Lm.TokenEmbeddingWeight.index_select(0, tensor(ids.Take(4).ToArray()));
        Assert.True(model.Prompt.Weight.equal(expected).all().item<bool>());

        using var wrapped = new SoftPrompt(5, 64);
        wrapped.InitializeFrom(model.Lm.TokenEmbeddingWeight, new long[] { 7, 8 });
        Assert.True(wrapped.Weight[4].equal(model.Lm.TokenEmbeddingWeight[7]).all().item<bool>());
    }

    [Fact]
    public void Generation_puts_the_prompt_first_and_a_padded_batch_matches_each_prompt_alone()
    {
        using var model = Loaded();
        var prompt = new long[] { 5, 17, 42 };
        // Uncached greedy over the generated forward pass, which places the prompt itself.
        var sequence = prompt.ToList();
        var expected = new List<long>();
        using (no_grad())
            for (var i = 0; i < 10; i++) {
                var next = model.Forward(tensor(sequence.ToArray()).unsqueeze(0)).Logits[0, -1].argmax().item<long>();
                expected.Add(next);
                sequence.Add(next);
            }
        var options = GenerationOptions.Greedy with { MaxNewTokens = 10 };
        var batch = model.Generate(new IReadOnlyList<long>[] { prompt, new long[] { 9 } }, options);
        Assert.Equal(expected, batch.Tokens[0]);
        Assert.Equal(model.Generate(new IReadOnlyList<long>[] { new long[] { 9 } }, options).Tokens[0], batch.Tokens[1]);

        var tooLong = Assert.Throws<ArgumentException>(() => model.Generate(new IReadOnlyList<long>[] { prompt }, options with { MaxNewTokens = 26 }));
        Assert.Contains("The 4 prefix positions (soft prompt, prefix tuning), longest prompt (3 tokens) plus MaxNewTokens (26) is 33 positions", tooLong.Message);
    }

    [Fact]
    public void Prompt_tuning_lowers_the_loss_and_leaves_the_language_model_unchanged()
    {
        manual_seed(5);
        using var model = Loaded();
        var before = model.Lm.TokenEmbeddingWeight.clone();
        var wpe = model.named_parameters().Single(p => p.name == "transformer.h.1.mlp.c_fc.weight").parameter.clone();
        var starts = randint(0, 100, new long[] { 64, 1 });
        var ids = (starts + arange(12).unsqueeze(0)).remainder(100);
        using var data = new TensorDataset(("ids", ids), ("labels", ids.clone()));
        float first;
        using (no_grad())
            first = model.TrainingStep(new PromptTunedLmBatch(ids, ids)).Loss.item<float>();
        var output = System.IO.Directory.CreateTempSubdirectory("prompt-tuning-").FullName;
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
            after = model.TrainingStep(new PromptTunedLmBatch(ids, ids)).Loss.item<float>();
        Assert.True(after < first, $"loss {first} -> {after}");
        Assert.True(model.Lm.TokenEmbeddingWeight.equal(before).all().item<bool>());
        Assert.True(model.named_parameters().Single(p => p.name == "transformer.h.1.mlp.c_fc.weight").parameter.equal(wpe).all().item<bool>());
    }
}
