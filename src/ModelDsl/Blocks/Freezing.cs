using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>Stops gradient flow into parameters (they get no <c>grad</c> and an optimizer leaves them alone).</summary>
public static class Freezing
{
    /// <summary>Sets <c>requires_grad = false</c> on every parameter of <paramref name="module"/> and its children.</summary>
    public static void Freeze(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        foreach (var p in module.parameters())
            p.requires_grad = false;
    }

    /// <summary>Sets <c>requires_grad = false</c> on one parameter.</summary>
    public static void Freeze(Parameter parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        parameter.requires_grad = false;
    }
}
