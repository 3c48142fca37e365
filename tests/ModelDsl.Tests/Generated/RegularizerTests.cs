using System;
using System.Linq;
using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Generated;

/// <summary>The declared regularisers: their values against the formulas, and their terms in the generated training steps.</summary>
public class RegularizerTests
{
    public RegularizerTests() => manual_seed(41);

    private static float MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().to(float32).item<float>();

    [Fact]
    public void Orthogonality_is_the_mean_squared_cosine_between_sets_and_within_one()
    {
        using var scope = NewDisposeScope();
        var penalty = new OrthogonalityPenalty();
        var eye = torch.eye(4, dtype: float64);
        Assert.Equal(0.0, penalty.Compute(eye[..2].unsqueeze(0), eye[2..].unsqueeze(0)).item<double>(), 12);
        Assert.Equal(0.0, penalty.Compute(eye).item<double>(), 12);
        Assert.Equal(1.0, penalty.Compute(eye[..1] * 3, eye[..1] * -2).item<double>(), 12);

        var a = randn(1, 3, 8, dtype: float64);
        var b = randn(5, 8, dtype: float64);
        double expected = 0;
        for (var i = 0; i < 3; i++)
            for (var j = 0; j < 5; j++)
                expected += Math.Pow(nn.functional.cosine_similarity(a[0, i], b[j], dim: 0).item<double>(), 2);
        Assert.Equal(expected / 15, penalty.Compute(a, b).item<double>(), 10);

        double within = 0;
        for (var i = 0; i < 5; i++)
            for (var j = 0; j < 5; j++)
                if (i != j) within += Math.Pow(nn.functional.cosine_similarity(b[i], b[j], dim: 0).item<double>(), 2);
        Assert.Equal(within / 20, penalty.Compute(b).item<double>(), 10);

        Assert.Contains("of one width", Assert.Throws<ArgumentException>(() => penalty.Compute(randn(2, 8), randn(2, 6))).Message);
        Assert.Contains("at least 2 vectors", Assert.Throws<ArgumentException>(() => penalty.Compute(randn(1, 1, 8))).Message);
    }

    [Fact]
    public void Code_usage_is_log_K_minus_the_entropy_of_the_mean_weights()
    {
        using var scope = NewDisposeScope();
        var usage = new CodeUsageRegularizer();
        // Every code used by one sample of four: uniform usage, nothing to penalise.
        Assert.Equal(0.0, usage.Compute(torch.eye(4, dtype: float64)).item<double>(), 9);
        // One code for every sample: the full log K.
        var collapsed = zeros(6, 4, dtype: float64);
        collapsed[.., 2] = tensor(1.0, dtype: float64);
        Assert.Equal(Math.Log(4), usage.Compute(collapsed).item<double>(), 9);

        var weights = randn(5, 7, dtype: float64).softmax(1);
        var p = weights.mean([0]);
        var expected = Math.Log(7) + (p * p.log()).sum().item<double>();
        Assert.Equal(expected, usage.Compute(weights).item<double>(), 9);
        Assert.Equal(1.5f, CodeUsageRegularizer.ActiveCodes(tensor(new float[,] { { 0.5f, 0.5f, 0 }, { 1, 0, 0 } })).item<float>());
        Assert.Contains("code weights [B,K]", Assert.Throws<ArgumentException>(() => usage.Compute(randn(7))).Message);
    }

    [Fact]
    public void The_orthogonality_term_is_in_the_training_step_and_training_on_it_separates_the_sets()
    {
        using var model = new TwoSetVit(CPU);
        var batch = new TwoSetVitBatch(randn(4, 1, 28, 28), randint(0, 10, [4]));
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var step = model.TrainingStep(batch);
        var expected = new OrthogonalityPenalty().Compute(parameters["prompts"], parameters["queries"]);
        Assert.Equal(expected.item<float>(), step.Metrics["apart"].item<float>(), 6);

        // Tokens of unit scale (they start at std 1e-6, far below Adam's step): steps on the penalty alone shrink it.
        using (no_grad())
        {
            parameters["prompts"].copy_(randn(1, 2, 32));
            parameters["queries"].copy_(randn(1, 3, 32));
        }
        using var adam = optim.Adam([parameters["prompts"], parameters["queries"]], lr: 5e-2);
        var before = model.TrainingStep(batch).Metrics["apart"].item<float>();
        for (var i = 0; i < 100; i++)
        {
            adam.zero_grad();
            model.TrainingStep(batch).Metrics["apart"].backward();
            adam.step();
        }
        var after = model.TrainingStep(batch).Metrics["apart"].item<float>();
        Assert.True(after < before * 0.2f, $"orthogonality penalty: {before} -> {after}");
    }

    [Fact]
    public void The_codebook_model_logs_both_regularisers_and_adds_them_with_their_weights()
    {
        using var model = new RegularizedCodebookClip(CPU);
        var batch = new RegularizedCodebookClipBatch(randn(6, 1, 28, 28), randint(1, 40, [6, 8]));
        var step = model.TrainingStep(batch);
        var output = model.Forward(batch.Image, batch.Text);
        var contrastive = new ContrastiveLoss().Compute(output.Logits).item<float>();
        var diversity = step.Metrics["code_diversity"].item<float>();
        var usage = step.Metrics["image_usage"].item<float>();
        Assert.Equal(new CodeUsageRegularizer().Compute(output.ImageQueryWeights).item<float>(), usage, 5);
        Assert.InRange(usage, 0f, (float)Math.Log(32) + 1e-5f);
        Assert.Equal(contrastive + 0.1f * diversity + 0.1f * usage, step.Loss.item<float>(), 4);
    }
}
