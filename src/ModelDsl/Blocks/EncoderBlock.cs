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

    public EncoderBlock(int dim, int heads, double mlpRatio, bool causal = false) : base(nameof(EncoderBlock))
    {
        Attention.Validate(dim, heads, nameof(EncoderBlock));
        var hidden = HiddenFeatures(dim, mlpRatio, nameof(EncoderBlock));
        Dim = dim;
        Heads = heads;
        MlpRatio = mlpRatio;
        norm1 = nn.LayerNorm(dim, eps: NormEps);
        attn = new Attention(dim, heads, causal);
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

    /// <summary>
    /// <c>[B,N,D] -> [B,N,D]</c>. Under <see cref="Autocast"/> the attention and the MLP compute in the
    /// compute type while the norms and the residual stream stay in the parameters' type (fp32).
    /// </summary>
    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        var type = norm1.weight!.dtype;
        var residual = Autocast.ToParameterType(x, type);
        // The adds promote the compute-type branch outputs to the residual's type in one pass.
        var h = residual + attn.ForwardCompute(norm1.forward(residual));
        var y = h + mlp.ForwardCompute(norm2.forward(h));
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The block with a step between its two halves, where ToMe and EViT act: <c>h = x + attn(norm1(x))</c> (with
    /// <paramref name="logitBias"/> <c>[B,N]</c> added to the attention logits when given), then
    /// <c>h' = between(h, seen)</c> (which may change the number of tokens), then <c>h' + mlp(norm2(h'))</c>.
    /// <paramref name="seen"/> carries the keys averaged over heads <c>[B,N,hd]</c> and token 0's attention averaged
    /// over heads <c>[B,N]</c> when asked for.
    /// </summary>
    public Tensor ForwardSplit(Tensor x, Tensor? logitBias, bool keys, bool classAttention, Func<Tensor, AttentionSeen, Tensor> between)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(between);
        if (x.ndim != 3 || x.shape[2] != Dim)
            throw new ArgumentException($"EncoderBlock.ForwardSplit expects tokens [B,N,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
        using var scope = NewDisposeScope();
        var type = norm1.weight!.dtype;
        var residual = Autocast.ToParameterType(x, type);
        var (output, meanKeys, clsAttention) = attn.ForwardTapped(norm1.forward(residual), logitBias, keys, classAttention);
        var h = residual + output;
        h = between(h, new AttentionSeen(meanKeys, clsAttention));
        var y = h + mlp.ForwardCompute(norm2.forward(h));
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// VQT: query tokens <c>[B,T,D]</c> (or <c>[1,T,D]</c>, expanded to the batch) through this block as
    /// queries only, with this block's own weights: <c>h = q + attn(norm1(q) as queries, norm1(x) as keys and
    /// values)</c>, then <c>h + mlp(norm2(h))</c> <c>-> [B,T,D]</c>. The <c>qkv</c> weight is split into its query
    /// rows and its key/value rows; nothing attends to the queries and <paramref name="x"/> is not changed
    /// (run <see cref="forward"/> for the tokens' own output).
    /// </summary>
    public Tensor ForwardQueries(Tensor x, Tensor queries)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(queries);
        if (x.ndim != 3 || x.shape[2] != Dim)
            throw new ArgumentException($"EncoderBlock.ForwardQueries expects tokens [B,N,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
        var b = x.shape[0];
        if (queries.ndim != 3 || queries.shape[2] != Dim || (queries.shape[0] != 1 && queries.shape[0] != b))
            throw new ArgumentException(
                $"EncoderBlock.ForwardQueries expects queries [1,T,{Dim}] or [{b},T,{Dim}]; got [{string.Join(",", queries.shape)}].", nameof(queries));

        using var scope = NewDisposeScope();
        var q = queries.expand(new long[] { b, -1, -1 });
        var h = q + QueryAttention.Attend(attn, norm1.forward(q), norm1.forward(x));
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

/// <summary>What a hook acting between a block's attention and its MLP sees of the attention (each when asked for).</summary>
/// <param name="MeanKeys">The keys averaged over heads <c>[B,N,hd]</c>.</param>
/// <param name="ClassAttention">Token 0's attention probabilities over all tokens, averaged over heads <c>[B,N]</c>.</param>
public readonly record struct AttentionSeen(Tensor? MeanKeys, Tensor? ClassAttention);
