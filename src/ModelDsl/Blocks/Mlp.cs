using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// The transformer feed-forward block (timm <c>Mlp</c>): <c>fc2(GELU(fc1(x)))</c>, <c>[...,in] -> [...,in]</c>.
/// Registered children: <c>fc1</c>, <c>act</c> (no parameters), <c>fc2</c>.
/// </summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly GELU act;
    private readonly Linear fc2;

    public Mlp(int inFeatures, int hiddenFeatures) : base(nameof(Mlp))
    {
        if (inFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(inFeatures), inFeatures, "The number of input features must be positive.");
        if (hiddenFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(hiddenFeatures), hiddenFeatures, "The number of hidden features must be positive.");
        InFeatures = inFeatures;
        HiddenFeatures = hiddenFeatures;
        fc1 = nn.Linear(inFeatures, hiddenFeatures, hasBias: true);
        act = nn.GELU();
        fc2 = nn.Linear(hiddenFeatures, inFeatures, hasBias: true);
        register_module(nameof(fc1), fc1);
        register_module(nameof(act), act);
        register_module(nameof(fc2), fc2);
    }

    public int InFeatures { get; }
    public int HiddenFeatures { get; }

    /// <summary>
    /// <c>[...,in] -> [...,in]</c>. Under <see cref="Autocast"/> both layers and the GELU run in the
    /// compute type; the result is returned in the parameters' type.
    /// </summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Autocast.ToParameterType(ForwardCompute(x), fc1.weight!.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>The forward pass, left in the autocast compute type.</summary>
    internal Tensor ForwardCompute(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        return Autocast.Linear(fc2, act.forward(Autocast.Linear(fc1, x))).MoveToOuterDisposeScope();
    }
}
