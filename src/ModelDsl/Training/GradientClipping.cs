using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>Gradient clipping that stays on the device.</summary>
public static class GradientClipping
{
    /// <summary>
    /// Scales the gradients of <paramref name="parameters"/> so that their global L2 norm is at most
    /// <paramref name="maxNorm"/>, like <c>torch.nn.utils.clip_grad_norm_</c>: the same norm, the same
    /// <c>max_norm / (norm + 1e-6)</c> coefficient clamped to 1. Unlike TorchSharp's binding of it,
    /// which returns the norm as a <c>double</c> and so waits for the device every step, the norm
    /// stays a device tensor; read it only when needed.
    /// </summary>
    /// <returns>The total norm before clipping (a scalar on the gradients' device), or null when no parameter has a gradient.</returns>
    public static Tensor? ClipGradNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "The maximum norm must be positive.");
        var grads = new List<Tensor>();
        foreach (var p in parameters)
        {
            var g = p.grad;
            if (g is not null) grads.Add(g);
        }
        if (grads.Count == 0) return null;

        using var noGrad = no_grad();
        Tensor total;
        using (var scope = NewDisposeScope())
        {
            var norms = grads.Select(g => linalg.vector_norm(g, 2).to_type(ScalarType.Float32)).ToArray();
            total = linalg.vector_norm(stack(norms), 2).MoveToOuterDisposeScope();
        }
        using (var scope = NewDisposeScope())
        {
            var coefficient = (total + 1e-6).reciprocal().mul_(maxNorm).clamp_max_(1.0);
            foreach (var g in grads)
                g.mul_(coefficient.to_type(g.dtype));
        }
        return total;
    }
}
