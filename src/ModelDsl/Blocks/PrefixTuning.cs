using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Prefix tuning (Li and Liang 2021; PEFT's <c>PrefixEncoder</c> without projection): <c>Count</c> learned key and value
/// vectors per layer, which every query of that layer attends to before the sequence's own keys (given to the
/// attention as cached keys and values). Registered: <c>embedding.weight</c> <c>[Count, 2*Depth*D]</c>, PEFT's layout:
/// row <c>p</c> holds, per layer <c>i</c>, its key (<c>H*hd</c> values) then its value, layer after layer. Initialised
/// normal with std 0.02. As with PEFT on GPT-2, the sequence's positions start after the prefix, so prefix and input
/// share the position table.
/// </summary>
public sealed class PrefixTuning : nn.Module
{
    private readonly Embedding embedding;

    public PrefixTuning(int count, int depth, int dim, int heads) : base(nameof(PrefixTuning))
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "PrefixTuning: the prefix length must be positive.");
        if (depth <= 0) throw new ArgumentOutOfRangeException(nameof(depth), depth, "PrefixTuning: the depth must be positive.");
        Attention.Validate(dim, heads, nameof(PrefixTuning));
        Count = count;
        Depth = depth;
        Dim = dim;
        Heads = heads;
        embedding = nn.Embedding(count, 2L * depth * dim);
        using (no_grad())
            nn.init.normal_(embedding.weight!, 0, 0.02);
        register_module(nameof(embedding), embedding);
    }

    public int Count { get; }
    public int Depth { get; }
    public int Dim { get; }
    public int Heads { get; }

    /// <summary>The prefix table <c>[Count, 2*Depth*D]</c>.</summary>
    public Tensor Weight => embedding.weight!;

    /// <summary>Layer <paramref name="layer"/>'s prefix keys and values, each <c>[B,H,Count,hd]</c>.</summary>
    public (Tensor Keys, Tensor Values) Layer(int layer, long batch)
    {
        if ((uint)layer >= (uint)Depth)
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"PrefixTuning: layer {layer} is outside its {Depth} layers.");
        using var scope = NewDisposeScope();
        var hd = Dim / Heads;
        // [P, 2L*D] -> [P, 2L, H, hd] -> [2L, H, P, hd]
        var table = embedding.weight!.view(Count, 2 * Depth, Heads, hd).permute(1, 2, 0, 3);
        var keys = table[2 * layer].unsqueeze(0).expand(batch, -1, -1, -1);
        var values = table[2 * layer + 1].unsqueeze(0).expand(batch, -1, -1, -1);
        return (keys.MoveToOuterDisposeScope(), values.MoveToOuterDisposeScope());
    }

    /// <summary>Puts every layer's prefix into an empty <paramref name="cache"/> for a batch of <paramref name="batch"/>.</summary>
    public void Fill(KvCache cache, long batch)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (cache.Layers != Depth)
            throw new ArgumentException($"PrefixTuning: the cache has {cache.Layers} layers; the prefix has {Depth}.", nameof(cache));
        if (cache.Length != 0)
            throw new ArgumentException($"PrefixTuning: the cache already holds {cache.Length} positions; the prefix goes first.", nameof(cache));
        for (var i = 0; i < Depth; i++) {
            using var scope = NewDisposeScope();
            var (keys, values) = Layer(i, batch);
            cache.Append(i, keys, values);
        }
    }
}
