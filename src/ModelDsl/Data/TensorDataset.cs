using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Data;

/// <summary>
/// Named columns of tensors that share their first dimension, the row count (for example
/// <c>image</c> <c>[N,1,28,28]</c> and <c>label</c> <c>[N]</c>). The dataset owns its tensors: they
/// are detached from any dispose scope and freed by <see cref="Dispose"/>.
/// </summary>
public sealed class TensorDataset : IDisposable
{
    private readonly string[] _names;
    private readonly Dictionary<string, Tensor> _columns;
    private bool _disposed;

    /// <summary>Creates a dataset from named columns and takes ownership of the tensors.</summary>
    /// <exception cref="ArgumentException">No columns, a repeated or empty name, a scalar tensor, or row counts that differ.</exception>
    public TensorDataset(params (string Name, Tensor Tensor)[] columns)
        : this(columns.Select(c => new KeyValuePair<string, Tensor>(c.Name, c.Tensor)))
    {
    }

    /// <summary>Creates a dataset from named columns (in order) and takes ownership of the tensors.</summary>
    public TensorDataset(IEnumerable<KeyValuePair<string, Tensor>> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        var list = columns.ToList();
        if (list.Count == 0)
            throw new ArgumentException("A dataset needs at least one column.", nameof(columns));
        _names = new string[list.Count];
        _columns = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        long? count = null;
        for (int i = 0; i < list.Count; i++)
        {
            var (name, tensor) = (list[i].Key, list[i].Value);
            if (string.IsNullOrWhiteSpace(name))
                throw new ArgumentException($"Column {i} has an empty name.", nameof(columns));
            ArgumentNullException.ThrowIfNull(tensor, $"column '{name}'");
            if (tensor.dim() == 0)
                throw new ArgumentException($"Column '{name}' is a scalar; every column needs a first (row) dimension.", nameof(columns));
            if (!_columns.TryAdd(name, tensor))
                throw new ArgumentException($"Column '{name}' appears twice.", nameof(columns));
            long rows = tensor.shape[0];
            if (count is long c && rows != c)
                throw new ArgumentException(
                    $"Column '{name}' has {rows} rows but column '{_names[0]}' has {c}; all columns must share the first dimension. " +
                    $"Shapes: {string.Join(", ", _columns.Select(kv => $"{kv.Key} [{string.Join(",", kv.Value.shape)}]"))}.",
                    nameof(columns));
            count = rows;
            _names[i] = name;
        }
        Count = count!.Value;
        foreach (var t in _columns.Values) t.DetachFromDisposeScope();
    }

    /// <summary>The number of rows (the shared first dimension).</summary>
    public long Count { get; }

    /// <summary>The column names, in the order they were given.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>The device of the first column.</summary>
    public Device Device => this[_names[0]].device;

    /// <summary>The column called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such column; the message lists the columns there are.</exception>
    public Tensor this[string name]
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_columns.TryGetValue(name, out var t)) return t;
            throw new KeyNotFoundException(
                $"The dataset has no column '{name}'. Its columns are: {string.Join(", ", _names)}.");
        }
    }

    /// <summary>Whether there is a column called <paramref name="name"/>.</summary>
    public bool Contains(string name) => _columns.ContainsKey(name);

    /// <summary>A new dataset with the given rows, in the given order (copies).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An index outside <c>[0, Count)</c>.</exception>
    public TensorDataset Subset(long[] indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        ObjectDisposedException.ThrowIf(_disposed, this);
        for (int i = 0; i < indices.Length; i++)
        {
            if (indices[i] < 0 || indices[i] >= Count)
                throw new ArgumentOutOfRangeException(nameof(indices),
                    $"Index {indices[i]} (position {i}) is outside the dataset's {Count} rows.");
        }
        using var scope = NewDisposeScope();
        var index = tensor(indices, dtype: ScalarType.Int64, device: Device);
        return new TensorDataset(_names.Select(n =>
            new KeyValuePair<string, Tensor>(n, _columns[n].index_select(0, index.to(_columns[n].device)).MoveToOuterDisposeScope())));
    }

    /// <summary>A new dataset with the first <paramref name="count"/> rows (all of them if fewer).</summary>
    public TensorDataset Take(long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ObjectDisposedException.ThrowIf(_disposed, this);
        long n = Math.Min(count, Count);
        return new TensorDataset(_names.Select(name =>
        {
            using var view = _columns[name].narrow(0, 0, n);
            return new KeyValuePair<string, Tensor>(name, view.clone());
        }));
    }

    /// <summary>A copy of the dataset on <paramref name="device"/>.</summary>
    public TensorDataset To(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new TensorDataset(_names.Select(name =>
            new KeyValuePair<string, Tensor>(name, _columns[name].to(device, copy: true))));
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"TensorDataset({Count} rows: {string.Join(", ", _names.Select(n => $"{n} {_columns[n].dtype} [{string.Join(",", _columns[n].shape)}]"))})";

    /// <summary>Frees the column tensors.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var t in _columns.Values) t.Dispose();
    }
}
