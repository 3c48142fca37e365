using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// TokenFormer's Pattention (Wang et al. 2024; Haiyang-W/TokenFormer, <c>megatron/model/tokenformer.py</c>): the inputs
/// attend to <c>n</c> learnable key/value parameter tokens in place of a linear layer's weight. <c>[..,In] -> [..,Out]</c>:
/// <c>A = X K^T</c> (no <c>1/sqrt(d)</c>), <c>S = GELU(A / ||A||_2 * sqrt(n))</c> with the L2 norm over the <c>n</c> scores of
/// each input (the public configs' <c>l2_norm_gelu</c>), <c>Y = S V</c>. Registered parameters, as the public code names
/// them: <c>key_param_tokens</c> <c>[n,In]</c> and <c>value_param_tokens</c> <c>[n,Out]</c>. Keys start N(0, 0.02) (the
/// configs' <c>init_method: normal</c>); values N(0, <paramref name="valueStd"/>) (TokenFormer passes its <c>wang_init</c>,
/// <c>2 / layers / sqrt(D)</c>).
/// </summary>
/// <remarks>
/// Growing (<see cref="ParameterTokenGrowth"/>) appends token pairs. <see cref="ScaleTokens"/> is the <c>n</c> in
/// <c>sqrt(n)</c>; the public code uses the current token count, so after growing the same scores are scaled by
/// <c>sqrt(n'/n)</c> before the GELU and zero new tokens do not give the smaller model's outputs. Keeping
/// <see cref="ScaleTokens"/> at the old count does: zero new keys give zero new scores, which change neither the row's L2
/// norm nor (GELU(0) = 0) the output, whatever the new values are.
/// </remarks>
public sealed class Pattention : nn.Module<Tensor, Tensor>
{
    /// <summary>The public code's key initialisation: N(0, 0.02).</summary>
    public const double KeyStd = 0.02;

    private readonly Parameter key_param_tokens;
    private readonly Parameter value_param_tokens;

    /// <param name="inFeatures">The input width.</param>
    /// <param name="outFeatures">The output width.</param>
    /// <param name="tokens">The number of key/value parameter token pairs n.</param>
    /// <param name="valueStd">The values' initial standard deviation.</param>
    public Pattention(int inFeatures, int outFeatures, int tokens, double valueStd = KeyStd) : base(nameof(Pattention))
    {
        if (inFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(inFeatures), inFeatures, "Pattention: the input width must be positive.");
        if (outFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(outFeatures), outFeatures, "Pattention: the output width must be positive.");
        if (tokens <= 0) throw new ArgumentOutOfRangeException(nameof(tokens), tokens, "Pattention: the number of parameter tokens must be positive.");
        if (!(valueStd > 0)) throw new ArgumentOutOfRangeException(nameof(valueStd), valueStd, "Pattention: the values' standard deviation must be positive.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        ValueStd = valueStd;
        ScaleTokens = tokens;
        key_param_tokens = nn.Parameter(empty(tokens, inFeatures));
        value_param_tokens = nn.Parameter(empty(tokens, outFeatures));
        register_parameter(nameof(key_param_tokens), key_param_tokens);
        register_parameter(nameof(value_param_tokens), value_param_tokens);
        ResetParameters();
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public double ValueStd { get; }

    /// <summary>The number of parameter token pairs n.</summary>
    public int Tokens => (int)key_param_tokens.shape[0];

    /// <summary>The <c>n</c> of the <c>sqrt(n)</c> factor; the token count unless a growth kept the old one.</summary>
    public int ScaleTokens { get; set; }

    /// <summary>The key parameter tokens <c>[n,In]</c>.</summary>
    public Parameter Keys => key_param_tokens;

    /// <summary>The value parameter tokens <c>[n,Out]</c>.</summary>
    public Parameter Values => value_param_tokens;

    /// <summary>Keys N(0, 0.02), values N(0, <see cref="ValueStd"/>).</summary>
    public void ResetParameters()
    {
        using var _ = no_grad();
        key_param_tokens.normal_(0, KeyStd);
        value_param_tokens.normal_(0, ValueStd);
    }

    /// <summary><c>[..,In] -> [..,Out]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim < 1 || x.shape[^1] != InFeatures)
            throw new ArgumentException($"Pattention expects inputs [..,{InFeatures}]; got [{string.Join(",", x.shape)}].", nameof(x));
        using var scope = NewDisposeScope();
        var a = x.matmul(key_param_tokens.t());                                             // [..,n]
        var s = nn.functional.gelu(a / a.norm(-1, keepdim: true) * Math.Sqrt(ScaleTokens));
        return s.matmul(value_param_tokens).MoveToOuterDisposeScope();                       // [..,Out]
    }

    /// <summary>Multiply-adds of one input row: <c>n * (In + Out)</c> (the two matrix products).</summary>
    public long MultiplyAdds => (long)Tokens * (InFeatures + OutFeatures);
}

/// <summary>
/// TokenFormer's attention: query, key and value from three Pattentions, softmax attention over heads
/// (scaled by <c>1/sqrt(head dim)</c>), the output through a fourth (<c>proj</c>). Registered children as in the public
/// code: <c>query</c>, <c>key</c>, <c>value</c>, <c>proj</c>. <c>[B,N,D] -> [B,N,D]</c>.
/// </summary>
public sealed class TokenFormerAttention : nn.Module<Tensor, Tensor>
{
    private readonly Pattention query;
    private readonly Pattention key;
    private readonly Pattention value;
    private readonly Pattention proj;

    /// <param name="dim">The token width D.</param>
    /// <param name="heads">Attention heads; must divide <paramref name="dim"/>.</param>
    /// <param name="qkvTokens">Parameter tokens of each of query, key and value (the public <c>qkv_slot_num</c>).</param>
    /// <param name="projTokens">Parameter tokens of the output projection (<c>proj_slot_num</c>).</param>
    /// <param name="valueStd">The value tokens' initial standard deviation.</param>
    public TokenFormerAttention(int dim, int heads, int qkvTokens, int projTokens, double valueStd) : base(nameof(TokenFormerAttention))
    {
        Attention.Validate(dim, heads, nameof(TokenFormerAttention));
        Dim = dim;
        Heads = heads;
        query = new Pattention(dim, dim, qkvTokens, valueStd);
        key = new Pattention(dim, dim, qkvTokens, valueStd);
        value = new Pattention(dim, dim, qkvTokens, valueStd);
        proj = new Pattention(dim, dim, projTokens, valueStd);
        register_module(nameof(query), query);
        register_module(nameof(key), key);
        register_module(nameof(value), value);
        register_module(nameof(proj), proj);
    }

    public int Dim { get; }
    public int Heads { get; }

    /// <summary><c>[B,N,D] -> [B,N,D]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim != 3 || x.shape[2] != Dim)
            throw new ArgumentException($"TokenFormerAttention expects tokens [B,N,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
        var (b, n) = (x.shape[0], x.shape[1]);
        using var scope = NewDisposeScope();
        Tensor Heads_(Tensor t) => t.reshape(b, n, Heads, Dim / Heads).transpose(1, 2);   // [B,H,N,hd]
        var o = nn.functional.scaled_dot_product_attention(Heads_(query.forward(x)), Heads_(key.forward(x)), Heads_(value.forward(x)));
        return proj.forward(o.transpose(1, 2).reshape(b, n, Dim)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// One TokenFormer layer (the public <c>ParallelTokenformerLayer</c>): <c>h = x + attention(input_layernorm(x))</c>, then
/// <c>h + mlp(post_attention_layernorm(h))</c>, where the MLP is one Pattention <c>D -> D</c> with <c>ffn_slot_num</c> tokens.
/// The norms are non-parametric LayerNorms (the public configs' <c>layernorm_nonparam</c>, eps 1e-5), so every parameter
/// of the layer is a parameter token. Registered children: <c>input_layernorm</c>, <c>attention</c>,
/// <c>post_attention_layernorm</c>, <c>mlp</c>.
/// </summary>
public sealed class TokenFormerBlock : nn.Module<Tensor, Tensor>
{
    /// <summary>The public code's LayerNorm epsilon.</summary>
    public const double NormEps = 1e-5;

    private readonly LayerNorm input_layernorm;
    private readonly TokenFormerAttention attention;
    private readonly LayerNorm post_attention_layernorm;
    private readonly Pattention mlp;

    /// <param name="dim">The token width D.</param>
    /// <param name="heads">Attention heads.</param>
    /// <param name="qkvTokens">Parameter tokens of each of query, key and value.</param>
    /// <param name="projTokens">Parameter tokens of the attention's output projection.</param>
    /// <param name="ffnTokens">Parameter tokens of the MLP.</param>
    /// <param name="valueStd">The value tokens' initial standard deviation (TokenFormer: <c>2 / layers / sqrt(D)</c>).</param>
    public TokenFormerBlock(int dim, int heads, int qkvTokens, int projTokens, int ffnTokens, double valueStd) : base(nameof(TokenFormerBlock))
    {
        Dim = dim;
        input_layernorm = nn.LayerNorm(dim, eps: NormEps, elementwise_affine: false);
        attention = new TokenFormerAttention(dim, heads, qkvTokens, projTokens, valueStd);
        post_attention_layernorm = nn.LayerNorm(dim, eps: NormEps, elementwise_affine: false);
        mlp = new Pattention(dim, dim, ffnTokens, valueStd);
        register_module(nameof(input_layernorm), input_layernorm);
        register_module(nameof(attention), attention);
        register_module(nameof(post_attention_layernorm), post_attention_layernorm);
        register_module(nameof(mlp), mlp);
    }

    public int Dim { get; }

    /// <summary><c>[B,N,D] -> [B,N,D]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        var h = x + attention.forward(input_layernorm.forward(x));
        return (h + mlp.forward(post_attention_layernorm.forward(h))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A stack of <see cref="TokenFormerBlock"/>s registered as <c>"0"</c>..<c>"depth-1"</c> (inside a model that registers it as
/// <c>blocks</c>: <c>blocks.0.attention.query.key_param_tokens</c>, ..., <c>blocks.0.mlp.value_param_tokens</c>).
/// <c>[B,N,D] -> [B,N,D]</c>; no final norm (the model owns <c>norm</c>).
/// </summary>
public sealed class TokenFormerEncoder : nn.Module<Tensor, Tensor>
{
    private readonly TokenFormerBlock[] blocks;

    /// <param name="dim">The token width D.</param>
    /// <param name="depth">The number of blocks.</param>
    /// <param name="heads">Attention heads per block.</param>
    /// <param name="qkvTokens">Parameter tokens of each of query, key and value.</param>
    /// <param name="projTokens">Parameter tokens of each attention output projection.</param>
    /// <param name="ffnTokens">Parameter tokens of each MLP.</param>
    /// <param name="grownFromTokens">
    /// For a model grown from a smaller one: the smaller model's query/key/value and projection token count, which then
    /// stays the <c>n</c> of every attention Pattention's <c>sqrt(n)</c> (0: this model's own counts). With it, a grown model
    /// whose new keys are zero computes what the smaller one did (<see cref="Pattention"/>).
    /// </param>
    /// <param name="grownFromFfnTokens">The smaller model's MLP token count, kept as the MLPs' <c>n</c> likewise.</param>
    public TokenFormerEncoder(int dim, int depth, int heads, int qkvTokens, int projTokens, int ffnTokens, int grownFromTokens = 0, int grownFromFfnTokens = 0)
        : base(nameof(TokenFormerEncoder))
    {
        if (depth <= 0) throw new ArgumentOutOfRangeException(nameof(depth), depth, "TokenFormerEncoder: the depth must be positive.");
        Attention.Validate(dim, heads, nameof(TokenFormerEncoder));
        Dim = dim;
        // The public code's output_layer_init_method "wang_init".
        var valueStd = 2.0 / depth / Math.Sqrt(dim);
        blocks = new TokenFormerBlock[depth];
        for (var i = 0; i < depth; i++) {
            blocks[i] = new TokenFormerBlock(dim, heads, qkvTokens, projTokens, ffnTokens, valueStd);
            register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), blocks[i]);
        }
        if (grownFromTokens < 0 || grownFromTokens > Math.Min(qkvTokens, projTokens))
            throw new ArgumentOutOfRangeException(nameof(grownFromTokens), grownFromTokens, $"TokenFormerEncoder: a model grows from at most its own {Math.Min(qkvTokens, projTokens)} tokens (growing to fewer tokens is not growing).");
        if (grownFromFfnTokens < 0 || grownFromFfnTokens > ffnTokens)
            throw new ArgumentOutOfRangeException(nameof(grownFromFfnTokens), grownFromFfnTokens, $"TokenFormerEncoder: a model grows from at most its own {ffnTokens} MLP tokens.");
        foreach (var (name, module) in named_modules())
        {
            if (module is not Pattention p) continue;
            var from = name.EndsWith(".mlp", StringComparison.Ordinal) ? grownFromFfnTokens : grownFromTokens;
            if (from > 0) p.ScaleTokens = from;
        }
    }

    public int Dim { get; }
    public int Depth => blocks.Length;

    /// <summary>The block registered as <c>"i"</c>.</summary>
    public TokenFormerBlock this[int i] => blocks[i];

    /// <summary><c>[B,N,D] -> [B,N,D]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim != 3 || x.shape[2] != Dim)
            throw new ArgumentException($"TokenFormerEncoder expects tokens [B,N,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var block in blocks)
            h = block.forward(h);
        return h.MoveToOuterDisposeScope();
    }
}
