using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>Weight initialisers the blocks share.</summary>
public static class Initialization
{
    private const int MaxRedraws = 100;

    /// <summary>
    /// Fills <paramref name="tensor"/> in place with a normal(<paramref name="mean"/>, <paramref name="std"/>) truncated to
    /// [<paramref name="a"/>, <paramref name="b"/>] (absolute bounds, as PyTorch's and timm's <c>trunc_normal_</c>).
    /// </summary>
    /// <remarks>
    /// TorchSharp 0.107.0's <c>nn.init.trunc_normal_</c> cannot be used: its native code multiplies by the mean and
    /// adds the std (so with mean 0 every element becomes <c>std</c>). This samples exactly by redrawing values that
    /// fall outside the bounds, in float64, then copies into the tensor (no float32 <c>erfinv</c> outliers).
    /// </remarks>
    public static Tensor TruncatedNormal_(Tensor tensor, double std, double mean = 0.0, double a = -2.0, double b = 2.0)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!(std > 0) || double.IsInfinity(std)) throw new ArgumentOutOfRangeException(nameof(std), std, "The standard deviation must be positive.");
        if (!(a < b)) throw new ArgumentException($"The lower bound ({a}) must be below the upper bound ({b}).", nameof(a));

        using (no_grad()) {
            using var scope = NewDisposeScope();
            var sample = empty(tensor.shape, ScalarType.Float64, device: tensor.device).normal_(mean, std);
            for (var i = 0; i < MaxRedraws; i++) {
                var outside = sample.lt(a).logical_or(sample.gt(b));
                if (!outside.any().item<bool>()) break;
                sample = where(outside, empty_like(sample).normal_(mean, std), sample);
            }
            // Only reached with bounds that hold almost none of the mass; keep the result inside them regardless.
            sample = sample.clamp(a, b);
            tensor.copy_(sample);
        }
        return tensor;
    }
}
