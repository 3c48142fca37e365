using System;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// The keys and values a decoder has computed so far, per layer <c>[B,H,past,hd]</c>, so that each generation step
/// runs only the new token through the model. Owns its tensors (outside every dispose scope): dispose it when the
/// generation is over. Gradients flow through it (prefix tuning puts its trained prefixes here first).
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] keys;
    private readonly Tensor?[] values;

    public KvCache(int layers)
    {
        if (layers <= 0) throw new ArgumentOutOfRangeException(nameof(layers), layers, "KvCache: the number of layers must be positive.");
        keys = new Tensor?[layers];
        values = new Tensor?[layers];
    }

    public int Layers => keys.Length;

    /// <summary>The number of positions cached (those of the last layer, which is appended to last in a forward pass).</summary>
    public int Length => (int)(keys[^1]?.shape[2] ?? 0);

    /// <summary>
    /// Appends <paramref name="k"/> and <paramref name="v"/> <c>[B,H,T,hd]</c> to layer <paramref name="layer"/>'s cache and
    /// returns the whole cached keys and values <c>[B,H,past+T,hd]</c> (owned by the cache: do not dispose them).
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        if ((uint)layer >= (uint)keys.Length)
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"KvCache: layer {layer} is outside the cache's {keys.Length} layers.");
        var oldK = keys[layer];
        var oldV = values[layer];
        // Not detached: a prefix (prefix tuning) is a cache entry that trains. Generation runs under no_grad, so its
        // cached tensors carry no graph.
        var newK = oldK is null ? k.clone() : cat(new[] { oldK, k }, 2);
        var newV = oldV is null ? v.clone() : cat(new[] { oldV, v }, 2);
        keys[layer] = newK.DetachFromDisposeScope();
        values[layer] = newV.DetachFromDisposeScope();
        oldK?.Dispose();
        oldV?.Dispose();
        return (keys[layer]!, values[layer]!);
    }

    public void Dispose()
    {
        for (var i = 0; i < keys.Length; i++) {
            keys[i]?.Dispose();
            values[i]?.Dispose();
            keys[i] = values[i] = null;
        }
    }
}
