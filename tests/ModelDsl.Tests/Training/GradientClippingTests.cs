using System.Linq;
using ModelDsl.Training;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ModelDsl.Tests.Training;

public class GradientClippingTests
{
    private static TorchSharp.Modules.Sequential Model(long seed)
    {
        torch.manual_seed(seed);
        var model = Sequential(Linear(6, 8), ReLU(), Linear(8, 3));
        using var x = randn(16, 6);
        (model.forward(x).pow(2).sum() * 50).backward();
        return model;
    }

    [Fact]
    public void Clips_like_clip_grad_norm_and_returns_the_norm_before_clipping()
    {
        using var ours = Model(3);
        using var reference = Model(3);

        using var norm = GradientClipping.ClipGradNorm(ours.parameters(), 1.0);
        double expectedNorm = torch.nn.utils.clip_grad_norm_(reference.parameters(), 1.0);

        Assert.NotNull(norm);
        Assert.True(expectedNorm > 1.0, "the test needs gradients above the limit");
        Assert.Equal(expectedNorm, norm!.item<float>(), expectedNorm * 1e-5);
        foreach (var (a, b) in ours.parameters().Zip(reference.parameters()))
            Assert.True(a.grad!.allclose(b.grad!, rtol: 1e-5, atol: 1e-7));
        var clipped = ours.parameters().Sum(p => p.grad!.pow(2).sum().item<float>());
        Assert.InRange(System.Math.Sqrt(clipped), 0.999, 1.0);
    }

    [Fact]
    public void Gradients_below_the_limit_are_left_alone()
    {
        using var model = Model(4);
        var before = model.parameters().Select(p => p.grad!.clone()).ToArray();

        GradientClipping.ClipGradNorm(model.parameters(), 1e9)?.Dispose();

        foreach (var (p, b) in model.parameters().Zip(before)) Assert.True(p.grad!.eq(b).all().item<bool>());
    }
}
