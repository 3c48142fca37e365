using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// A linear classifier <c>[...,D] -> [...,C]</c> whose parameters <c>weight</c> <c>[C,D]</c> and <c>bias</c> <c>[C]</c>
/// are registered directly, so a model that registers it as <c>head</c> has timm's <c>head.weight</c>,
/// <c>head.bias</c>. Initialisation: weight trunc-normal std 0.02, bias zeros (timm).
/// </summary>
public sealed class ClassifierHead : nn.Module<Tensor, Tensor>
{
    // Not readonly: Module.to() replaces parameters and assigns the field with the registered name.
    private Parameter weight;
    private Parameter bias;

    public ClassifierHead(int dim, int classes) : base(nameof(ClassifierHead))
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "ClassifierHead: the input dimension must be positive.");
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, "ClassifierHead: the number of classes must be positive.");
        Dim = dim;
        Classes = classes;
        weight = new Parameter(empty(classes, dim));
        bias = new Parameter(zeros(classes));
        using (no_grad())
            Initialization.TruncatedNormal_(weight, std: 0.02);
        weight = (Parameter)weight.DetachFromDisposeScope();
        bias = (Parameter)bias.DetachFromDisposeScope();
        register_parameter(nameof(weight), weight);
        register_parameter(nameof(bias), bias);
    }

    public int Dim { get; }
    public int Classes { get; }

    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim < 1 || x.shape[^1] != Dim)
            throw new ArgumentException($"ClassifierHead expects features [...,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
        if (!Autocast.AppliesTo(weight.dtype, out var compute))
            return nn.functional.linear(x, weight, bias);
        // The product in the compute type; the logits leave in fp32 for the loss's softmax.
        using var scope = NewDisposeScope();
        return nn.functional.linear(Autocast.To(x, compute), weight.to(compute), bias.to(compute))
            .to(weight.dtype).MoveToOuterDisposeScope();
    }
}
