using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Mixed precision without PyTorch's autocast (TorchSharp has none): while a scope from
/// <see cref="Enable"/> is active on the current thread, the blocks run their matrix products
/// (linear layers, the patch convolution, fused attention) in the ambient compute type, usually
/// <c>bfloat16</c>, on copies of the fp32 weights. Parameters, gradients and optimizer state stay
/// fp32 ("master weights"); LayerNorm, the residual stream, the logits, softmax-based losses and
/// metrics stay fp32. Every block returns its result in its parameters' type, so user-written
/// modules between blocks see fp32 as without autocast.
/// </summary>
/// <remarks>
/// The casts are ordinary differentiable operations: gradients flow back through them into the fp32
/// parameters. bf16 has fp32's exponent range, so no loss scaling (GradScaler) is needed; fp16 would
/// need one and is not offered by the trainer. Outside a scope (the default) the blocks compute
/// exactly as before, in their parameters' type.
/// </remarks>
public static class Autocast
{
    [ThreadStatic] private static ScalarType? _computeType;

    /// <summary>The ambient compute type of the current thread, or null when autocast is off.</summary>
    public static ScalarType? ComputeType => _computeType;

    /// <summary>Whether a compute type other than the parameters' is active on the current thread.</summary>
    public static bool IsEnabled => _computeType is not null;

    /// <summary>
    /// Runs the blocks' matrix products in <paramref name="computeType"/> on this thread until the
    /// returned scope is disposed (scopes nest; disposing restores the previous setting).
    /// </summary>
    /// <param name="computeType"><c>BFloat16</c> (the product's choice), <c>Float16</c> or <c>Float32</c> (off).</param>
    public static Scope Enable(ScalarType computeType)
    {
        if (computeType is not (ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float32))
            throw new ArgumentOutOfRangeException(nameof(computeType), computeType, "Autocast computes in BFloat16, Float16 or Float32.");
        var previous = _computeType;
        _computeType = computeType == ScalarType.Float32 ? null : computeType;
        return new Scope(previous);
    }

    /// <summary>Turns autocast off on this thread until the returned scope is disposed.</summary>
    public static Scope Disable()
    {
        var previous = _computeType;
        _computeType = null;
        return new Scope(previous);
    }

    /// <summary>Restores the previous setting when disposed.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly ScalarType? _previous;
        private readonly bool _active;

        internal Scope(ScalarType? previous)
        {
            _previous = previous;
            _active = true;
        }

        /// <summary>Restores the setting that was active before the scope began.</summary>
        public void Dispose()
        {
            if (_active) _computeType = _previous;
        }
    }

    /// <summary>Whether autocast applies to a parameter of type <paramref name="parameterType"/> (fp32/fp64 parameters only).</summary>
    internal static bool AppliesTo(ScalarType parameterType, out ScalarType computeType)
    {
        computeType = _computeType ?? parameterType;
        return _computeType is not null
            && parameterType is ScalarType.Float32 or ScalarType.Float64
            && computeType != parameterType;
    }

    /// <summary>
    /// <c>linear(x, weight, bias)</c>, in the compute type when autocast is on (the result then has the
    /// compute type); otherwise <paramref name="linear"/>'s own forward, unchanged.
    /// </summary>
    internal static Tensor Linear(TorchSharp.Modules.Linear linear, Tensor x)
    {
        var weight = linear.weight!;
        if (!AppliesTo(weight.dtype, out var compute)) return linear.forward(x);
        using var scope = NewDisposeScope();
        var bias = linear.bias;
        return nn.functional.linear(To(x, compute), weight.to(compute), bias is null ? null : bias.to(compute))
            .MoveToOuterDisposeScope();
    }

    /// <summary><paramref name="x"/> in <paramref name="type"/>; the same tensor when it already has it.</summary>
    internal static Tensor To(Tensor x, ScalarType type) => x.dtype == type ? x : x.to(type);

    /// <summary><paramref name="x"/> in the parameters' type (the block boundary rule).</summary>
    internal static Tensor ToParameterType(Tensor x, ScalarType parameterType) =>
        x.dtype == parameterType || !x.is_floating_point() ? x : x.to(parameterType);
}
