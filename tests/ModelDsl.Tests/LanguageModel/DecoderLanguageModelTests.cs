using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ModelDsl.Blocks;
using ModelDsl.Weights;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ModelDsl.Tests.LanguageModel;

/// <summary>
/// The GPT-2 runtime block against an independent forward pass (Fixtures/gpt2_reference.py, float64 reference from
/// float32 weights written in Hugging Face's published layout), and its names and weights layout.
/// </summary>
public sealed class DecoderLanguageModelTests
{
    internal static readonly DecoderConfig Tiny = new(100, 32, 64, 2, 4) { Dropout = 0.0 };

    internal static string Fixture(string name, [System.Runtime.CompilerServices.CallerFilePath] string source = "")
    {
        var beside = Path.Combine(Path.GetDirectoryName(source)!, "Fixtures", name);
        if (File.Exists(beside)) return beside;
        var copied = Path.Combine(AppContext.BaseDirectory, "LanguageModel", "Fixtures", name);
        if (File.Exists(copied)) return copied;
        throw new FileNotFoundException($"The fixture {name} is neither beside {source} nor in the test output.", name);
    }

    internal static DecoderLanguageModel LoadTiny()
    {
        var model = new DecoderLanguageModel(Tiny);
        model.Load(Fixture("gpt2_tiny.safetensors"));
        model.eval();
        return model;
    }

    [Fact]
    public void Registered_names_are_hugging_face_gpt2s()
    {
        using var model = new DecoderLanguageModel(Tiny);
        var entries = global::ModelDsl.Weights.Weights.EntriesOf(model).ToDictionary(e => e.Name, e => e.Shape);
        var expected = new Dictionary<string, long[]>
        {
            ["transformer.wte.weight"] = new long[] { 100, 64 },
            ["transformer.wpe.weight"] = new long[] { 32, 64 },
            ["transformer.ln_f.weight"] = new long[] { 64 },
            ["transformer.ln_f.bias"] = new long[] { 64 },
        };
        for (var i = 0; i < 2; i++) {
            var p = $"transformer.h.{i}.";
            expected[p + "ln_1.weight"] = new long[] { 64 };
            expected[p + "ln_1.bias"] = new long[] { 64 };
            expected[p + "attn.c_attn.weight"] = new long[] { 64, 192 };
            expected[p + "attn.c_attn.bias"] = new long[] { 192 };
            expected[p + "attn.c_proj.weight"] = new long[] { 64, 64 };
            expected[p + "attn.c_proj.bias"] = new long[] { 64 };
            expected[p + "ln_2.weight"] = new long[] { 64 };
            expected[p + "ln_2.bias"] = new long[] { 64 };
            expected[p + "mlp.c_fc.weight"] = new long[] { 64, 256 };
            expected[p + "mlp.c_fc.bias"] = new long[] { 256 };
            expected[p + "mlp.c_proj.weight"] = new long[] { 256, 64 };
            expected[p + "mlp.c_proj.bias"] = new long[] { 64 };
        }
        Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal), entries.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, shape) in expected)
            Assert.Equal(shape, entries[name]);

        using var untied = new DecoderLanguageModel(Tiny with { TiedHead = false });
        var untiedEntries = global::ModelDsl.Weights.Weights.EntriesOf(untied).ToDictionary(e => e.Name, e => e.Shape);
        Assert.Equal(new long[] { 100, 64 }, untiedEntries["lm_head.weight"]);
        Assert.Equal(expected.Count + 1, untiedEntries.Count);
    }

    [Fact]
    public void Logits_match_the_independent_reference_to_1e_5()
    {
        using var model = LoadTiny();
        var io = Safetensors.LoadStateDict(Fixture("gpt2_tiny_io.safetensors"));
        using var _ = no_grad();

        var plain = model.forward(io["ids_plain"]);
        var plainDiff = (plain - io["logits_plain"]).abs().max().item<float>();
        Assert.True(plainDiff <= 1e-5f, $"max |logits - reference| = {plainDiff} over the whole context (32 positions)");

        // Left padding: the attention mask and the position ids, real positions compared.
        var mask = io["attention_mask"];
        var padded = model.Forward(model.Transformer.Embed(io["input_ids"]), io["position_ids"], mask);
        var real = mask.ne(0).unsqueeze(-1).expand_as(padded);
        var paddedDiff = (padded - io["logits"]).abs().masked_select(real).max().item<float>();
        Assert.True(paddedDiff <= 1e-5f, $"max |logits - reference| = {paddedDiff} on the real positions of the left-padded batch");
        Assert.False(padded.isnan().any().item<bool>());
    }

    [Fact]
    public void A_published_gpt2_file_loads_with_its_buffers_ignored_and_the_prefix_added()
    {
        using var model = new DecoderLanguageModel(Tiny);
        var report = model.Load(Fixture("gpt2_tiny.safetensors"));   // strict
        Assert.Equal(global::ModelDsl.Weights.Weights.EntriesOf(model).Count, report.Loaded.Count);
        Assert.Contains("h.0.attn.bias", report.Ignored);
        Assert.Contains("h.1.attn.masked_bias", report.Ignored);
        Assert.Empty(report.ShapeMismatches);
    }

    [Fact]
    public void A_saved_model_reloads_and_a_transformers_state_dict_with_a_tied_head_loads()
    {
        using var model = LoadTiny();
        var dir = Directory.CreateTempSubdirectory("gpt2-").FullName;
        try {
            var saved = Path.Combine(dir, "saved.safetensors");
            model.SaveSafetensors(saved);
            Assert.All(global::ModelDsl.Weights.Weights.ReadEntries(saved), e => Assert.StartsWith("transformer.", e.Name));

            // GPT2LMHeadModel.state_dict(): transformer.-prefixed, with lm_head.weight (the tied wte) and the buffers.
            var state = Safetensors.LoadStateDict(saved);
            state["lm_head.weight"] = state["transformer.wte.weight"];
            state["transformer.h.0.attn.bias"] = ones(1, 1, 32, 32);
            state["transformer.h.0.attn.masked_bias"] = tensor(-1e4f);
            var hf = Path.Combine(dir, "hf.safetensors");
            using (var stream = File.Create(hf))
                Safetensors.SaveStateDict(stream, state);

            using var reloaded = new DecoderLanguageModel(Tiny);
            var report = reloaded.Load(hf);
            Assert.Contains("lm_head.weight", report.Ignored);
            reloaded.eval();
            using var _ = no_grad();
            var ids = randint(0, 100, new long[] { 2, 9 });
            Assert.True(model.forward(ids).equal(reloaded.forward(ids)).all().item<bool>());

            // An untied model needs lm_head.weight and refuses a file without it.
            using var untied = new DecoderLanguageModel(Tiny with { TiedHead = false });
            untied.Load(hf);
            var refused = Assert.Throws<WeightsMismatchException>(() => untied.Load(saved));
            Assert.Contains("lm_head.weight", refused.Message);
        } finally {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Tied_head_multiplies_by_the_token_embedding()
    {
        using var model = LoadTiny();
        using var _ = no_grad();
        var hidden = randn(3, 64);
        var logits = model.Logits(hidden);
        var expected = hidden.matmul(model.Transformer.TokenEmbeddingWeight.t());
        Assert.True(logits.allclose(expected, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Positions_past_the_table_are_refused_with_the_numbers()
    {
        using var model = new DecoderLanguageModel(Tiny);
        var tooLong = Assert.Throws<ArgumentException>(() => model.forward(zeros(1, 33, ScalarType.Int64)));
        Assert.Contains("position 32", tooLong.Message);
        Assert.Contains("32 rows", tooLong.Message);
        var badPositions = Assert.Throws<ArgumentException>(() =>
            model.Forward(model.Transformer.Embed(zeros(1, 2, ScalarType.Int64)), tensor(new long[] { 0, 40 }).unsqueeze(0)));
        Assert.Contains("from 0 to 40", badPositions.Message);
        var floatIds = Assert.Throws<ArgumentException>(() => model.forward(zeros(1, 3)));
        Assert.Contains("int64", floatIds.Message);
    }

    [Fact]
    public void Dropout_is_active_in_training_and_off_in_eval()
    {
        using var model = new DecoderLanguageModel(Tiny with { Dropout = 0.5 });
        var ids = randint(0, 100, new long[] { 1, 8 });
        using var _ = no_grad();
        model.train();
        Assert.False(model.forward(ids).equal(model.forward(ids)).all().item<bool>());
        model.eval();
        Assert.True(model.forward(ids).equal(model.forward(ids)).all().item<bool>());
    }

    [Fact]
    public void Gradients_reach_every_parameter()
    {
        using var model = new DecoderLanguageModel(Tiny);
        var ids = randint(0, 100, new long[] { 2, 8 });
        var logits = model.forward(ids);
        nn.functional.cross_entropy(logits.reshape(-1, 100), ids.reshape(-1)).backward();
        foreach (var (name, p) in model.named_parameters())
            Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, $"{name} got no gradient");
    }
}
