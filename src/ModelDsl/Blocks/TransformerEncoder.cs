using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// A stack of <see cref="EncoderBlock"/>s registered as <c>"0"</c>..<c>"depth-1"</c>, so that inside a model
/// that registers it as <c>blocks</c> the state_dict keys are timm's (<c>blocks.0.norm1.weight</c>,
/// <c>blocks.0.attn.qkv.weight</c>, ...). There is no final norm: the model owns <c>norm</c>.
/// </summary>
public sealed class TransformerEncoder : nn.Module<Tensor, Tensor>
{
    // Registered one by one under "0", "1", ...; an array is not a Module, so TorchSharp's
    // reflection-based RegisterComponents (run when a parent registers this module) skips it.
    private readonly EncoderBlock[] blocks;

    public TransformerEncoder(int dim, int depth, int heads, double mlpRatio) : base(nameof(TransformerEncoder))
    {
        if (depth <= 0) throw new ArgumentOutOfRangeException(nameof(depth), depth, "TransformerEncoder: the depth must be positive.");
        Attention.Validate(dim, heads, nameof(TransformerEncoder));
        EncoderBlock.HiddenFeatures(dim, mlpRatio, nameof(TransformerEncoder));
        Dim = dim;
        Heads = heads;
        MlpRatio = mlpRatio;
        blocks = new EncoderBlock[depth];
        for (var i = 0; i < depth; i++) {
            blocks[i] = new EncoderBlock(dim, heads, mlpRatio);
            register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), blocks[i]);
        }
    }

    public int Depth => blocks.Length;
    public int Dim { get; }
    public int Heads { get; }
    public double MlpRatio { get; }

    /// <summary>The block registered as <c>"i"</c>.</summary>
    public EncoderBlock this[int i] => blocks[i];

    /// <summary><c>[B,N,D] -> [B,N,D]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var block in blocks)
            h = block.forward(h);
        return h.MoveToOuterDisposeScope();
    }
}
