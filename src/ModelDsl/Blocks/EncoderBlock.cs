using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// One pre-norm transformer block (timm <c>Block</c>): <c>x + attn(norm1(x))</c>, then
/// <c>x + mlp(norm2(x))</c>. Registered children: <c>norm1</c>, <c>attn</c>, <c>norm2</c>, <c>mlp</c>.
/// </summary>
public sealed class EncoderBlock : nn.Module<Tensor, Tensor>
{
    /// <summary>LayerNorm epsilon used throughout (timm ViT uses 1e-6).</summary>
    public const double NormEps = 1e-6;

    private readonly LayerNorm norm1;
    private readonly Attention attn;
    private readonly LayerNorm norm2;
    private readonly Mlp mlp;

    public EncoderBlock(int dim, int heads, double mlpRatio) : base(nameof(EncoderBlock))
    {
        Attention.Validate(dim, heads, nameof(EncoderBlock));
        var hidden = HiddenFeatures(dim, mlpRatio, nameof(EncoderBlock));
        Dim = dim;
        Heads = heads;
        MlpRatio = mlpRatio;
        norm1 = nn.LayerNorm(dim, eps: NormEps);
        attn = new Attention(dim, heads);
        norm2 = nn.LayerNorm(dim, eps: NormEps);
        mlp = new Mlp(dim, hidden);
        register_module(nameof(norm1), norm1);
        register_module(nameof(attn), attn);
        register_module(nameof(norm2), norm2);
        register_module(nameof(mlp), mlp);
    }

    public int Dim { get; }
    public int Heads { get; }
    public double MlpRatio { get; }
    public Attention Attn => attn;
    public Mlp Mlp => mlp;

    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        var h = x + attn.forward(norm1.forward(x));
        var y = h + mlp.forward(norm2.forward(h));
        return y.MoveToOuterDisposeScope();
    }

    internal static int HiddenFeatures(int dim, double mlpRatio, string owner)
    {
        if (!(mlpRatio > 0) || double.IsInfinity(mlpRatio))
            throw new ArgumentOutOfRangeException(nameof(mlpRatio), mlpRatio, $"{owner}: the MLP ratio must be a positive number.");
        var hidden = (int)(dim * mlpRatio);
        if (hidden <= 0)
            throw new ArgumentOutOfRangeException(nameof(mlpRatio), mlpRatio, $"{owner}: dim * mlpRatio = {dim} * {mlpRatio} gives no hidden features.");
        return hidden;
    }
}
