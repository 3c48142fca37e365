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
    /// <c>[B,N,D] -> [B,N',D]</c> with <paramref name="hooks"/> acting on their ranges of blocks: before block <c>i</c>, every
    /// hook whose range covers <c>i</c> (in the order given) turns the tokens entering it into the tokens it gets; then block
    /// <c>i</c> runs, either plainly or through the one hook that acts inside it (<see cref="EncoderHook.RunsBlock"/>: routing,
    /// merging, pruning). Deep prompts lengthen the sequence (<c>N' = N + P</c>); query tokens collect outputs and leave it
    /// unchanged; merging and pruning shorten it.
    /// </summary>
    public Tensor Forward(Tensor x, params EncoderHook[] hooks)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(hooks);
        if (x.ndim != 3 || x.shape[2] != Dim)
            throw new ArgumentException($"TransformerEncoder.Forward expects tokens [B,N,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
        foreach (var hook in hooks)
            hook.Check(this, x);
        var runners = BlockRunners(hooks);
        foreach (var hook in hooks)
            hook.Begin();

        using var scope = NewDisposeScope();
        var h = x;
        for (var i = 0; i < blocks.Length; i++) {
            foreach (var hook in hooks) {
                if (hook.Covers(i))
                    h = hook.BeforeBlock(i, blocks[i], h);
            }
            h = runners[i] is { } runner ? runner.RunBlock(i, blocks[i], h) : blocks[i].forward(h);
        }
        foreach (var hook in hooks)
            hook.Complete();
        return h.MoveToOuterDisposeScope();
    }

    // For each block, the one hook that runs it (routing, merging, pruning act inside a block), or null.
    private EncoderHook?[] BlockRunners(EncoderHook[] hooks)
    {
        var runners = new EncoderHook?[blocks.Length];
        for (var i = 0; i < blocks.Length; i++) {
            foreach (var hook in hooks) {
                if (!hook.RunsBlock(i)) continue;
                if (runners[i] is { } other)
                    throw new ArgumentException(
                        $"TransformerEncoder.Forward: {other.GetType().Name} and {hook.GetType().Name} both act inside block {i}; at most one hook may run a block.", nameof(hooks));
                runners[i] = hook;
            }
        }
        return runners;
    }
}
