using System;
using System.Linq;
using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Blocks;

/// <summary>Sparsemax's values against a direct implementation, its sparsity, and its gradient (finite differences, the analytic Jacobian).</summary>
public class SparsemaxTests
{
    public SparsemaxTests() => torch.manual_seed(5);

    // The projection onto the simplex written out per row in double: sort, find the support, threshold.
    private static double[] Direct(double[] z)
    {
        var sorted = z.OrderByDescending(v => v).ToArray();
        double cumulative = 0, supportSum = 0;
        var k = 0;
        for (var j = 1; j <= sorted.Length; j++)
        {
            cumulative += sorted[j - 1];
            if (1 + j * sorted[j - 1] > cumulative)
            {
                k = j;
                supportSum = cumulative;
            }
        }
        var tau = (supportSum - 1) / k;
        return z.Select(v => Math.Max(v - tau, 0)).ToArray();
    }

    private static double[] Row(Tensor t, long i) => t[i].to(float64).data<double>().ToArray();

    [Fact]
    public void Rows_match_the_direct_projection_sum_to_one_and_are_non_negative()
    {
        using var scope = NewDisposeScope();
        var scores = randn(6, 10, dtype: float64) * 2;
        var weights = Sparsemax.Apply(scores);
        Assert.Equal(scores.shape, weights.shape);
        Assert.Equal(ScalarType.Float64, weights.dtype);
        for (var i = 0; i < 6; i++)
        {
            var expected = Direct(Row(scores, i));
            var actual = Row(weights, i);
            for (var j = 0; j < 10; j++)
                Assert.True(Math.Abs(expected[j] - actual[j]) < 1e-12, $"row {i} code {j}: direct {expected[j]}, Sparsemax {actual[j]}");
            Assert.Equal(1.0, actual.Sum(), 12);
            Assert.All(actual, v => Assert.True(v >= 0));
        }
    }

    [Fact]
    public void Spread_scores_give_exact_zeros_where_softmax_gives_none()
    {
        using var scope = NewDisposeScope();
        var scores = randn(4, 64) * 3;
        var weights = Sparsemax.Apply(scores);
        var active = Sparsemax.SupportSize(weights);
        Assert.Equal(new long[] { 4 }, active.shape);
        // With scores of spread 3 over 64 codes only a handful stay above the threshold.
        Assert.True(active.max().item<long>() < 16, $"active codes per row: {string.Join(",", active.data<long>().ToArray())}");
        Assert.True(active.min().item<long>() >= 1);
        Assert.Equal(0L, scores.softmax(-1).eq(0).sum().item<long>());
        Assert.True(weights.sum(-1).sub(1).abs().max().item<float>() < 1e-5f);
    }

    [Fact]
    public void On_separated_scores_it_picks_softmax_s_argmax_and_only_it()
    {
        using var scope = NewDisposeScope();
        var scores = randn(8, 12);
        var winner = randint(0, 12, new long[] { 8 });
        // Lift one score per row 2 above every other: the projection is then one-hot at that code.
        scores = scores.scatter(1, winner.unsqueeze(1), scores.max(1, keepdim: true).values + 2);
        var weights = Sparsemax.Apply(scores);
        Assert.True(weights.argmax(1).eq(scores.softmax(1).argmax(1)).all().item<bool>());
        Assert.True(weights.argmax(1).eq(winner).all().item<bool>());
        Assert.True(Sparsemax.SupportSize(weights).eq(1).all().item<bool>());
        Assert.True(weights.max(1).values.eq(1).all().item<bool>());

        // Near-equal scores split the weight instead.
        var tied = Sparsemax.Apply(tensor(new float[] { 1f, 1f, -5f }));
        Assert.True(tied.allclose(tensor(new float[] { 0.5f, 0.5f, 0f })));
    }

    [Fact]
    public void The_gradient_matches_finite_differences()
    {
        using var scope = NewDisposeScope();
        const int K = 7;
        var z = (randn(K, dtype: float64) * 0.7).requires_grad_(true);
        // A fixed random upstream gradient makes every Jacobian entry count.
        var upstream = randn(K, dtype: float64);
        var loss = (Sparsemax.Apply(z) * upstream).sum();
        loss.backward();
        var analytic = z.grad!.data<double>().ToArray();

        const double h = 1e-6;
        var values = z.detach().data<double>().ToArray();
        double F(double[] v)
        {
            using var inner = NewDisposeScope();
            return (Sparsemax.Apply(tensor(v, dtype: float64)) * upstream).sum().item<double>();
        }
        for (var j = 0; j < K; j++)
        {
            var plus = (double[])values.Clone();
            var minus = (double[])values.Clone();
            plus[j] += h;
            minus[j] -= h;
            var numeric = (F(plus) - F(minus)) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic[j]) < 1e-6, $"d/dz[{j}]: autograd {analytic[j]}, finite difference {numeric}");
        }
    }

    [Fact]
    public void The_jacobian_is_the_support_projection()
    {
        using var scope = NewDisposeScope();
        const int K = 6;
        var z = tensor(new double[] { 1.2, 0.9, -0.4, 0.75, -2.0, 1.0 }, dtype: float64).requires_grad_(true);
        var s = Sparsemax.Apply(z);
        var support = s.detach().gt(0).to(float64);
        var supportSize = support.sum().item<double>();
        Assert.True(supportSize is > 1 and < K, $"the test wants a partial support; got {supportSize}");
        // diag(s) - s s^T / |S| with s the support indicator.
        var expected = diag(support) - support.outer(support) / supportSize;
        for (var i = 0; i < K; i++)
        {
            z.grad?.zero_();
            s[i].backward(retain_graph: true);
            var row = z.grad!.clone();
            Assert.True(row.allclose(expected[i], rtol: 0, atol: 1e-12), $"Jacobian row {i}: {row.str()} expected {expected[i].str()}");
        }
    }

    [Fact]
    public void It_normalises_any_dimension_of_a_batched_tensor()
    {
        using var scope = NewDisposeScope();
        var scores = randn(3, 5, 9);
        var last = Sparsemax.Apply(scores);
        Assert.Equal(new long[] { 3, 5, 9 }, last.shape);
        Assert.True(last.sum(-1).sub(1).abs().max().item<float>() < 1e-5f);
        for (var b = 0; b < 3; b++)
            Assert.True(last[b].allclose(Sparsemax.Apply(scores[b])));
        // Along the middle dimension: the same as moving it last.
        var middle = Sparsemax.Apply(scores, dim: 1);
        Assert.True(middle.allclose(Sparsemax.Apply(scores.transpose(1, 2)).transpose(1, 2)));
        // One entry: all the weight.
        Assert.True(Sparsemax.Apply(randn(4, 1)).eq(1).all().item<bool>());
        // Half precision is computed in float32 and returned as given.
        var half = Sparsemax.Apply(scores.to(ScalarType.Float16));
        Assert.Equal(ScalarType.Float16, half.dtype);
        Assert.True((half.to(float32) - last).abs().max().item<float>() < 2e-3f);
    }

    [Fact]
    public void Wrong_dtypes_and_shapes_are_named()
    {
        using var scope = NewDisposeScope();
        var dtype = Assert.Throws<DtypeMismatchException>(() => Sparsemax.Apply(ones(2, 3, dtype: int64)));
        Assert.Contains("int64", dtype.Message);
        Assert.Contains("floating-point", dtype.Message);
        Assert.Contains("scalar", Assert.Throws<ArgumentException>(() => Sparsemax.Apply(tensor(1f))).Message);
        Assert.Contains("dim 2 is out of range for scores of shape [2,3]", Assert.Throws<ArgumentException>(() => Sparsemax.Apply(ones(2, 3), dim: 2)).Message);
        Assert.Contains("no entries along dim -1", Assert.Throws<ArgumentException>(() => Sparsemax.Apply(ones(2, 0))).Message);
    }
}
