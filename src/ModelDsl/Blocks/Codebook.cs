using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>A shared codebook <c>[K,D]</c> (FDT's <c>space_dict</c>), owned by the model and passed to every <see cref="CodebookQuery"/>.</summary>
public static class Codebook
{
    /// <summary>K codes of width D from N(0,1), as FDT's <c>torch.randn(sd_num, sd_dim)</c>.</summary>
    public static Parameter Create(int codes, int dim)
    {
        if (codes <= 0) throw new ArgumentOutOfRangeException(nameof(codes), codes, "Codebook: the number of codes must be positive.");
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "Codebook: the code width must be positive.");
        return (Parameter)new Parameter(randn(codes, dim)).DetachFromDisposeScope();
    }
}

/// <summary>What a <see cref="CodebookQuery"/> gives: the L2-normalised feature <c>[B,D]</c> and the code weights <c>[B,K]</c>.</summary>
public sealed record CodebookOutput(Tensor Features, Tensor Weights);

/// <summary>
/// One tower's reading of a shared codebook (FDT's <c>Query_model</c>): tokens <c>[B,L,E]</c> and codes <c>[K,D]</c>
/// to a feature <c>[B,D]</c>. Queries <c>q = q_map(tokens)</c> (<c>q_map.0</c> LayerNorm(E), <c>q_map.1</c> Linear(E,D),
/// GELU, <c>q_map.3</c> LayerNorm(D), <c>q_map.4</c> Linear(D,D), FDT's names and order); scores
/// <c>q C^T / sqrt(D)</c>, padded positions multiplied by 0 (FDT's masking), divided by the temperature, pooled over the
/// tokens; weights over the codes by sparsemax, softmax or top-k softmax; feature <c>w C / (|w C| + 1e-10)</c>.
/// </summary>
public sealed class CodebookQuery : nn.Module
{
    // FDT's epsilon in the feature's L2 normalisation.
    private const double NormEpsilon = 1e-10;

    private readonly Sequential? q_map;

    /// <param name="tokenDim">The width E of the tower's tokens.</param>
    /// <param name="dim">The codebook's width D.</param>
    /// <param name="weighting">Sparsemax (FDT's), softmax, or softmax over the <paramref name="topK"/> best codes.</param>
    /// <param name="topK">With top-k weighting: how many codes keep weight.</param>
    /// <param name="pool">How each code's scores are pooled over the tokens (FDT: the maximum).</param>
    /// <param name="temperature">Divides the scores before weighting.</param>
    /// <param name="project">False: no <c>q_map</c>; the tokens are the queries (E must equal D).</param>
    public CodebookQuery(int tokenDim, int dim, CodeWeighting weighting = CodeWeighting.Sparsemax, int topK = 0,
        CodePool pool = CodePool.Max, double temperature = 1.0, bool project = true) : base(nameof(CodebookQuery))
    {
        if (tokenDim <= 0) throw new ArgumentOutOfRangeException(nameof(tokenDim), tokenDim, "CodebookQuery: the token width must be positive.");
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "CodebookQuery: the codebook width must be positive.");
        if (!project && tokenDim != dim)
            throw new ArgumentException($"CodebookQuery: without a projection the token width {tokenDim} must be the codebook width {dim}.", nameof(project));
        if (weighting == CodeWeighting.TopK && topK <= 0)
            throw new ArgumentOutOfRangeException(nameof(topK), topK, "CodebookQuery: top-k weighting needs a positive number of codes.");
        TokenDim = tokenDim;
        Dim = dim;
        Weighting = weighting;
        TopK = topK;
        Pool = pool;
        Temperature = temperature;
        if (project)
        {
            q_map = nn.Sequential(
                nn.LayerNorm(tokenDim),
                nn.Linear(tokenDim, dim),
                nn.GELU(),
                nn.LayerNorm(dim),
                nn.Linear(dim, dim));
            register_module(nameof(q_map), q_map);
        }
    }

    public int TokenDim { get; }
    public int Dim { get; }
    public CodeWeighting Weighting { get; }
    public int TopK { get; }
    public CodePool Pool { get; }

    /// <summary>Divides the scores; FDT's training loop lowers it on a schedule, so it may be changed between steps.</summary>
    public double Temperature
    {
        get => temperature;
        set
        {
            if (!(value > 0) || double.IsInfinity(value))
                throw new ArgumentOutOfRangeException(nameof(value), value, "CodebookQuery: the temperature must be a positive, finite number.");
            temperature = value;
        }
    }

    private double temperature;

    /// <param name="tokens">The tower's tokens <c>[B,L,E]</c>.</param>
    /// <param name="codes">The shared codebook <c>[K,D]</c>.</param>
    /// <param name="padding">True at padded positions <c>[B,L]</c>, or null when none are.</param>
    public CodebookOutput Forward(Tensor tokens, Tensor codes, Tensor? padding = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(codes);
        if (tokens.ndim != 3 || tokens.shape[2] != TokenDim)
            throw new ArgumentException($"CodebookQuery expects tokens [B,L,{TokenDim}]; got [{string.Join(",", tokens.shape)}].", nameof(tokens));
        if (codes.ndim != 2 || codes.shape[1] != Dim)
            throw new ArgumentException($"CodebookQuery expects a codebook [K,{Dim}]; got [{string.Join(",", codes.shape)}].", nameof(codes));
        if (padding is not null && (padding.ndim != 2 || padding.shape[0] != tokens.shape[0] || padding.shape[1] != tokens.shape[1]))
            throw new ArgumentException($"CodebookQuery expects a padding mask [{tokens.shape[0]},{tokens.shape[1]}] (one flag per token); got [{string.Join(",", padding.shape)}].", nameof(padding));
        if (Weighting == CodeWeighting.TopK && TopK > codes.shape[0])
            throw new ArgumentException($"CodebookQuery keeps the top {TopK} codes, but the codebook has {codes.shape[0]}.", nameof(codes));

        using var scope = NewDisposeScope();
        var scores = Scores(tokens, codes, padding);
        var pooled = Pool switch
        {
            CodePool.Mean => scores.mean(new long[] { 1 }),
            CodePool.Sum => scores.sum(1),
            _ => scores.max(1).values,
        };
        var weights = Weigh(pooled);
        var embedded = weights.matmul(codes);
        var features = embedded / (embedded.norm(1, keepdim: true) + NormEpsilon);
        return new CodebookOutput(features.MoveToOuterDisposeScope(), weights.MoveToOuterDisposeScope());
    }

    /// <summary>The scores of every token against every code before pooling, <c>[B,L,K]</c> (masked and divided by the temperature).</summary>
    public Tensor Scores(Tensor tokens, Tensor codes, Tensor? padding = null)
    {
        using var scope = NewDisposeScope();
        var queries = q_map is null ? tokens : q_map.forward(tokens);
        var scores = queries.matmul(codes.t()) / Math.Sqrt(Dim);
        // FDT multiplies padded positions by 0 rather than -inf: a padded token scores 0 for every code.
        if (padding is not null)
            scores = scores * padding.logical_not().unsqueeze(-1).to(scores.dtype);
        return (scores / Temperature).MoveToOuterDisposeScope();
    }

    /// <summary>Pooled scores <c>[B,K]</c> to code weights by the chosen weighting.</summary>
    public Tensor Weigh(Tensor pooled)
    {
        ArgumentNullException.ThrowIfNull(pooled);
        switch (Weighting)
        {
            case CodeWeighting.Softmax:
                return pooled.softmax(-1);
            case CodeWeighting.TopK:
            {
                using var scope = NewDisposeScope();
                var kept = pooled.topk(TopK, dim: -1);
                var weights = zeros_like(pooled).scatter(-1, kept.indexes, kept.values.softmax(-1));
                return weights.MoveToOuterDisposeScope();
            }
            default:
                return Sparsemax.Apply(pooled, -1);
        }
    }
}
