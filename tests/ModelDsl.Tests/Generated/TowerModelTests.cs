using System;
using System.Linq;
using ModelDsl.Data;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Generated;

public class TowerModelTests
{
    [Fact]
    public void Forward_refuses_inputs_of_another_dtype_than_their_stage_needs_by_name_before_any_layer_runs()
    {
        using var image = new TokensOnTop(CPU);
        var wrongImage = Assert.Throws<DtypeMismatchException>(() => image.Forward(randn(2, 1, 28, 28, dtype: ScalarType.Float64)));
        Assert.Contains("Input 'image' has dtype float64", wrongImage.Message);
        Assert.Contains("image.to(ScalarType.Float32)", wrongImage.Message);

        using var text = new TinyTextEncoder(CPU);
        var ids = randint(0, 10, [3, 8], dtype: ScalarType.Int32);
        var wrongIds = Assert.Throws<DtypeMismatchException>(() => text.Forward(ids));
        Assert.Equal(ScalarType.Int64, wrongIds.Expected);
        Assert.Equal(ScalarType.Int32, wrongIds.Actual);

        // A model converted to float64 takes float64 images: the expected type is its parameters'.
        TorchSharp.ModuleExtensionMethods.to(image, ScalarType.Float64);
        Assert.Equal([2L, 10], image.Forward(randn(2, 1, 28, 28, dtype: ScalarType.Float64)).Logits.shape);
    }

    [Fact]
    public void An_encoder_only_model_gives_its_tokens_and_a_tower_passing_them_starts_the_outer_sequence()
    {
        manual_seed(8);
        using var model = new TokensOnTop(CPU);
        model.eval();
        var image = randn(2, 1, 28, 28);
        var output = model.Forward(image);

        // The tower's own output record has the tokens; the outer model prepends its registers to them.
        Assert.Equal([2L, 17, 32], output.Backbone.shape);
        Assert.Equal([2L, 2 + 17, 32], output.Tokens.shape);
        Assert.Equal([2L, 10], output.Logits.shape);
        using (no_grad())
        {
            var tokens = model.Backbone.Forward(image).Tokens;
            Assert.True((output.Backbone - tokens).abs().max().item<float>() == 0f);
            var x = model.Top.forward(global::ModelDsl.Blocks.Tokens.Prepend(tokens, model.Registers));
            Assert.True((output.Tokens - x).abs().max().item<float>() < 1e-6f);
        }
        Assert.All(model.named_parameters().Where(p => p.name.StartsWith("backbone.", StringComparison.Ordinal)), p => Assert.False(p.parameter.requires_grad));
        Assert.Equal(TokenEncoder.Summary.TotalParameters, TokensOnTop.Summary.Rows.Single(r => r.Stage == "Backbone").Parameters);

        model.train();
        var step = model.TrainingStep(new TokensOnTopBatch(image, tensor(new long[] { 1, 2 })));
        step.Loss.backward();
        Assert.NotNull(model.Registers.grad);
    }

    [Fact]
    public void Tower_weights_are_registered_under_the_member_name()
    {
        using var model = new ExemplarMatcher(CPU);
        var names = model.state_dict().Keys.ToHashSet();

        foreach (var expected in new[] { "image.patch_embed.proj.weight", "image.blocks.0.attn.qkv.weight", "image.cls_token", "exemplar.head.weight", "logits.logit_scale" })
            Assert.Contains(expected, names);
        // The tower's own state_dict, prefixed, is exactly the outer model's image.* part.
        using var alone = new TowerImageEncoder(CPU);
        Assert.Equal(alone.state_dict().Keys.Select(k => "image." + k).OrderBy(k => k), names.Where(n => n.StartsWith("image.")).OrderBy(k => k));
    }

    [Fact]
    public void A_frozen_tower_has_no_trainable_parameter_and_the_summary_counts_match()
    {
        using var model = new ExemplarMatcher(CPU);

        Assert.All(model.Image.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(model.Exemplar.parameters(), p => Assert.True(p.requires_grad));
        var parameters = model.parameters().ToList();
        Assert.Equal(parameters.Sum(p => p.numel()), ExemplarMatcher.Summary.TotalParameters);
        Assert.Equal(parameters.Where(p => p.requires_grad).Sum(p => p.numel()), ExemplarMatcher.Summary.TrainableParameters);
        Assert.Contains("exemplar.cls_token", model.NoWeightDecayNames);
    }

    [Fact]
    public void Forward_gives_one_logit_per_image_and_exemplar()
    {
        manual_seed(2);
        using var model = new ExemplarMatcher(CPU);
        var output = model.Forward(randn(5, 1, 28, 28), randn(3, 1, 28, 28));

        Assert.Equal([5L, 3], output.Logits.shape);
        Assert.Equal([5L, 32], output.Image.shape);
        Assert.Equal([3L, 32], output.Exemplar.shape);
        // Cosine logits are bounded by the scale.
        Assert.True(output.Logits.abs().max().item<float>() <= model.Logits.Scale + 1e-4);
    }

    [Fact]
    public void Training_without_the_per_model_input_names_it()
    {
        using var model = new ExemplarMatcher(CPU);
        using var data = new TensorDataset(("image", zeros(4, 1, 28, 28)), ("label", zeros(4, ScalarType.Int64)));

        var error = Assert.Throws<InvalidOperationException>(() => model.CreateBatch(new DataLoader(data, 4, CPU, shuffle: false).Epoch(0).First()));
        Assert.Contains("ExemplarsInput", error.Message);
        Assert.Contains("[C,1,28,28]", error.Message);
    }

    [Fact]
    public void Training_moves_only_the_trainable_tower_and_lowers_the_loss()
    {
        var (train, _) = FashionMnist.LoadEmbedded();
        using var small = train.Take(512);
        manual_seed(4);
        using var model = new ExemplarMatcher(CPU);
        // One exemplar image per class: the first of each class in the data.
        var labels = small["label"];
        var firsts = Enumerable.Range(0, 10).Select(c => (long)nonzero(labels.eq(c))[0, 0].item<long>()).ToArray();
        model.ExemplarsInput = small["image"].index(tensor(firsts));
        var frozenBefore = model.Image.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var output = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "modeldsl-tests", Guid.NewGuid().ToString("N"));

        var report = model.Fit(small, null, new TrainOptions
        {
            Epochs = 3, BatchSize = 64, LearningRate = 3e-3, Seed = 4, Device = CPU, OutputDirectory = output, ShowProgress = false,
        });

        Assert.True(report.Epochs[^1].TrainLoss < report.Epochs[0].TrainLoss, $"train loss {report.Epochs[0].TrainLoss:F3} -> {report.Epochs[^1].TrainLoss:F3}");
        foreach (var (name, value) in model.Image.state_dict())
            Assert.True(value.equal(frozenBefore[name]).all().item<bool>(), $"frozen tower parameter '{name}' changed");
    }
}
