using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Multi-head cross-attention with fused scaled-dot-product attention: queries <c>[B,K,D]</c> read a
/// source <c>[B,N,Ds]</c> that may have another width, <c>-> [B,K,D]</c>. Registered children:
/// <c>q</c> (Linear D→D), <c>kv</c> (Linear Ds→2D), <c>proj</c> (Linear D→D), all with a bias
/// (the layout of timm's <c>AttentionPoolLatent</c>).
/// </summary>
public sealed class CrossAttention : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear q;
    private readonly Linear kv;
    private readonly Linear proj;

    public CrossAttention(int dim, int sourceDim, int heads) : base(nameof(CrossAttention))
    {
        Attention.Validate(dim, heads, nameof(CrossAttention));
        if (sourceDim <= 0) throw new ArgumentOutOfRangeException(nameof(sourceDim), sourceDim, "CrossAttention: the source dimension must be positive.");
        Dim = dim;
        SourceDim = sourceDim;
        Heads = heads;
        q = nn.Linear(dim, dim, hasBias: true);
        kv = nn.Linear(sourceDim, 2L * dim, hasBias: true);
        proj = nn.Linear(dim, dim, hasBias: true);
        register_module(nameof(q), q);
        register_module(nameof(kv), kv);
        register_module(nameof(proj), proj);
    }

    public int Dim { get; }
    public int SourceDim { get; }
    public int Heads { get; }
    public int HeadDim => Dim / Heads;

    /// <summary><c>queries [B,K,D]</c>, <c>source [B,N,Ds]</c> <c>-> [B,K,D]</c>.</summary>
    public override Tensor forward(Tensor queries, Tensor source)
    {
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(source);
        if (queries.ndim != 3 || queries.shape[2] != Dim)
            throw new ArgumentException($"CrossAttention expects queries [B,K,{Dim}]; got [{string.Join(",", queries.shape)}].", nameof(queries));
        if (source.ndim != 3 || source.shape[2] != SourceDim || source.shape[0] != queries.shape[0])
            throw new ArgumentException(
                $"CrossAttention expects a source [{queries.shape[0]},N,{SourceDim}]; got [{string.Join(",", source.shape)}].", nameof(source));
        var (b, k, n) = (queries.shape[0], queries.shape[1], source.shape[1]);

        using var scope = NewDisposeScope();
        var query = q.forward(queries).reshape(b, k, Heads, HeadDim).transpose(1, 2);                   // [B,H,K,hd]
        var keyValue = kv.forward(source).reshape(b, n, 2, Heads, HeadDim).permute(2, 0, 3, 1, 4).unbind(0); // 2 x [B,H,N,hd]
        var o = nn.functional.scaled_dot_product_attention(query, keyValue[0], keyValue[1]);         // [B,H,K,hd]
        o = o.transpose(1, 2).reshape(b, k, Dim);
        return proj.forward(o).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// One pre-norm cross-attention block (a Perceiver-resampler / Q-Former layer without self-attention):
/// <c>h = q + attn(norm_q(q), norm_kv(source))</c>, then <c>h + mlp(norm2(h))</c>; the residuals are on the
/// queries. Registered children: <c>norm_q</c> (LayerNorm D), <c>norm_kv</c> (LayerNorm Ds), <c>attn</c>
/// (<see cref="CrossAttention"/>), <c>norm2</c>, <c>mlp</c> (<see cref="Blocks.Mlp"/>).
/// </summary>
public sealed class CrossAttentionBlock : nn.Module<Tensor, Tensor, Tensor>
{
    // Field names equal registered names (TorchSharp's naming rule).
    private readonly LayerNorm norm_q;
    private readonly LayerNorm norm_kv;
    private readonly CrossAttention attn;
    private readonly LayerNorm norm2;
    private readonly Mlp mlp;

    public CrossAttentionBlock(int dim, int sourceDim, int heads, double mlpRatio = 4.0) : base(nameof(CrossAttentionBlock))
    {
        Attention.Validate(dim, heads, nameof(CrossAttentionBlock));
        if (sourceDim <= 0) throw new ArgumentOutOfRangeException(nameof(sourceDim), sourceDim, "CrossAttentionBlock: the source dimension must be positive.");
        var hidden = EncoderBlock.HiddenFeatures(dim, mlpRatio, nameof(CrossAttentionBlock));
        Dim = dim;
        SourceDim = sourceDim;
        Heads = heads;
        MlpRatio = mlpRatio;
        norm_q = nn.LayerNorm(dim, eps: EncoderBlock.NormEps);
        norm_kv = nn.LayerNorm(sourceDim, eps: EncoderBlock.NormEps);
        attn = new CrossAttention(dim, sourceDim, heads);
        norm2 = nn.LayerNorm(dim, eps: EncoderBlock.NormEps);
        mlp = new Mlp(dim, hidden);
        register_module(nameof(norm_q), norm_q);
        register_module(nameof(norm_kv), norm_kv);
        register_module(nameof(attn), attn);
        register_module(nameof(norm2), norm2);
        register_module(nameof(mlp), mlp);
    }

    public int Dim { get; }
    public int SourceDim { get; }
    public int Heads { get; }
    public double MlpRatio { get; }
    public CrossAttention Attn => attn;
    public Mlp Mlp => mlp;

    /// <summary><c>queries [B,K,D]</c>, <c>source [B,N,Ds]</c> <c>-> [B,K,D]</c>.</summary>
    public override Tensor forward(Tensor queries, Tensor source)
    {
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(source);
        using var scope = NewDisposeScope();
        var h = queries + attn.forward(norm_q.forward(queries), norm_kv.forward(source));
        var y = h + mlp.forward(norm2.forward(h));
        return y.MoveToOuterDisposeScope();
    }
}
