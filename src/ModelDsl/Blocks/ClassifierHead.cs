using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// A linear layer <c>[...,D] -> [...,N]</c> whose parameters <c>weight</c> <c>[N,D]</c> and <c>bias</c>
/// <c>[N]</c> are registered directly, so a model that registers it as <c>head</c> has timm's
/// <c>head.weight</c>, <c>head.bias</c>. Initialisation: weight trunc-normal std 0.02, bias zeros (timm).
/// </summary>
public abstract class LinearHead : nn.Module<Tensor, Tensor>
{
    // Protected, not private, and not readonly: Module.to() replaces parameters and assigns the field
    // of the registered name, which it finds by reflection on the derived type (base-class private
    // fields are invisible there).
    protected Parameter weight;
    protected Parameter bias;
    private readonly string headName;

    protected LinearHead(string name, int dim, int outputs, string outputsMeaning) : base(name)
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, $"{name}: the input dimension must be positive.");
        if (outputs <= 0) throw new ArgumentOutOfRangeException(nameof(outputs), outputs, $"{name}: the number of {outputsMeaning} must be positive.");
        Dim = dim;
        headName = name;
        weight = new Parameter(empty(outputs, dim));
        bias = new Parameter(zeros(outputs));
        using (no_grad())
            Initialization.TruncatedNormal_(weight, std: 0.02);
        weight = (Parameter)weight.DetachFromDisposeScope();
        bias = (Parameter)bias.DetachFromDisposeScope();
        register_parameter(nameof(weight), weight);
        register_parameter(nameof(bias), bias);
    }

    public int Dim { get; }

    protected void CheckFeatures(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim < 1 || x.shape[^1] != Dim)
            throw new ArgumentException($"{headName} expects features [...,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
    }
}

/// <summary>A classifier's linear layer <c>[...,D] -> [...,Classes]</c> (see <see cref="LinearHead"/>); under autocast the product runs in the compute type.</summary>
public sealed class ClassifierHead : LinearHead
{
    public ClassifierHead(int dim, int classes) : base(nameof(ClassifierHead), dim, classes, "classes") => Classes = classes;

    public int Classes { get; }

    public override Tensor forward(Tensor x)
    {
        CheckFeatures(x);
        if (!Autocast.AppliesTo(weight.dtype, out var compute))
            return nn.functional.linear(x, weight, bias);
        // The product in the compute type; the logits leave in fp32 for the loss's softmax.
        using var scope = NewDisposeScope();
        return nn.functional.linear(Autocast.To(x, compute), weight.to(compute), bias.to(compute))
            .to(weight.dtype).MoveToOuterDisposeScope();
    }
}
