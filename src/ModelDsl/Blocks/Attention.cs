using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Multi-head self-attention with fused scaled-dot-product attention (timm <c>Attention</c>):
/// <c>[B,N,D] -> [B,N,D]</c>. Registered children: <c>qkv</c> (Linear D→3D, bias) and <c>proj</c> (Linear D→D).
/// </summary>
public sealed class Attention : nn.Module<Tensor, Tensor>
{
    private readonly Linear qkv;
    private readonly Linear proj;

    /// <param name="dim">The token width D.</param>
    /// <param name="heads">Attention heads; must divide <paramref name="dim"/>.</param>
    /// <param name="causal">Each token attends only to itself and the tokens before it (a text encoder, as in CLIP).</param>
    public Attention(int dim, int heads, bool causal = false) : base(nameof(Attention))
    {
        Validate(dim, heads, nameof(Attention));
        Dim = dim;
        Heads = heads;
        Causal = causal;
        qkv = nn.Linear(dim, 3L * dim, hasBias: true);
        proj = nn.Linear(dim, dim, hasBias: true);
        register_module(nameof(qkv), qkv);
        register_module(nameof(proj), proj);
    }

    public int Dim { get; }
    public int Heads { get; }
    public int HeadDim => Dim / Heads;
    public bool Causal { get; }

    /// <summary>
    /// <c>[B,N,D] -> [B,N,D]</c>. Under <see cref="Autocast"/> the projections and the attention run in
    /// the compute type; the result is returned in the parameters' type.
    /// </summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Autocast.ToParameterType(ForwardCompute(x), qkv.weight!.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>The forward pass, left in the autocast compute type (the encoder block adds it to its fp32 residual).</summary>
    internal Tensor ForwardCompute(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim != 3 || x.shape[2] != Dim)
            throw new ArgumentException($"Attention expects tokens [B,N,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
        var (b, n) = (x.shape[0], x.shape[1]);

        using var scope = NewDisposeScope();
        // [B,N,3D] -> [B,N,3,H,hd] -> [3,B,H,N,hd]
        var parts = Autocast.Linear(qkv, x).reshape(b, n, 3, Heads, HeadDim).permute(2, 0, 3, 1, 4).unbind(0);
        var o = nn.functional.scaled_dot_product_attention(parts[0], parts[1], parts[2], is_casual: Causal); // [B,H,N,hd]
        o = o.transpose(1, 2).reshape(b, n, Dim);
        return Autocast.Linear(proj, o).MoveToOuterDisposeScope();
    }

    internal static void Validate(int dim, int heads, string owner)
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, $"{owner}: the embedding dimension must be positive.");
        if (heads <= 0) throw new ArgumentOutOfRangeException(nameof(heads), heads, $"{owner}: the number of heads must be positive.");
        if (dim % heads != 0)
            throw new ArgumentException($"{owner}: the number of heads ({heads}) must divide the embedding dimension ({dim}); {dim} / {heads} is not a whole number.", nameof(heads));
    }
}
