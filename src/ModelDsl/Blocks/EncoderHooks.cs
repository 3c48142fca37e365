using System;
using System.Collections.Generic;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Something that acts inside a <see cref="TransformerEncoder"/> on a range of its blocks: before each block of the
/// range it receives the tokens that enter the block and returns the tokens the block gets. Deep prompts, query tokens
/// and anything else that works per block (routing, pruning) are hooks; the encoder has one entry point for all of them,
/// <see cref="TransformerEncoder.Forward(Tensor, EncoderHook[])"/>.
/// </summary>
public abstract class EncoderHook
{
    /// <param name="firstLayer">The first block of the range.</param>
    /// <param name="layers">The number of blocks in the range.</param>
    protected EncoderHook(int firstLayer, int layers)
    {
        if (firstLayer < 0) throw new ArgumentOutOfRangeException(nameof(firstLayer), firstLayer, $"{GetType().Name}: the first block must be 0 or more.");
        if (layers < 1) throw new ArgumentOutOfRangeException(nameof(layers), layers, $"{GetType().Name}: the range must hold at least one block.");
        FirstLayer = firstLayer;
        Layers = layers;
    }

    /// <summary>The first block of the range.</summary>
    public int FirstLayer { get; }

    /// <summary>The number of blocks in the range.</summary>
    public int Layers { get; }

    /// <summary>Whether block <paramref name="layer"/> is in the range.</summary>
    public bool Covers(int layer) => layer >= FirstLayer && layer < FirstLayer + Layers;

    /// <summary>Before block <paramref name="layer"/> of the range: the tokens <c>[B,N,D]</c> that enter it, and the tokens it gets.</summary>
    public virtual Tensor BeforeBlock(int layer, EncoderBlock block, Tensor tokens) => tokens;

    /// <summary>
    /// Whether this hook runs block <paramref name="layer"/> itself, acting inside it (routing around it, merging or pruning
    /// between its attention and its MLP), rather than only changing the tokens that enter it. At most one hook may run a
    /// block. A hook may run blocks after its range too (ToMe's proportional attention lasts as long as merged tokens do).
    /// </summary>
    protected internal virtual bool RunsBlock(int layer) => false;

    /// <summary>Runs block <paramref name="layer"/> on <paramref name="tokens"/> <c>[B,N,D]</c> where <see cref="RunsBlock"/> says so.</summary>
    protected internal virtual Tensor RunBlock(int layer, EncoderBlock block, Tensor tokens) =>
        throw new NotSupportedException($"{GetType().Name} does not run blocks.");

    /// <summary>Before the first block, after every hook's check: clear what a previous forward pass left.</summary>
    protected internal virtual void Begin()
    {
    }

    /// <summary>Checks the hook against the encoder and its input before any block runs.</summary>
    protected internal virtual void Check(TransformerEncoder encoder, Tensor tokens)
    {
        if (FirstLayer + Layers > encoder.Depth)
            throw new ArgumentOutOfRangeException(nameof(encoder), FirstLayer + Layers - 1,
                $"{GetType().Name} acts on blocks {FirstLayer}..{FirstLayer + Layers - 1}, but the encoder has {encoder.Depth} (0..{encoder.Depth - 1}).");
    }

    /// <summary>After the last block, inside the encoder's dispose scope: keep what the hook collected.</summary>
    protected internal virtual void Complete()
    {
    }
}

/// <summary>
/// VPT-deep prompts <c>[L,P,D]</c> over blocks <c>FirstLayer..FirstLayer+L-1</c>: before the first block of the range the
/// prompts of that block (expanded to the batch) are inserted at <see cref="Offset"/> (after the prefix tokens); before each
/// later block of the range they replace the slice <c>[Offset, Offset+P)</c>, so the length stays <c>N+P</c>. After the range
/// the prompt tokens stay in the sequence and go through the remaining blocks unchanged (official VPT).
/// </summary>
public sealed class DeepPrompts(Tensor prompts, int firstLayer, int offset) : EncoderHook(firstLayer, (int)(prompts ?? throw new ArgumentNullException(nameof(prompts))).shape[0])
{
    /// <summary>The sequence position where the prompts go.</summary>
    public int Offset => offset;

    /// <inheritdoc/>
    public override Tensor BeforeBlock(int layer, EncoderBlock block, Tensor tokens) =>
        WithPrompts(tokens, prompts[layer - FirstLayer], offset, replace: layer > FirstLayer);

    /// <inheritdoc/>
    protected internal override void Check(TransformerEncoder encoder, Tensor tokens)
    {
        base.Check(encoder, tokens);
        if (prompts.ndim != 3 || prompts.shape[2] != encoder.Dim)
            throw new ArgumentException(
                $"DeepPrompts expects prompts [L,P,{encoder.Dim}] (one set per block of its range); got [{string.Join(",", prompts.shape)}].", nameof(prompts));
        if (offset < 0 || offset > tokens.shape[1])
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"DeepPrompts: the offset must lie in 0..{tokens.shape[1]} (the sequence length).");
    }

    // Inserts prompts [P,D] at position `offset` of h [B,L,D], or (replace) overwrites h's slice [offset, offset+P).
    private static Tensor WithPrompts(Tensor h, Tensor prompts, int offset, bool replace)
    {
        var (b, length, p) = (h.shape[0], h.shape[1], prompts.shape[0]);
        var skip = replace ? p : 0;
        var before = h.narrow(1, 0, offset);
        var after = h.narrow(1, offset + skip, length - offset - skip);
        return cat(new[] { before, prompts.unsqueeze(0).expand(new long[] { b, -1, -1 }), after }, 1);
    }
}

/// <summary>
/// VQT query tokens <c>[L,T,D]</c> over blocks <c>FirstLayer..FirstLayer+L-1</c>: each block of the range takes its query
/// tokens as queries only (<see cref="EncoderBlock.ForwardQueries"/>: keys and values from the tokens entering the block,
/// nothing attends to the queries); the tokens go through unchanged. <see cref="Outputs"/> is <c>[B,L,T,D]</c>.
/// </summary>
public sealed class LayerQueries(Tensor queries, int firstLayer) : EncoderHook(firstLayer, (int)(queries ?? throw new ArgumentNullException(nameof(queries))).shape[0])
{
    private readonly List<Tensor> collected = [];
    private Tensor? outputs;

    /// <summary>Every block's query outputs <c>[B,L,T,D]</c>, once the encoder has run.</summary>
    public Tensor Outputs => outputs ?? throw new InvalidOperationException("LayerQueries.Outputs is read after TransformerEncoder.Forward has run with this hook.");

    /// <inheritdoc/>
    public override Tensor BeforeBlock(int layer, EncoderBlock block, Tensor tokens)
    {
        collected.Add(block.ForwardQueries(tokens, queries[layer - FirstLayer].unsqueeze(0)));
        return tokens;
    }

    /// <inheritdoc/>
    protected internal override void Check(TransformerEncoder encoder, Tensor tokens)
    {
        base.Check(encoder, tokens);
        if (queries.ndim != 3 || queries.shape[2] != encoder.Dim)
            throw new ArgumentException(
                $"LayerQueries expects query tokens [L,T,{encoder.Dim}] (one set per block of its range); got [{string.Join(",", queries.shape)}].", nameof(queries));
    }

    /// <inheritdoc/>
    protected internal override void Complete()
    {
        outputs = stack(collected, 1).MoveToOuterDisposeScope();
        collected.Clear();
    }
}
