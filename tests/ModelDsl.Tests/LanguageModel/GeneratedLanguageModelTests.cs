using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Blocks;
using ModelDsl.Data;
using ModelDsl.Weights;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ModelDsl.Tests.LanguageModel;

/// <summary>The generated models with a [LanguageModel] stage: GPT-2 names, the parity fixture, generation and the LM loss.</summary>
public sealed class GeneratedLanguageModelTests
{
    [Fact]
    public void The_generated_model_registers_the_runtime_blocks_names()
    {
        using var generated = new TinyLm(CPU);
        using var block = new DecoderLanguageModel(DecoderLanguageModelTests.Tiny);
        Assert.Equal(
            global::ModelDsl.Weights.Weights.EntriesOf(block).Select(e => (e.Name, string.Join(",", e.Shape))),
            global::ModelDsl.Weights.Weights.EntriesOf(generated).Select(e => (e.Name, string.Join(",", e.Shape))));
        using var untied = new UntiedLm(CPU);
        Assert.Contains(global::ModelDsl.Weights.Weights.EntriesOf(untied), e => e.Name == "lm_head.weight" && e.Shape.SequenceEqual(new long[] { 50, 32 }));
    }

    [Fact]
    public void The_generated_model_loads_a_published_layout_file_and_matches_the_reference_logits()
    {
        using var model = new TinyLm(CPU);
        var report = model.Load(DecoderLanguageModelTests.Fixture("gpt2_tiny.safetensors"));   // strict
        Assert.Contains("h.0.attn.bias", report.Ignored);
        model.eval();
        var io = Safetensors.LoadStateDict(DecoderLanguageModelTests.Fixture("gpt2_tiny_io.safetensors"));
        using var _ = no_grad();
        var diff = (model.Forward(io["ids_plain"]).Logits - io["logits_plain"]).abs().max().item<float>();
        Assert.True(diff <= 1e-5f, $"max |logits - reference| = {diff}");
    }

    [Fact]
    public void Generate_on_the_generated_model_equals_the_runtime_blocks()
    {
        using var model = new TinyLm(CPU);
        model.Load(DecoderLanguageModelTests.Fixture("gpt2_tiny.safetensors"));
        using var block = DecoderLanguageModelTests.LoadTiny();
        var prompts = new IReadOnlyList<long>[] { new long[] { 5, 17, 42 }, new long[] { 9 } };
        var options = new GenerationOptions { Sample = true, TopK = 10, Seed = 11, MaxNewTokens = 8 };
        var fromModel = model.Generate(prompts, options);
        var fromBlock = block.Generate(prompts, options);
        Assert.Equal(fromBlock.Tokens, fromModel.Tokens);
        Assert.Equal(8, model.GenerateStream(prompts, options).Count());
    }

    [Fact]
    public void The_training_step_is_the_shifted_cross_entropy_with_ignored_labels()
    {
        manual_seed(3);
        using var model = new TinyLm(CPU);
        model.eval();
        var ids = randint(0, 100, new long[] { 2, 10 });
        var labels = ids.clone();
        labels[0, 0] = tensor(-100L);          // a "prompt" position
        labels[1, TensorIndex.Slice(6, null)] = tensor(-100L);   // padding at the end
        var step = model.TrainingStep(new TinyLmBatch(ids, labels));

        var logits = model.Forward(ids).Logits;
        var expectedTerms = new List<Tensor>();
        for (var b = 0; b < 2; b++)
            for (var t = 0; t < 9; t++) {
                var label = labels[b, t + 1].item<long>();
                if (label == -100) continue;
                expectedTerms.Add(-logits[b, t].log_softmax(-1)[label]);
            }
        var expected = stack(expectedTerms).mean().item<float>();
        Assert.Equal(expected, step.Loss.item<float>(), 4);
        Assert.Equal(9 + 5, expectedTerms.Count);
        Assert.InRange(step.Metrics["token_accuracy"].item<float>(), 0f, 1f);
    }

    [Fact]
    public void Training_lowers_the_loss_of_a_repeated_pattern()
    {
        manual_seed(4);
        using var model = new TinyLm(CPU);
        // Sequences that count up modulo 100 from a random start: the next token is always the previous plus one.
        var starts = randint(0, 100, new long[] { 64, 1 });
        var ids = (starts + arange(16).unsqueeze(0)).remainder(100);
        using var data = new TensorDataset(("ids", ids), ("labels", ids.clone()));
        var first = model.TrainingStep(new TinyLmBatch(ids, ids)).Loss.item<float>();
        var output = System.IO.Directory.CreateTempSubdirectory("tinylm-").FullName;
        try {
            model.Fit(data, null, new global::ModelDsl.Training.TrainOptions
            {
                Epochs = 15, BatchSize = 16, LearningRate = 3e-3, Device = CPU, OutputDirectory = output,
                ShowProgress = false, Log = System.IO.TextWriter.Null, WriteCurves = false,
            });
        } finally {
            System.IO.Directory.Delete(output, recursive: true);
        }
        model.eval();
        using var _ = no_grad();
        var after = model.TrainingStep(new TinyLmBatch(ids, ids));
        Assert.True(after.Loss.item<float>() < first * 0.5, $"loss {first} -> {after.Loss.item<float>()}");
    }

    [Fact]
    public void Wrong_labels_are_refused_by_name()
    {
        using var model = new TinyLm(CPU);
        var ids = randint(0, 100, new long[] { 2, 5 });
        var floatLabels = Assert.Throws<LabelException>(() => model.TrainingStep(new TinyLmBatch(ids, ids.to_type(ScalarType.Float32))));
        Assert.Contains("int64 [2,5]", floatLabels.Message);
        var outOfRange = ids.clone();
        outOfRange[1, 3] = tensor(100L);
        var range = Assert.Throws<LabelException>(() => model.TrainingStep(new TinyLmBatch(ids, outOfRange)));
        Assert.Contains("position 3 is 100", range.Message);
    }
}
