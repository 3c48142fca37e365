using System;
using System.Linq;
using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Blocks;

public class TrainingBehaviourTests
{
    public TrainingBehaviourTests() => torch.manual_seed(99);

    [Fact]
    public void Frozen_module_gets_no_gradients()
    {
        using var scope = NewDisposeScope();
        using var host = new TimmLikeHost(dim: 8, depth: 2, heads: 2, classes: 3);
        Freezing.Freeze(host.Blocks[0]);

        var loss = host.forward(randn(2, 4, 8)).square().sum();
        loss.backward();

        Assert.All(host.Blocks[0].parameters(), p => { Assert.False(p.requires_grad); Assert.Null(p.grad); });
        Assert.All(host.Blocks[1].parameters(), p => Assert.NotNull(p.grad));
        Assert.NotNull(host.named_parameters().First(p => p.name == "head.weight").parameter.grad);
    }

    [Fact]
    public void Frozen_parameter_gets_no_gradient()
    {
        using var scope = NewDisposeScope();
        using var cls = Tokens.Create(1, 4);
        using var reg = Tokens.Create(2, 4);
        Freezing.Freeze(cls);
        var x = randn(2, 3, 4);
        Tokens.Prepend(x, cls, reg).square().sum().backward();
        Assert.False(cls.requires_grad);
        Assert.Null(cls.grad);
        Assert.NotNull(reg.grad);
    }

    [Fact]
    public void Modules_keep_working_parameters_after_to_cpu()
    {
        using var scope = NewDisposeScope();
        using var host = new TimmLikeHost(8, 2, 2, 3);
        using var pool = new AttentionPool(8, 2);
        var x = randn(2, 4, 8);
        var before = host.forward(x);
        host.to(CPU);
        pool.to(CPU);
        Assert.True(host.forward(x).allclose(before));
        Assert.Equal(new long[] { 2, 8 }, pool.forward(x).shape);
    }

    [Fact]
    public void Modules_use_the_replaced_parameters_after_a_dtype_move()
    {
        // to(float64) replaces every parameter; forward must use the new ones (fields named as registered).
        using var scope = NewDisposeScope();
        using var host = new TimmLikeHost(8, 2, 2, 3);
        using var pool = new AttentionPool(8, 2);
        var x = randn(2, 4, 8);
        var before = host.forward(x);

        host.to(float64);
        pool.to(float64);
        Assert.All(host.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        Assert.All(pool.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));

        var x64 = x.to(float64);
        var after = host.forward(x64);
        Assert.Equal(ScalarType.Float64, after.dtype);
        Assert.True(after.to(float32).allclose(before, rtol: 0, atol: 1e-5));
        Assert.Equal(ScalarType.Float64, pool.forward(x64).dtype);

        // Training still reaches the moved head parameters.
        host.forward(x64).sum().backward();
        Assert.NotNull(host.named_parameters().First(p => p.name == "head.weight").parameter.grad);

        // The regression head keeps its parameters in the shared LinearHead base: the move must reach them too.
        using var regression = new RegressionHead(8, 2);
        regression.to(float64);
        var angle = regression.forward(x64);
        Assert.Equal(ScalarType.Float64, angle.dtype);
        angle.sum().backward();
        Assert.All(regression.parameters(), p => Assert.NotNull(p.grad));
    }

    [Fact]
    public void CrossEntropy_without_smoothing_equals_plain_cross_entropy()
    {
        using var scope = NewDisposeScope();
        var logits = randn(6, 5);
        var target = tensor(new long[] { 0, 4, 2, 2, 1, 3 });
        var loss = new CrossEntropyLoss(0.0);
        Assert.Equal(0.0, loss.LabelSmoothing);
        var actual = loss.Compute(logits, target);
        var plain = nn.functional.cross_entropy(logits, target);
        var byHand = -logits.log_softmax(1).gather(1, target.unsqueeze(1)).mean();
        Assert.Equal(0, actual.ndim);
        Assert.True(actual.allclose(plain, rtol: 0, atol: 1e-6));
        Assert.True(actual.allclose(byHand, rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void CrossEntropy_smoothing_mixes_in_the_uniform_target()
    {
        using var scope = NewDisposeScope();
        var logits = randn(6, 5);
        var target = tensor(new long[] { 0, 4, 2, 2, 1, 3 });
        const double eps = 0.1;
        var logp = logits.log_softmax(1);
        var nll = -logp.gather(1, target.unsqueeze(1)).mean();
        var uniform = -logp.mean(new long[] { 1 }).mean();
        var expected = (1 - eps) * nll + eps * uniform;
        Assert.True(new CrossEntropyLoss(eps).Compute(logits, target).allclose(expected, rtol: 0, atol: 1e-6));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss(-0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss(1.5));
    }
}
