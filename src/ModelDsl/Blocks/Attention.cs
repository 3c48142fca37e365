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

    /// <summary>
    /// The forward pass (compute type) for a hook acting inside the block: <paramref name="logitBias"/> <c>[B,N]</c>, when
    /// given, is added to every query's attention logits for key <c>j</c> (ToMe's proportional attention adds
    /// <c>log(size)</c>); <paramref name="keys"/> asks for the keys averaged over heads <c>[B,N,hd]</c> (ToMe's similarity
    /// metric), <paramref name="classAttention"/> for token 0's attention probabilities averaged over heads <c>[B,N]</c>
    /// (EViT's ranking). Only the class token's row is computed for the latter; the output still comes from the fused kernel.
    /// </summary>
    internal (Tensor Output, Tensor? MeanKeys, Tensor? ClassAttention) ForwardTapped(Tensor x, Tensor? logitBias, bool keys, bool classAttention)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim != 3 || x.shape[2] != Dim)
            throw new ArgumentException($"Attention expects tokens [B,N,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
        var (b, n) = (x.shape[0], x.shape[1]);
        if (logitBias is not null && (logitBias.ndim != 2 || logitBias.shape[0] != b || logitBias.shape[1] != n))
            throw new ArgumentException($"Attention expects a logit bias [{b},{n}] (one value per key); got [{string.Join(",", logitBias.shape)}].", nameof(logitBias));
        if (logitBias is not null && Causal)
            throw new NotSupportedException("Attention: a logit bias (proportional attention) on a causal attention is not supported.");

        using var scope = NewDisposeScope();
        var parts = Autocast.Linear(qkv, x).reshape(b, n, 3, Heads, HeadDim).permute(2, 0, 3, 1, 4).unbind(0);
        var (q, k, v) = (parts[0], parts[1], parts[2]);
        // [B,N] -> [B,1,1,N]: the same bias for every head and every query.
        var bias = logitBias?.to(q.dtype).unsqueeze(1).unsqueeze(1);
        var o = bias is null
            ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: Causal)
            : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: bias);
        o = o.transpose(1, 2).reshape(b, n, Dim);
        var output = Autocast.Linear(proj, o);

        Tensor? meanKeys = keys ? k.mean(new long[] { 1 }) : null;
        Tensor? clsAttention = null;
        if (classAttention) {
            var logits = q.narrow(2, 0, 1).matmul(k.transpose(-2, -1)) * (1.0 / Math.Sqrt(HeadDim)); // [B,H,1,N]
            if (bias is not null) logits = logits + bias;
            clsAttention = logits.softmax(-1).mean(new long[] { 1 }).squeeze(1);                   // [B,N]
        }
        return (output.MoveToOuterDisposeScope(), meanKeys?.MoveToOuterDisposeScope(), clsAttention?.MoveToOuterDisposeScope());
    }

    internal static void Validate(int dim, int heads, string owner)
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, $"{owner}: the embedding dimension must be positive.");
        if (heads <= 0) throw new ArgumentOutOfRangeException(nameof(heads), heads, $"{owner}: the number of heads must be positive.");
        if (dim % heads != 0)
            throw new ArgumentException($"{owner}: the number of heads ({heads}) must divide the embedding dimension ({dim}); {dim} / {heads} is not a whole number.", nameof(heads));
    }
}
