using System.Collections.Generic;
using System.Linq;
using ModelDsl.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ModelDsl.Tests.Training;

public class FusedAdamWTests : SingleThreadedTorch
{
    private sealed class Net : Module
    {
#pragma warning disable IDE1006 // registered names
        public readonly Parameter prompt_tokens = Parameter(randn(1, 3, 6));
        private readonly Linear fc = Linear(6, 5);
        private readonly LayerNorm norm = LayerNorm(5);
        private readonly Linear frozen = Linear(5, 2);
#pragma warning restore IDE1006

        public Net() : base("net")
        {
            RegisterComponents();
            foreach (var p in frozen.parameters()) p.requires_grad = false;
        }

        public Tensor Loss(Tensor x) =>
            frozen.forward(norm.forward(fc.forward(x + prompt_tokens))).pow(2).mean();
    }

    private static ParameterGroups Groups(Net net) =>
        ParameterGroups.Create(net, ["prompt_tokens"], weightDecay: 0.1, new Dictionary<string, double> { ["prompt_tokens"] = 10 });

    [Fact]
    public void Learning_rate_multipliers_make_their_own_group_and_are_reported()
    {
        torch.manual_seed(41);
        using var net = new Net();

        var groups = Groups(net);

        Assert.Equal(["decay", "no_decay", "no_decay lr x10"], groups.Groups.Select(g => g.Name));
        Assert.Equal(["prompt_tokens"], groups.Groups[2].Parameters.Select(p => p.Name));
        Assert.Equal(0.0, groups.Groups[2].WeightDecay);
        Assert.Contains("lr x10: prompt_tokens (18 elements)", groups.Report.Format());
        Assert.Throws<System.ArgumentException>(() =>
            ParameterGroups.Create(net, [], 0.1, new Dictionary<string, double> { ["no_such_module"] = 2 }));
    }

    [Fact]
    public void Steps_match_TorchSharps_AdamW_with_the_same_groups()
    {
        torch.manual_seed(42);
        using var a = new Net();
        using var b = new Net();
        b.load_state_dict(a.state_dict());
        using var fused = new FusedAdamW(Groups(a), (0.9, 0.95), 1e-8);
        using var reference = Groups(b).CreateAdamW(1e-2, (0.9, 0.95), 1e-8);

        for (int step = 0; step < 5; step++)
        {
            using var scope = NewDisposeScope();
            var x = randn(4, 3, 6);
            a.Loss(x).backward();
            fused.ClipGradNorm(0.5);
            fused.Step(1e-2);
            fused.ZeroGrad();

            reference.zero_grad();
            b.Loss(x).backward();
            GradientClipping.ClipGradNorm(b.parameters().Where(p => p.requires_grad), 0.5);
            reference.step();
        }

        foreach (var ((name, p), (_, q)) in a.named_parameters().Zip(b.named_parameters()))
            Assert.True(p.allclose(q, rtol: 1e-5, atol: 1e-6), $"{name}: fused and reference AdamW differ");
        Assert.Equal(5, fused.StepCount);
    }

    [Fact]
    public void Parameters_keep_their_identity_and_their_gradients_land_in_the_flat_buffers()
    {
        torch.manual_seed(43);
        using var net = new Net();
        var handles = net.parameters().Select(p => p.Handle).ToList();
        var values = net.parameters().Select(p => p.detach().clone()).ToList();

        using var optimizer = new FusedAdamW(Groups(net), (0.9, 0.999));

        Assert.Equal(handles, net.parameters().Select(p => p.Handle));
        Assert.All(net.parameters().Zip(values), pv => Assert.True(pv.First.equal(pv.Second).all().item<bool>()));
        Assert.Equal(3, optimizer.BufferCount);
        Assert.Equal(5, optimizer.Parameters.Count);
        Assert.Equal(new[] { "fc.weight", "fc.bias", "norm.weight", "norm.bias", "prompt_tokens" }.Order(), optimizer.Names.Order());

        net.Loss(randn(2, 3, 6)).backward();
        using var norm = optimizer.GradNorm();
        var expected = linalg.vector_norm(cat(optimizer.Parameters.Select(p => p.grad!.flatten()).ToArray()), 2);
        Assert.True(norm.allclose(expected));
        optimizer.ZeroGrad();
        Assert.All(optimizer.Parameters, p => Assert.Equal(0.0, p.grad!.abs().sum().item<float>()));
        Assert.All(net.parameters().Where(p => !p.requires_grad), p => Assert.Null(p.grad));
    }

    [Fact]
    public void State_round_trips_by_name()
    {
        torch.manual_seed(44);
        using var a = new Net();
        using var optimizer = new FusedAdamW(Groups(a), (0.9, 0.999));
        a.Loss(randn(2, 3, 6)).backward();
        optimizer.Step(1e-3);
        var saved = optimizer.StateTensors().ToDictionary(t => t.Name, t => t.Tensor.clone());

        using var b = new Net();
        using var other = new FusedAdamW(Groups(b), (0.9, 0.999));
        other.LoadState(optimizer.StepCount, saved);

        Assert.Equal(1, other.StepCount);
        foreach (var (name, tensor) in other.StateTensors())
            Assert.True(tensor.equal(saved[name]).all().item<bool>(), name);
        saved.Remove("exp_avg/fc.weight");
        var e = Assert.Throws<System.InvalidOperationException>(() => other.LoadState(1, saved));
        Assert.Contains("missing exp_avg/fc.weight", e.Message);
    }
}
