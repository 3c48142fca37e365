using System;
using System.Linq;
using ModelDsl.Data;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Generated;

public class GeneratedModelTests
{
    [Fact]
    public void Forward_returns_the_documented_shapes()
    {
        manual_seed(1);
        using var model = new TinyVit(CPU);
        using var image = randn(3, 1, 28, 28);
        var output = model.Forward(image);

        Assert.Equal([3L, 10], output.Logits.shape);
        Assert.Equal([3L, 32], output.Pooled.shape);
        Assert.Equal([3L, 1 + 2 + 16, 32], output.Tokens.shape);
    }

    [Fact]
    public void Map_pooling_with_three_channels_returns_the_documented_shapes()
    {
        using var model = new MapPooledVit(CPU);
        var output = model.Forward(randn(2, 3, 32, 32));

        Assert.Equal([2L, 5], output.Logits.shape);
        Assert.Equal([2L, 4 + 16, 48], output.Tokens.shape);
    }

    [Fact]
    public void State_dict_uses_timm_names()
    {
        using var model = new TinyVit(CPU);
        var names = model.state_dict().Keys.ToHashSet();

        foreach (var expected in new[]
        {
            "cls_token", "reg_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
            "blocks.0.norm1.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.bias", "blocks.1.mlp.fc2.weight",
            "norm.weight", "norm.bias", "head.weight", "head.bias",
        })
            Assert.Contains(expected, names);
        Assert.Equal([1L, 19, 32], model.state_dict()["pos_embed"].shape);
    }

    [Theory]
    [InlineData(typeof(TinyVit))]
    [InlineData(typeof(FrozenEncoderVit))]
    [InlineData(typeof(MapPooledVit))]
    public void Compile_time_summary_counts_the_parameters_the_module_has(Type modelType)
    {
        var (model, summary) = modelType.Name switch
        {
            nameof(TinyVit) => ((TorchSharp.torch.nn.Module)new TinyVit(CPU), TinyVit.Summary),
            nameof(FrozenEncoderVit) => (new FrozenEncoderVit(CPU), FrozenEncoderVit.Summary),
            _ => (new MapPooledVit(CPU), MapPooledVit.Summary),
        };
        using var _ = model;
        var parameters = model.parameters().ToList();

        Assert.Equal(parameters.Sum(p => p.numel()), summary.TotalParameters);
        Assert.Equal(parameters.Where(p => p.requires_grad).Sum(p => p.numel()), summary.TrainableParameters);
    }

    [Fact]
    public void Summary_text_lists_every_stage_and_the_totals()
    {
        var text = TinyVit.Summary.ToString();

        Assert.Contains("Encoder    TransformerEncoder  [B,19,32]", text);
        Assert.EndsWith($"Total: {TinyVit.Summary.TotalParameters.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} parameters ({TinyVit.Summary.TrainableParameters.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} trainable, 0 frozen), 0.11 MiB as fp32", text);
    }

    [Fact]
    public void Forward_is_ForwardFeatures_then_ForwardHead_and_ForwardHead_checks_what_it_is_given()
    {
        manual_seed(1);
        using var model = new TinyVit(CPU);
        model.eval();
        using var image = randn(3, 1, 28, 28);
        var whole = model.Forward(image);
        var features = model.ForwardFeatures(image);
        var split = model.ForwardHead(features);

        Assert.Equal(0.0, (whole.Logits - split.Logits).abs().max().item<float>());
        Assert.Equal([3L, 1 + 2 + 16, 32], features.shape);
        // A sequence of another length is accepted (a stage may change the token count at run time), another width is not.
        Assert.Equal([3L, 10], model.ForwardHead(features[.., ..5]).Logits.shape);
        var error = Assert.Throws<ShapeMismatchException>(() => model.ForwardHead(randn(3, 19, 48)));
        Assert.Contains("'x'", error.Message);
        Assert.Contains("[3,19,48]", error.Message);
        Assert.Contains("32", error.Message);
    }

    [Fact]
    public void Input_of_the_wrong_shape_names_the_input_and_both_shapes()
    {
        using var model = new TinyVit(CPU);
        var error = Assert.Throws<ShapeMismatchException>(() => model.Forward(zeros(2, 3, 28, 28)));

        Assert.Contains("'image'", error.Message);
        Assert.Contains("[B,1,28,28]", error.Message);
        Assert.Contains("[2,3,28,28]", error.Message);
    }

    [Fact]
    public void Exactly_the_trainable_parameters_reach_the_optimizer_and_tokens_get_no_weight_decay()
    {
        using var model = new TinyVit(CPU);
        var groups = ParameterGroups.Create(model, model.NoWeightDecayNames, weightDecay: 0.05);
        var reachable = groups.Decay.Concat(groups.NoDecay).Select(p => p.Name).ToHashSet();

        Assert.Equal(model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToHashSet(), reachable);
        var noDecay = groups.NoDecay.Select(p => p.Name).ToHashSet();
        Assert.Contains("cls_token", noDecay);
        Assert.Contains("reg_token", noDecay);
        Assert.Contains("pos_embed", noDecay);
        Assert.Contains("blocks.0.norm1.weight", noDecay);
        Assert.Contains("head.bias", noDecay);
        Assert.Contains("blocks.0.attn.qkv.weight", groups.Decay.Select(p => p.Name));
    }

    [Fact]
    public void Frozen_encoder_gets_no_gradient_and_never_reaches_the_optimizer()
    {
        manual_seed(2);
        using var model = new FrozenEncoderVit(CPU);
        var batch = new FrozenEncoderVitBatch(randn(4, 1, 28, 28), tensor(new long[] { 0, 1, 2, 3 }));
        model.TrainingStep(batch).Loss.backward();

        foreach (var (name, parameter) in model.named_parameters())
        {
            var head = name.StartsWith("head.") || name.StartsWith("fc_norm.");
            Assert.Equal(head, parameter.requires_grad);
            if (head) Assert.NotNull(parameter.grad);
            else Assert.True(parameter.grad is null, $"{name} got a gradient");
        }
        var groups = ParameterGroups.Create(model, model.NoWeightDecayNames, 0.05);
        Assert.All(groups.Decay.Concat(groups.NoDecay), p => Assert.True(p.Name.StartsWith("head.") || p.Name.StartsWith("fc_norm."), p.Name));
    }

    [Fact]
    public void Short_training_run_on_the_embedded_data_lowers_the_loss()
    {
        var (train, test) = FashionMnist.LoadEmbedded();
        using var smallTrain = train.Take(1024);
        using var smallTest = test.Take(256);
        manual_seed(3);
        using var model = new TinyVit(CPU);
        var output = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "modeldsl-tests", Guid.NewGuid().ToString("N"));

        var report = model.Fit(smallTrain, smallTest, new TrainOptions
        {
            Epochs = 3, BatchSize = 64, LearningRate = 2e-3, Seed = 3, Device = CPU, OutputDirectory = output, ShowProgress = false,
        });

        Assert.True(report.Epochs[^1].TrainLoss < report.Epochs[0].TrainLoss * 0.9,
            $"train loss {report.Epochs[0].TrainLoss:F3} -> {report.Epochs[^1].TrainLoss:F3}");
        Assert.True(System.IO.File.Exists(System.IO.Path.Combine(output, "last.ckpt")));
    }
}

public class CustomStageTests
{
    [Fact]
    public void Custom_stage_output_width_flows_into_the_next_stages()
    {
        using var model = new CustomStageVit(CPU);
        var output = model.Forward(randn(2, 1, 28, 28));

        Assert.Equal([2L, 17, 64], output.Tokens.shape);
        Assert.Contains("widen.proj.weight", model.state_dict().Keys);
        Assert.Equal(-1, CustomStageVit.Summary.Rows.Single(r => r.Stage == "Widen").Parameters);
    }

    [Fact]
    public void Module_that_breaks_its_contract_is_reported_on_its_first_call()
    {
        using var model = new BrokenContractVit(CPU);
        var error = Assert.Throws<ShapeMismatchException>(() => model.Forward(randn(2, 1, 28, 28)));

        Assert.Contains("'Breaker'", error.Message);
        Assert.Contains("B,N,D -> B,N,D", error.Message);
        Assert.Equal([2L, 16, 16], error.Actual);
    }
}
