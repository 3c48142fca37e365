using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// CLIP's logits between two sets of features: <c>scale * normalize(rows) @ normalize(columns)^T</c>,
/// <c>[B,D] x [C,D] -> [B,C]</c>. With <c>learnScale</c> the scale is learned as its logarithm
/// (registered as <c>logit_scale</c>, as in CLIP) and capped at 100 like CLIP's clamp.
/// </summary>
public sealed class CosineLogits : nn.Module<Tensor, Tensor, Tensor>
{
    /// <summary>CLIP caps the learned scale at 100 so the logits cannot grow without bound.</summary>
    public const double MaxScale = 100;

    // Not readonly: Module.to() replaces parameters and assigns the field with the registered name.
    private Parameter? logit_scale;
    private readonly double fixedScale;

    public CosineLogits(double scale, bool learnScale) : base(nameof(CosineLogits))
    {
        if (!(scale > 0) || double.IsInfinity(scale))
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "CosineLogits: the scale must be a positive, finite number.");
        fixedScale = scale;
        if (learnScale) {
            logit_scale = (Parameter)new Parameter(tensor(Math.Log(scale), float32)).DetachFromDisposeScope();
            register_parameter(nameof(logit_scale), logit_scale);
        }
    }

    /// <summary>The scale now: the learned one when it is learned.</summary>
    public double Scale {
        get {
            if (logit_scale is null) return fixedScale;
            using var _ = no_grad();
            return Math.Min(Math.Exp(logit_scale.item<float>()), MaxScale);
        }
    }

    /// <summary><c>rows [B,D]</c>, <c>columns [C,D]</c> <c>-> [B,C]</c>.</summary>
    public override Tensor forward(Tensor rows, Tensor columns)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(columns);
        if (rows.ndim != 2 || columns.ndim != 2 || rows.shape[1] != columns.shape[1])
            throw new ArgumentException(
                $"CosineLogits expects rows [B,D] and columns [C,D] of one width D; got [{string.Join(",", rows.shape)}] and [{string.Join(",", columns.shape)}].");
        using var scope = NewDisposeScope();
        var a = nn.functional.normalize(rows, dim: 1);
        var b = nn.functional.normalize(columns, dim: 1);
        var similarity = a.matmul(b.t());
        var logits = logit_scale is null
            ? similarity * fixedScale
            : similarity * logit_scale.exp().clamp_max(MaxScale);
        return logits.MoveToOuterDisposeScope();
    }
}
