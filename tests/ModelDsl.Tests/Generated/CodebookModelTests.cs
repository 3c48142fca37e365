using System;
using System.IO;
using System.Linq;
using ModelDsl.Blocks;
using ModelDsl.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Generated;

/// <summary>FDT's shared codebook: the query block against the formula written out, and the generated models that share one codebook.</summary>
public class CodebookModelTests
{
    public CodebookModelTests() => manual_seed(21);

    private static float MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    [Fact]
    public void The_query_registers_FDT_s_q_map_names_in_FDT_s_order()
    {
        using var query = new CodebookQuery(tokenDim: 12, dim: 8);
        Assert.Equal(
            ["q_map.0.weight", "q_map.0.bias", "q_map.1.weight", "q_map.1.bias", "q_map.3.weight", "q_map.3.bias", "q_map.4.weight", "q_map.4.bias"],
            query.named_parameters().Select(p => p.name));
        Assert.Equal([8L, 12], query.named_parameters().Single(p => p.name == "q_map.1.weight").parameter.shape);

        using var unprojected = new CodebookQuery(tokenDim: 8, dim: 8, project: false);
        Assert.Empty(unprojected.parameters());
        Assert.Contains("without a projection the token width 12 must be the codebook width 8",
            Assert.Throws<ArgumentException>(() => new CodebookQuery(tokenDim: 12, dim: 8, project: false)).Message);
    }

    [Fact]
    public void The_query_computes_FDT_s_formula()
    {
        using var scope = NewDisposeScope();
        const int B = 3, L = 5, E = 12, K = 10, D = 8;
        using var query = new CodebookQuery(tokenDim: E, dim: D, temperature: 0.5);
        var tokens = randn(B, L, E);
        var codes = randn(K, D);
        var padding = zeros(B, L, dtype: ScalarType.Bool);
        padding[0, 3] = tensor(true);
        padding[0, 4] = tensor(true);

        var (features, weights) = query.Forward(tokens, codes, padding);

        // By hand: LN, Linear, GELU, LN, Linear; scores / sqrt(D), padded rows times 0, / T; max over tokens; sparsemax; w C normalised.
        var p = query.named_parameters().ToDictionary(x => x.name, x => (Tensor)x.parameter);
        var q = nn.functional.layer_norm(tokens, [E], p["q_map.0.weight"], p["q_map.0.bias"]);
        q = nn.functional.gelu(nn.functional.linear(q, p["q_map.1.weight"], p["q_map.1.bias"]));
        q = nn.functional.layer_norm(q, [D], p["q_map.3.weight"], p["q_map.3.bias"]);
        q = nn.functional.linear(q, p["q_map.4.weight"], p["q_map.4.bias"]);
        var scores = q.matmul(codes.t()) / Math.Sqrt(D) * padding.logical_not().unsqueeze(-1).to(float32) / 0.5;
        var expectedWeights = Sparsemax.Apply(scores.max(1).values);
        var embedded = expectedWeights.matmul(codes);
        var expectedFeatures = embedded / (embedded.norm(1, keepdim: true) + 1e-10);

        Assert.Equal([(long)B, D], features.shape);
        Assert.Equal([(long)B, K], weights.shape);
        Assert.True(MaxDiff(weights, expectedWeights) < 1e-6f, $"weights: {MaxDiff(weights, expectedWeights)}");
        Assert.True(MaxDiff(features, expectedFeatures) < 1e-6f, $"features: {MaxDiff(features, expectedFeatures)}");
        Assert.True(weights.sum(1).sub(1).abs().max().item<float>() < 1e-5f);
        Assert.True(features.norm(1).sub(1).abs().max().item<float>() < 1e-5f);
    }

    [Fact]
    public void Padded_positions_score_zero_whatever_they_hold()
    {
        using var scope = NewDisposeScope();
        using var query = new CodebookQuery(tokenDim: 8, dim: 8);
        var tokens = randn(2, 6, 8);
        var codes = randn(16, 8);
        var padding = zeros(2, 6, dtype: ScalarType.Bool);
        padding[.., 4..] = tensor(true);

        var scores = query.Scores(tokens, codes, padding);
        Assert.Equal(0f, scores[.., 4..].abs().max().item<float>());

        var changed = tokens.clone();
        changed[.., 4..] = randn(2, 2, 8) * 100;
        Assert.True(MaxDiff(query.Forward(tokens, codes, padding).Features, query.Forward(changed, codes, padding).Features) == 0f);
        // Without the mask the padded tokens would count.
        Assert.True(MaxDiff(query.Forward(tokens, codes).Weights, query.Forward(changed, codes).Weights) > 0f);
    }

    [Fact]
    public void Softmax_and_top_k_weightings()
    {
        using var scope = NewDisposeScope();
        var tokens = randn(4, 5, 8);
        var codes = randn(16, 8);
        using var dense = new CodebookQuery(tokenDim: 8, dim: 8, weighting: ModelDsl.CodeWeighting.Softmax);
        var denseWeights = dense.Forward(tokens, codes).Weights;
        Assert.Equal(0L, denseWeights.eq(0).sum().item<long>());

        using var top = new CodebookQuery(tokenDim: 8, dim: 8, weighting: ModelDsl.CodeWeighting.TopK, topK: 3);
        var (_, topWeights) = top.Forward(tokens, codes);
        Assert.True(topWeights.gt(0).sum(1).eq(3).all().item<bool>());
        Assert.True(topWeights.sum(1).sub(1).abs().max().item<float>() < 1e-5f);
        // The kept codes are the three best pooled scores, weighted by their softmax.
        var pooled = top.Scores(tokens, codes).max(1).values;
        var best = pooled.topk(3, dim: 1);
        Assert.True(MaxDiff(topWeights.gather(1, best.indexes), best.values.softmax(1)) < 1e-6f);

        Assert.Contains("keeps the top 3 codes, but the codebook has 2",
            Assert.Throws<ArgumentException>(() => top.Forward(tokens, randn(2, 8))).Message);
    }

    [Fact]
    public void Wrong_shapes_are_named_with_what_was_expected()
    {
        using var scope = NewDisposeScope();
        using var query = new CodebookQuery(tokenDim: 12, dim: 8);
        Assert.Contains("expects tokens [B,L,12]; got [2,5,10]", Assert.Throws<ArgumentException>(() => query.Forward(randn(2, 5, 10), randn(4, 8))).Message);
        Assert.Contains("expects a codebook [K,8]; got [4,6]", Assert.Throws<ArgumentException>(() => query.Forward(randn(2, 5, 12), randn(4, 6))).Message);
        Assert.Contains("expects a padding mask [2,5]", Assert.Throws<ArgumentException>(() => query.Forward(randn(2, 5, 12), randn(4, 8), zeros(2, 4, dtype: ScalarType.Bool))).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => query.Temperature = 0);
    }

    [Fact]
    public void The_shared_codebook_is_registered_once_and_saved_once()
    {
        using var model = new SharedCodebookClip(CPU);
        var names = model.named_parameters().Select(p => p.name).ToList();
        Assert.Single(names, n => n == "space_dict");
        Assert.DoesNotContain(names, n => n.Contains("space_dict", StringComparison.Ordinal) && n != "space_dict");
        Assert.Equal(names.Count, names.Distinct().Count());
        // The Summary and the runtime count it once: 64 x 24.
        Assert.Equal(model.parameters().Sum(p => p.numel()), SharedCodebookClip.Summary.TotalParameters);
        Assert.Equal(64 * 24, SharedCodebookClip.Summary.Rows.Single(r => r.Stage == "SpaceDict").Parameters);

        var path = Path.Combine(Path.GetTempPath(), $"modeldsl-codebook-{Guid.NewGuid():N}.safetensors");
        try
        {
            model.SaveSafetensors(path);
            var saved = SafetensorsIndex.Read(path).Entries.Select(e => e.Name).ToList();
            Assert.Single(saved, n => n == "space_dict");
            Assert.Equal(names.OrderBy(n => n, StringComparer.Ordinal), saved.OrderBy(n => n, StringComparer.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Both_towers_train_the_one_codebook_and_the_loss_falls()
    {
        using var model = new SharedCodebookClip(CPU);
        var image = randn(6, 1, 28, 28);
        var text = randint(1, 40, [6, 8]);
        text[.., 6..] = zeros(6, 2, dtype: ScalarType.Int64);   // padding after the words
        var codebook = model.named_parameters().Single(p => p.name == "space_dict").parameter;

        // Each side's features alone send gradient into the same tensor.
        foreach (var side in new Func<SharedCodebookClipOutput, Tensor>[] { o => o.ImageQuery, o => o.TextQuery })
        {
            model.zero_grad();
            side(model.Forward(image, text)).sum().backward();
            Assert.NotNull(codebook.grad);
            Assert.True(codebook.grad!.abs().sum().item<float>() > 0);
        }

        var output = model.Forward(image, text);
        Assert.Equal([6L, 64], output.ImageQueryWeights.shape);
        Assert.True(output.TextQueryWeights.sum(1).sub(1).abs().max().item<float>() < 1e-5f);

        model.zero_grad();
        using var optimizer = optim.Adam(model.parameters(), lr: 3e-3);
        var batch = new SharedCodebookClipBatch(image, text);
        var first = model.TrainingStep(batch).Loss.item<float>();
        for (var step = 0; step < 30; step++)
        {
            optimizer.zero_grad();
            model.TrainingStep(batch).Loss.backward();
            optimizer.step();
        }
        var last = model.TrainingStep(batch).Loss.item<float>();
        Assert.True(last < first * 0.5f, $"contrastive loss on one batch: {first} -> {last}");
    }

    [Fact]
    public void The_dense_and_top_k_model_weights_as_declared()
    {
        using var scope = NewDisposeScope();
        using var model = new DenseCodebookClip(CPU);
        var output = model.Forward(randn(5, 1, 28, 28), randint(0, 40, [5, 8]));
        Assert.Equal(0L, output.ImageQueryWeights.eq(0).sum().item<long>());
        Assert.True(output.TextQueryWeights.gt(0).sum(1).eq(8).all().item<bool>());
        Assert.DoesNotContain(model.named_parameters(), p => p.name.StartsWith("text_query.", StringComparison.Ordinal));
    }
}
