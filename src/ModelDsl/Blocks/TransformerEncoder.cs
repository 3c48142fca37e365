using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// A stack of <see cref="EncoderBlock"/>s registered as <c>"0"</c>..<c>"depth-1"</c>, so that inside a model
/// that registers it as <c>blocks</c> the state_dict keys are timm's (<c>blocks.0.norm1.weight</c>,
/// <c>blocks.0.attn.qkv.weight</c>, ...). There is no final norm: the model owns <c>norm</c>.
/// </summary>
public sealed class TransformerEncoder : nn.Module<Tensor, Tensor>
{
    // Registered one by one under "0", "1", ...; an array is not a Module, so TorchSharp's
    // reflection-based RegisterComponents (run when a parent registers this module) skips it.
    private readonly EncoderBlock[] blocks;

    /// <param name="dim">The token width D.</param>
    /// <param name="depth">The number of blocks.</param>
    /// <param name="heads">Attention heads per block; must divide <paramref name="dim"/>.</param>
    /// <param name="mlpRatio">The MLP's hidden width as a multiple of <paramref name="dim"/>.</param>
    /// <param name="causal">Causal self-attention in every block (a text encoder, as in CLIP).</param>
    public TransformerEncoder(int dim, int depth, int heads, double mlpRatio, bool causal = false) : base(nameof(TransformerEncoder))
    {
        if (depth <= 0) throw new ArgumentOutOfRangeException(nameof(depth), depth, "TransformerEncoder: the depth must be positive.");
        Attention.Validate(dim, heads, nameof(TransformerEncoder));
        EncoderBlock.HiddenFeatures(dim, mlpRatio, nameof(TransformerEncoder));
        Dim = dim;
        Heads = heads;
        MlpRatio = mlpRatio;
        blocks = new EncoderBlock[depth];
        for (var i = 0; i < depth; i++) {
            blocks[i] = new EncoderBlock(dim, heads, mlpRatio, causal);
            register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), blocks[i]);
        }
    }

    public int Depth => blocks.Length;
    public int Dim { get; }
    public int Heads { get; }
    public double MlpRatio { get; }

    /// <summary>The block registered as <c>"i"</c>.</summary>
    public EncoderBlock this[int i] => blocks[i];

    /// <summary><c>[B,N,D] -> [B,N,D]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var block in blocks)
            h = block.forward(h);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// VPT-deep: <c>x [B,N,D]</c>, <paramref name="deepPrompts"/> <c>[Depth,P,D]</c> <c>-> [B,N+P,D]</c>. Before block 0
    /// the prompts <c>deepPrompts[0]</c> (expanded to the batch) are inserted at sequence position
    /// <paramref name="promptOffset"/> (after the prefix tokens); before each block <c>i &gt; 0</c> they replace the
    /// slice <c>[promptOffset, promptOffset+P)</c> with <c>deepPrompts[i]</c>, so the length stays <c>N+P</c>.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor deepPrompts, int promptOffset)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(deepPrompts);
        CheckTokens(x, nameof(Forward));
        CheckDeepPrompts(x, deepPrompts, promptOffset, nameof(Forward));

        using var scope = NewDisposeScope();
        var h = x;
        for (var i = 0; i < blocks.Length; i++) {
            h = WithPrompts(h, deepPrompts[i], promptOffset, replace: i > 0);
            h = blocks[i].forward(h);
        }
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// VQT: <c>x [B,N,D]</c>, <paramref name="queries"/> <c>[Depth,T,D]</c>. Block <c>i</c> takes the query tokens
    /// <c>queries[i]</c> (expanded to the batch) as queries only (<see cref="EncoderBlock.ForwardQueries"/>: keys and
    /// values from the ordinary tokens entering the block, nothing attends to the queries), while the ordinary
    /// tokens go through it as in <see cref="forward"/>. Returns the tokens <c>[B,N,D]</c> (equal to
    /// <see cref="forward"/>'s) and every block's query outputs <c>[B,Depth,T,D]</c>. With
    /// <paramref name="deepPrompts"/> the tokens are VPT-deep prompted as in <see cref="Forward"/> (<c>[B,N+P,D]</c>)
    /// and the queries read the prompts too.
    /// </summary>
    public (Tensor Tokens, Tensor QueryOutputs) ForwardWithQueries(Tensor x, Tensor queries, Tensor? deepPrompts = null, int promptOffset = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(queries);
        CheckTokens(x, nameof(ForwardWithQueries));
        if (queries.ndim != 3 || queries.shape[0] != Depth || queries.shape[2] != Dim)
            throw new ArgumentException(
                $"TransformerEncoder.ForwardWithQueries expects query tokens [{Depth},T,{Dim}] (one set per block); got [{string.Join(",", queries.shape)}].", nameof(queries));
        if (deepPrompts is not null)
            CheckDeepPrompts(x, deepPrompts, promptOffset, nameof(ForwardWithQueries));

        using var scope = NewDisposeScope();
        var h = x;
        var outputs = new Tensor[blocks.Length];
        for (var i = 0; i < blocks.Length; i++) {
            if (deepPrompts is not null)
                h = WithPrompts(h, deepPrompts[i], promptOffset, replace: i > 0);
            outputs[i] = blocks[i].ForwardQueries(h, queries[i].unsqueeze(0));
            h = blocks[i].forward(h);
        }
        var queryOutputs = stack(outputs, 1);   // [B,Depth,T,D]
        return (h.MoveToOuterDisposeScope(), queryOutputs.MoveToOuterDisposeScope());
    }

    private void CheckTokens(Tensor x, string method)
    {
        if (x.ndim != 3 || x.shape[2] != Dim)
            throw new ArgumentException($"TransformerEncoder.{method} expects tokens [B,N,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
    }

    private void CheckDeepPrompts(Tensor x, Tensor deepPrompts, int promptOffset, string method)
    {
        if (deepPrompts.ndim != 3 || deepPrompts.shape[0] != Depth || deepPrompts.shape[2] != Dim)
            throw new ArgumentException(
                $"TransformerEncoder.{method} expects deep prompts [{Depth},P,{Dim}] (one set per block); got [{string.Join(",", deepPrompts.shape)}].", nameof(deepPrompts));
        if (promptOffset < 0 || promptOffset > x.shape[1])
            throw new ArgumentOutOfRangeException(nameof(promptOffset), promptOffset,
                $"TransformerEncoder.{method}: the prompt offset must lie in 0..{x.shape[1]} (the sequence length).");
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
