using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// A small transformer decoder whose queries are task tokens (FaceXFormer's task-token decoder):
/// tokens <c>[1,T,D]</c> (or <c>[B,T,D]</c>) read a source <c>[B,N,Ds]</c> of any width, <c>-> [B,T,D]</c>.
/// Registered: <c>layers.{i}</c> (<see cref="TaskDecoderLayer"/>: <c>norm1</c>, <c>attn</c>, <c>cross</c>)
/// and the final <c>norm</c>.
/// </summary>
public sealed class TaskDecoder : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly ModuleList<TaskDecoderLayer> layers;
    private readonly LayerNorm norm;

    public TaskDecoder(int dim, int sourceDim, int depth, int heads, double mlpRatio = 4.0) : base(nameof(TaskDecoder))
    {
        if (depth <= 0) throw new ArgumentOutOfRangeException(nameof(depth), depth, "TaskDecoder: the depth must be positive.");
        Attention.Validate(dim, heads, nameof(TaskDecoder));
        if (sourceDim <= 0) throw new ArgumentOutOfRangeException(nameof(sourceDim), sourceDim, "TaskDecoder: the source dimension must be positive.");
        (Dim, SourceDim, Heads) = (dim, sourceDim, heads);
        var list = new TaskDecoderLayer[depth];
        for (var i = 0; i < depth; i++)
            list[i] = new TaskDecoderLayer(dim, sourceDim, heads, mlpRatio);
        layers = new ModuleList<TaskDecoderLayer>(list);
        norm = nn.LayerNorm(dim, eps: EncoderBlock.NormEps);
        register_module(nameof(layers), layers);
        register_module(nameof(norm), norm);
    }

    public int Dim { get; }
    public int SourceDim { get; }
    public int Depth => layers.Count;
    public int Heads { get; }

    /// <summary>tokens <c>[1,T,D]</c> or <c>[B,T,D]</c>, source <c>[B,N,Ds]</c> <c>-> [B,T,D]</c>.</summary>
    public override Tensor forward(Tensor tokens, Tensor source)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(source);
        if (source.ndim != 3 || source.shape[2] != SourceDim)
            throw new ArgumentException($"TaskDecoder expects a source [B,N,{SourceDim}]; got [{string.Join(",", source.shape)}].", nameof(source));
        if (tokens.ndim != 3 || tokens.shape[2] != Dim || tokens.shape[0] != 1 && tokens.shape[0] != source.shape[0])
            throw new ArgumentException($"TaskDecoder expects task tokens [1,T,{Dim}] or [{source.shape[0]},T,{Dim}]; got [{string.Join(",", tokens.shape)}].", nameof(tokens));

        using var scope = NewDisposeScope();
        var h = tokens.expand(new long[] { source.shape[0], -1, -1 });
        foreach (var layer in layers)
            h = layer.forward(h, source);
        return norm.forward(h).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// One decoder layer: the task tokens attend to each other (<c>h = q + attn(norm1(q))</c>), then read
/// the source through a <see cref="CrossAttentionBlock"/> (<c>cross</c>: cross-attention and MLP,
/// each with a residual). Registered: <c>norm1</c>, <c>attn</c> (<see cref="Attention"/>), <c>cross</c>.
/// </summary>
public sealed class TaskDecoderLayer : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly LayerNorm norm1;
    private readonly Attention attn;
    private readonly CrossAttentionBlock cross;

    public TaskDecoderLayer(int dim, int sourceDim, int heads, double mlpRatio = 4.0) : base(nameof(TaskDecoderLayer))
    {
        norm1 = nn.LayerNorm(dim, eps: EncoderBlock.NormEps);
        attn = new Attention(dim, heads);
        cross = new CrossAttentionBlock(dim, sourceDim, heads, mlpRatio);
        register_module(nameof(norm1), norm1);
        register_module(nameof(attn), attn);
        register_module(nameof(cross), cross);
    }

    /// <summary>tokens <c>[B,T,D]</c>, source <c>[B,N,Ds]</c> <c>-> [B,T,D]</c>.</summary>
    public override Tensor forward(Tensor tokens, Tensor source)
    {
        using var scope = NewDisposeScope();
        var h = tokens + attn.forward(norm1.forward(tokens));
        return cross.forward(h, source).MoveToOuterDisposeScope();
    }
}
