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

    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        return fc2.forward(act.forward(fc1.forward(x))).MoveToOuterDisposeScope();
    }
}
