using System.Linq;
using ModelDsl.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ModelDsl.Tests.Training;

public class ParameterGroupsTests
{
    /// <summary>A ViT-like layout: tokens held directly, a linear layer, a norm and a frozen linear layer.</summary>
    private sealed class Grouped : Module
    {
#pragma warning disable IDE1006 // registered names follow timm
        public readonly Parameter cls_token = Parameter(randn(1, 1, 4));
        public readonly Parameter pos_embed = Parameter(randn(1, 3, 4));
        private readonly Linear fc = Linear(4, 5);
        private readonly LayerNorm norm = LayerNorm(5);
        private readonly Linear frozen = Linear(5, 2);
#pragma warning restore IDE1006

        public Grouped() : base("grouped")
        {
            RegisterComponents();
            foreach (var p in frozen.parameters()) p.requires_grad = false;
        }

        public Tensor Everything() =>
            cls_token.sum() + pos_embed.sum() + fc.weight!.sum() + fc.bias!.sum() + norm.weight!.sum() + norm.bias!.sum();
    }

    [Fact]
    public void Only_trainable_parameters_are_grouped_and_biases_norms_and_tokens_get_no_decay()
    {
        using var model = new Grouped();

        var groups = ParameterGroups.Create(model, ["cls_token", "pos_embed"], weightDecay: 0.05);

        Assert.Equal(["fc.weight"], groups.Decay.Select(p => p.Name));
        Assert.Equal(
            new[] { "cls_token", "pos_embed", "fc.bias", "norm.weight", "norm.bias" }.Order(),
            groups.NoDecay.Select(p => p.Name).Order());
        Assert.DoesNotContain(groups.Decay.Concat(groups.NoDecay), p => p.Name.StartsWith("frozen."));

        var report = groups.Report;
        Assert.Equal(4 + 12 + 20 + 5 + 5 + 5, report.TrainableCount);
        Assert.Equal(10 + 2, report.FrozenCount);
        Assert.Equal(2, report.FrozenTensors);
        Assert.Equal(20, report.DecayCount);
        Assert.Contains("51 trainable (80.95%, 6 tensors, 20 with weight decay)", report.Summary);
        Assert.Contains("12 frozen (2 tensors)", report.Summary);
        Assert.Contains("frozen", report.Format().Split('\n').Last());
    }

    [Fact]
    public void Without_the_names_a_token_of_rank_3_would_get_weight_decay()
    {
        using var model = new Grouped();

        var groups = ParameterGroups.Create(model, [], weightDecay: 0.05);

        Assert.Contains(groups.Decay, p => p.Name == "cls_token");
    }

    [Fact]
    public void AdamW_receives_exactly_the_trainable_parameters_with_the_group_decays()
    {
        using var model = new Grouped();
        var groups = ParameterGroups.Create(model, ["cls_token", "pos_embed"], weightDecay: 0.05);

        using var optimizer = groups.CreateAdamW(1e-3, (0.9, 0.999));

        var handles = optimizer.parameters().Select(p => p.Handle).ToHashSet();
        var trainable = model.parameters().Where(p => p.requires_grad).Select(p => p.Handle).ToHashSet();
        Assert.Equal(trainable, handles);
        var decays = optimizer.ParamGroups.Cast<AdamW.ParamGroup>().Select(g => (g.Parameters.Count(), g.Options.weight_decay)).ToArray();
        Assert.Equal([(1, (double?)0.05), (5, (double?)0.0)], decays);
    }

    [Fact]
    public void A_step_with_zero_gradients_decays_only_the_decay_group()
    {
        using var model = new Grouped();
        var groups = ParameterGroups.Create(model, ["cls_token", "pos_embed"], weightDecay: 0.5);
        using var optimizer = groups.CreateAdamW(0.1, (0.9, 0.999));
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());

        (model.Everything() * 0).backward(); // every trainable parameter gets a zero gradient
        optimizer.step();

        foreach (var (name, parameter) in model.named_parameters())
        {
            double factor = name == "fc.weight" ? 1 - 0.1 * 0.5 : 1.0;
            Assert.True(parameter.detach().allclose(before[name] * factor), $"{name} should be scaled by {factor}");
        }
    }

    [Fact]
    public void A_module_prefix_exempts_the_whole_module()
    {
        using var model = new Grouped();

        var groups = ParameterGroups.Create(model, ["fc"], weightDecay: 0.05);

        Assert.DoesNotContain(groups.Decay, p => p.Name == "fc.weight");
    }

    [Fact]
    public void A_fully_frozen_model_cannot_build_an_optimizer()
    {
        using var model = new Grouped();
        foreach (var p in model.parameters()) p.requires_grad = false;
        var groups = ParameterGroups.Create(model, [], 0.05);

        var e = Assert.Throws<System.InvalidOperationException>(() => groups.CreateAdamW(1e-3, (0.9, 0.999)));
        Assert.Contains("Nothing to train", e.Message);
    }
}
