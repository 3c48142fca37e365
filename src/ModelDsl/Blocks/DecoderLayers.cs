using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// GPT-2's <c>Conv1D</c>: a linear layer whose weight is stored <c>[in, out]</c> (the transpose of <c>nn.Linear</c>'s
/// <c>[out, in]</c>), <c>y = x W + b</c>. ModelDsl keeps this layout so that the registered names and shapes are
/// Hugging Face GPT-2's exactly: a published file loads without any transposing and a saved one loads into
/// <c>transformers</c>' <c>GPT2LMHeadModel</c> as is. Registered: <c>weight</c> <c>[in,out]</c>, <c>bias</c> <c>[out]</c>.
/// </summary>
public sealed class Conv1D : nn.Module<Tensor, Tensor>
{
    // Not readonly: Module.to() replaces parameters and assigns the field with the registered name.
    private Parameter weight;
    private Parameter bias;

    /// <param name="inFeatures">The input width.</param>
    /// <param name="outFeatures">The output width.</param>
    /// <param name="std">The standard deviation of the normal initialisation of the weight (GPT-2: 0.02).</param>
    public Conv1D(int inFeatures, int outFeatures, double std = 0.02) : base(nameof(Conv1D))
    {
        if (inFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(inFeatures), inFeatures, "Conv1D: the input width must be positive.");
        if (outFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(outFeatures), outFeatures, "Conv1D: the output width must be positive.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        weight = new Parameter(empty(inFeatures, outFeatures));
        bias = new Parameter(zeros(outFeatures));
        using (no_grad())
            nn.init.normal_(weight, 0, std);
        weight = (Parameter)weight.DetachFromDisposeScope();
        bias = (Parameter)bias.DetachFromDisposeScope();
        register_parameter(nameof(weight), weight);
        register_parameter(nameof(bias), bias);
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>The weight <c>[in,out]</c>.</summary>
    public Tensor Weight => weight;

    /// <summary><c>[...,in] -> [...,out]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim < 1 || x.shape[^1] != InFeatures)
            throw new ArgumentException($"Conv1D expects [...,{InFeatures}]; got [{string.Join(",", x.shape)}].", nameof(x));
        using var scope = NewDisposeScope();
        var outShape = (long[])x.shape.Clone();
        outShape[^1] = OutFeatures;
        var y = bias.addmm(x.reshape(-1, InFeatures), weight).reshape(outShape);
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// GPT-2's causal self-attention (<c>GPT2Attention</c>): a fused <c>c_attn</c> (<see cref="Conv1D"/> D→3D, query, key,
/// value in that order), scaled dot-product attention over <c>H</c> heads with scale <c>1/sqrt(D/H)</c>, attention
/// dropout, then <c>c_proj</c> (D→D) and residual dropout. Registered: <c>c_attn</c>, <c>c_proj</c>.
/// </summary>
public sealed class DecoderAttention : nn.Module<Tensor, Tensor>
{
    private readonly Conv1D c_attn;
    private readonly Conv1D c_proj;
    private readonly Dropout resid_dropout;

    /// <param name="projectionStd">The std of <c>c_proj</c>'s initialisation (GPT-2: <c>0.02 / sqrt(2 * depth)</c>).</param>
    public DecoderAttention(int dim, int heads, double dropout, double projectionStd) : base(nameof(DecoderAttention))
    {
        Attention.Validate(dim, heads, nameof(DecoderAttention));
        Dim = dim;
        Heads = heads;
        Dropout = dropout;
        c_attn = new Conv1D(dim, 3 * dim);
        c_proj = new Conv1D(dim, dim, projectionStd);
        resid_dropout = nn.Dropout(dropout);
        register_module(nameof(c_attn), c_attn);
        register_module(nameof(c_proj), c_proj);
        register_module(nameof(resid_dropout), resid_dropout);
    }

    public int Dim { get; }
    public int Heads { get; }
    public int HeadDim => Dim / Heads;
    public double Dropout { get; }

    /// <summary><c>[B,T,D] -> [B,T,D]</c>, causal, no cache.</summary>
    public override Tensor forward(Tensor x) => Forward(x, bias: null, cache: null, layer: 0);

    /// <summary>
    /// <c>[B,T,D] -> [B,T,D]</c>. <paramref name="bias"/>: an additive attention bias <c>[B,1,T,past+T]</c> (causal and
    /// padding together), or null for plain causal attention over <c>T</c> keys (or, with a cache and <c>T = 1</c>,
    /// over every cached key). With <paramref name="cache"/>, this layer's keys and values are appended to it and
    /// the queries attend to the cached ones too.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor? bias, KvCache? cache, int layer)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim != 3 || x.shape[2] != Dim)
            throw new ArgumentException($"DecoderAttention expects tokens [B,T,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
        var (b, t) = (x.shape[0], x.shape[1]);
        using var scope = NewDisposeScope();
        // [B,T,3D] -> [B,T,3,H,hd] -> [3,B,H,T,hd]
        var parts = c_attn.forward(x).reshape(b, t, 3, Heads, HeadDim).permute(2, 0, 3, 1, 4).unbind(0);
        var (q, k, v) = (parts[0], parts[1], parts[2]);
        var past = cache?.Length ?? 0;
        if (cache is not null)
            (k, v) = cache.Append(layer, k, v);
        var p = training ? Dropout : 0.0;
        // Without a bias: causal over the T new keys, or (one new query after a cache) every key.
        var causal = bias is null && (past == 0 || t > 1);
        if (bias is null && past > 0 && t > 1)
            bias = DecoderTransformer.AttentionBias(null, past, t, x.dtype, x.device);
        var o = bias is null
            ? nn.functional.scaled_dot_product_attention(q, k, v, p: p, is_casual: causal && past == 0)
            : nn.functional.scaled_dot_product_attention(q, k, v, bias.to(q.dtype), p: p);
        o = o.transpose(1, 2).reshape(b, t, Dim);
        return resid_dropout.forward(c_proj.forward(o)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// GPT-2's feed-forward block (<c>GPT2MLP</c>): <c>dropout(c_proj(gelu_tanh(c_fc(x))))</c>, with the tanh approximation
/// of GELU GPT-2 was trained with (<c>gelu_new</c>). Registered: <c>c_fc</c> (D→inner), <c>c_proj</c> (inner→D).
/// </summary>
public sealed class DecoderMlp : nn.Module<Tensor, Tensor>
{
    private readonly Conv1D c_fc;
    private readonly Conv1D c_proj;
    private readonly Dropout dropout;

    public DecoderMlp(int dim, int inner, double dropout, double projectionStd) : base(nameof(DecoderMlp))
    {
        c_fc = new Conv1D(dim, inner);
        c_proj = new Conv1D(inner, dim, projectionStd);
        this.dropout = nn.Dropout(dropout);
        register_module(nameof(c_fc), c_fc);
        register_module(nameof(c_proj), c_proj);
        register_module(nameof(this.dropout), this.dropout);
    }

    /// <summary><c>[B,T,D] -> [B,T,D]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = c_fc.forward(x).gelu(GELU.Approximate.tanh);
        return dropout.forward(c_proj.forward(h)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// One GPT-2 block (<c>GPT2Block</c>), pre-norm: <c>x + attn(ln_1(x))</c>, then <c>x + mlp(ln_2(x))</c>. LayerNorm epsilon
/// 1e-5 (GPT-2's <c>layer_norm_epsilon</c>). Registered: <c>ln_1</c>, <c>attn</c>, <c>ln_2</c>, <c>mlp</c>.
/// </summary>
public sealed class DecoderBlock : nn.Module<Tensor, Tensor>
{
    /// <summary>GPT-2's LayerNorm epsilon.</summary>
    public const double NormEps = 1e-5;

    private readonly LayerNorm ln_1;
    private readonly DecoderAttention attn;
    private readonly LayerNorm ln_2;
    private readonly DecoderMlp mlp;

    public DecoderBlock(int dim, int heads, int inner, double dropout, double projectionStd) : base(nameof(DecoderBlock))
    {
        ln_1 = nn.LayerNorm(dim, eps: NormEps);
        attn = new DecoderAttention(dim, heads, dropout, projectionStd);
        ln_2 = nn.LayerNorm(dim, eps: NormEps);
        mlp = new DecoderMlp(dim, inner, dropout, projectionStd);
        register_module(nameof(ln_1), ln_1);
        register_module(nameof(attn), attn);
        register_module(nameof(ln_2), ln_2);
        register_module(nameof(mlp), mlp);
    }

    public DecoderAttention Attn => attn;

    /// <summary><c>[B,T,D] -> [B,T,D]</c>, causal, no cache.</summary>
    public override Tensor forward(Tensor x) => Forward(x, null, null, 0);

    /// <summary>See <see cref="DecoderAttention.Forward"/> for <paramref name="bias"/> and <paramref name="cache"/>.</summary>
    public Tensor Forward(Tensor x, Tensor? bias, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        var h = x + attn.Forward(ln_1.forward(x), bias, cache, layer);
        var y = h + mlp.forward(ln_2.forward(h));
        return y.MoveToOuterDisposeScope();
    }
}
