using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace ModelDsl.Data;

/// <summary>
/// One batch of named tensors on one device, as a <see cref="DataLoader"/> yields it. The batch
/// owns its tensors; dispose it (or let the enclosing dispose scope free them).
/// </summary>
public sealed class NamedBatch : IDisposable
{
    private readonly string[] _names;
    private readonly Dictionary<string, Tensor> _tensors;

    /// <summary>Creates a batch from named tensors that share their first dimension.</summary>
    public NamedBatch(IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        if (list.Count == 0) throw new ArgumentException("A batch needs at least one tensor.", nameof(tensors));
        _names = list.Select(kv => kv.Key).ToArray();
        _tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in list)
        {
            if (!_tensors.TryAdd(name, t))
                throw new ArgumentException($"Tensor '{name}' appears twice.", nameof(tensors));
            if (t.dim() == 0 || t.shape[0] != list[0].Value.shape[0])
                throw new ArgumentException(
                    $"Tensor '{name}' has shape [{string.Join(",", t.shape)}]; every tensor in a batch needs the batch size {list[0].Value.shape[0]} as its first dimension.",
                    nameof(tensors));
        }
        Size = list[0].Value.shape[0];
    }

    /// <summary>The number of rows in the batch.</summary>
    public long Size { get; }

    /// <summary>The tensor names, in dataset column order.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>The device of the tensors.</summary>
    public Device Device => _tensors[_names[0]].device;

    /// <summary>The tensor called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor; the message lists the names there are.</exception>
    public Tensor this[string name] =>
        _tensors.TryGetValue(name, out var t)
            ? t
            : throw new KeyNotFoundException($"The batch has no tensor '{name}'. Its tensors are: {string.Join(", ", _names)}.");

    /// <summary>Looks a tensor up without throwing.</summary>
    public bool TryGet(string name, out Tensor tensor) => _tensors.TryGetValue(name, out tensor!);

    /// <summary>Frees the batch's tensors.</summary>
    public void Dispose()
    {
        foreach (var t in _tensors.Values) t.Dispose();
    }
}
