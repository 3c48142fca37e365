using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Learnable queries that read a token sequence by cross-attention (Perceiver resampler, Q-Former,
/// attention pooling with several queries): <c>[B,N,Ds] -> [B,K,D]</c>; the source width <c>Ds</c> may
/// differ from <c>D</c>. Registered: <c>latents</c> <c>[1,K,D]</c> (truncated normal, std 0.02) and
/// <c>layers</c>, a list of <see cref="CrossAttentionBlock"/>s <c>"0"</c>..<c>"depth-1"</c>
/// (<c>layers.0.norm_q</c>, <c>.norm_kv</c>, <c>.attn.q</c>, <c>.attn.kv</c>, <c>.attn.proj</c>, <c>.norm2</c>,
/// <c>.mlp.fc1</c>, <c>.mlp.fc2</c>). There is no final norm.
/// </summary>
public sealed class Resampler : nn.Module<Tensor, Tensor>
{
    /// <summary>Standard deviation of the truncated-normal initialisation of the latent queries.</summary>
    public const double LatentInitStd = 0.02;

    // Not readonly: Module.to() replaces parameters and assigns the field with the registered name.
    private Parameter latents;
    // A ModuleList registers its items as "0", "1", ... when this module registers it.
    private readonly ModuleList<CrossAttentionBlock> layers;

    public Resampler(int sourceDim, int dim, int queries, int depth, int heads, double mlpRatio = 4.0) : base(nameof(Resampler))
    {
        if (sourceDim <= 0) throw new ArgumentOutOfRangeException(nameof(sourceDim), sourceDim, "Resampler: the source dimension must be positive.");
        if (queries <= 0) throw new ArgumentOutOfRangeException(nameof(queries), queries, "Resampler: the number of queries must be positive.");
        if (depth <= 0) throw new ArgumentOutOfRangeException(nameof(depth), depth, "Resampler: the depth must be positive.");
        Attention.Validate(dim, heads, nameof(Resampler));
        EncoderBlock.HiddenFeatures(dim, mlpRatio, nameof(Resampler));
        SourceDim = sourceDim;
        Dim = dim;
        Queries = queries;
        Heads = heads;
        MlpRatio = mlpRatio;

        latents = new Parameter(empty(1, queries, dim));
        using (no_grad())
            Initialization.TruncatedNormal_(latents, std: LatentInitStd);
        latents = (Parameter)latents.DetachFromDisposeScope();
        var list = new CrossAttentionBlock[depth];
        for (var i = 0; i < depth; i++)
            list[i] = new CrossAttentionBlock(dim, sourceDim, heads, mlpRatio);
        layers = new ModuleList<CrossAttentionBlock>(list);

        register_parameter(nameof(latents), latents);
        register_module(nameof(layers), layers);
    }

    public int Queries { get; }
    public int Dim { get; }
    public int SourceDim { get; }
    public int Depth => layers.Count;
    public int Heads { get; }
    public double MlpRatio { get; }

    /// <summary>The layer registered as <c>layers.i</c>.</summary>
    public CrossAttentionBlock this[int i] => layers[i];

    /// <summary><c>[B,N,Ds] -> [B,K,D]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim != 3 || x.shape[2] != SourceDim)
            throw new ArgumentException($"Resampler expects tokens [B,N,{SourceDim}]; got [{string.Join(",", x.shape)}].", nameof(x));

        using var scope = NewDisposeScope();
        var h = latents.expand(new long[] { x.shape[0], -1, -1 });   // [B,K,D]
        foreach (var layer in layers)
            h = layer.forward(h, x);
        return h.MoveToOuterDisposeScope();
    }
}
