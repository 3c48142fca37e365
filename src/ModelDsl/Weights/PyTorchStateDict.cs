using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace ModelDsl.Weights;

/// <summary>
/// A PyTorch <c>state_dict</c> file (zip format), opened as untrusted input: the zip layout is checked
/// (<see cref="PyTorchArchive"/>), the pickle is run by a bounded, iterative unpickler that executes nothing
/// (<see cref="RestrictedUnpickler"/>), every storage the pickle names must be a record of exactly the
/// declared size, and no tensor data is read until <see cref="ReadTensor"/> asks for one tensor.
/// </summary>
internal sealed class PyTorchStateDict : IDisposable
{
    // Training checkpoints often wrap the state_dict: {"state_dict": {...}, "epoch": 3, ...}.
    private static readonly string[] WrapperKeys = ["state_dict", "model", "module", "model_state_dict"];

    private readonly PyTorchArchive archive;
    private readonly Dictionary<string, TensorRef> tensors;

    private PyTorchStateDict(PyTorchArchive archive, Dictionary<string, TensorRef> tensors, List<TensorEntry> entries, List<string> nonTensors)
    {
        this.archive = archive;
        this.tensors = tensors;
        Entries = entries;
        NonTensors = nonTensors;
    }

    /// <summary>The tensors (name, dtype, shape), by name.</summary>
    public IReadOnlyList<TensorEntry> Entries { get; }

    /// <summary>Entries that are not tensors (and the other entries of a wrapping checkpoint), by name.</summary>
    public List<string> NonTensors { get; }

    public static PyTorchStateDict Open(string path)
    {
        var archive = PyTorchArchive.Open(path);
        try
        {
            return Open(path, archive);
        }
        catch
        {
            archive.Dispose();
            throw;
        }
    }

    private static PyTorchStateDict Open(string path, PyTorchArchive archive)
    {
        var pickleBytes = archive.Pickle.Size <= WeightsLimits.MaxPickleBytes
            ? archive.ReadEntry(archive.Pickle, WeightsLimits.MaxPickleBytes)
            : throw PyTorchArchive.Bad(path, $"its pickle (data.pkl) declares {archive.Pickle.Size} bytes, above the limit of {WeightsLimits.MaxPickleBytes} for a state_dict");
        var root = RestrictedUnpickler.Load(pickleBytes, path, out var storages);

        // Every storage the pickle names is a record of exactly its declared size, and every record is named.
        foreach (var storage in storages.Values)
        {
            if (!archive.Storages.TryGetValue(storage.Key, out var record))
                throw PyTorchArchive.Bad(path, $"the storage '{Names.Escape(storage.Key)}' the pickle refers to has no record '{archive.Prefix}/data/{Names.Escape(storage.Key)}' (truncated or damaged)");
            if (storage.ElementSize > 0 && record.Size != storage.Count * storage.ElementSize)
                throw PyTorchArchive.Bad(path, $"the storage '{Names.Escape(storage.Key)}' declares {storage.Count} {storage.DType} elements ({storage.Count * storage.ElementSize} bytes), " +
                    $"but its record holds {record.Size} bytes (damaged, or a zip bomb)");
        }
        var orphans = archive.Storages.Keys.Where(k => !storages.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (orphans.Count > 0)
            throw PyTorchArchive.Bad(path, $"it holds storage records the pickle never refers to ({Names.Join(orphans, k => "'data/" + Names.Escape(k) + "'")}); " +
                "torch.save writes none, so the file was altered. Re-save it with torch.save(model.state_dict(), path)");

        var source = Unwrap(root, path, out var outer);
        var tensors = new Dictionary<string, TensorRef>(StringComparer.Ordinal);
        var nonTensors = new List<string>(outer);
        foreach (var (key, value) in source.Items)
        {
            var name = key switch
            {
                string s => s,
                long l => l.ToString(CultureInfo.InvariantCulture),
                _ => null,
            };
            if (name is null)
            {
                nonTensors.Add($"(a key of type {key?.GetType().Name ?? "None"})");
                continue;
            }
            if (value is TensorRef tensor) tensors[name] = tensor;
            else nonTensors.Add(name);
        }
        nonTensors.Sort(StringComparer.Ordinal);
        var entries = tensors.Select(kv => new TensorEntry(kv.Key, kv.Value.Storage.DType, kv.Value.Shape))
            .OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        return new PyTorchStateDict(archive, tensors, entries, nonTensors);
    }

    /// <summary>
    /// The state_dict inside the pickle: the root dict, or the dict under one of <see cref="WrapperKeys"/>
    /// (iteratively, at most <see cref="WeightsLimits.MaxWrapperDepth"/> levels, and a dict that contains
    /// itself is refused).
    /// </summary>
    private static PyDict Unwrap(object? root, string path, out List<string> outer)
    {
        outer = [];
        if (root is not PyDict current)
        {
            throw PyTorchArchive.Bad(path, root is PyOpaque opaque
                ? $"the pickle holds {opaque.Description}, not a dict of tensors (a whole pickled model?); in Python, save model.state_dict() instead"
                : $"the pickle holds a {Kind(root)}, not a dict of tensors; save model.state_dict()");
        }
        var visited = new HashSet<PyDict>(ReferenceEqualityComparer.Instance) { current };
        var route = new List<string>();
        while (true)
        {
            var plain = current.Items.All(i => i.Value is TensorRef);
            if (plain) return current;
            PyDict? inner = null;
            string? wrapper = null;
            foreach (var key in WrapperKeys)
            {
                if (current.TryGet(key, out var value) && value is PyDict dict)
                {
                    inner = dict;
                    wrapper = key;
                    break;
                }
            }
            if (inner is null) return current;
            route.Add(wrapper!);
            var prefix = string.Concat(route.Take(route.Count - 1).Select(r => r + "."));
            foreach (var item in current.Items)
            {
                if (item.Key is string k && k != wrapper) outer.Add(prefix + k);
            }
            if (!visited.Add(inner))
                throw PyTorchArchive.Bad(path, $"the checkpoint contains itself: '{string.Join("'/'", route.Select(Names.Escape))}' leads back to a dict it is inside of, so it holds no state_dict");
            if (route.Count > WeightsLimits.MaxWrapperDepth)
                throw PyTorchArchive.Bad(path, $"the state_dict is wrapped more than {WeightsLimits.MaxWrapperDepth} levels deep ('{string.Join("'/'", route.Take(4).Select(Names.Escape))}'/...); save model.state_dict() itself");
            current = inner;
        }
    }

    private static string Kind(object? value) => value switch
    {
        null => "None",
        List<object?> => "list",
        PyTuple => "tuple",
        TensorRef => "single tensor",
        string => "string",
        _ => value.GetType().Name,
    };

    /// <summary>
    /// Reads one tensor's storage from the file (only that record) and returns the tensor, contiguous, on the
    /// CPU, in the caller's dispose scope.
    /// </summary>
    public Tensor ReadTensor(string name)
    {
        var tensor = tensors[name];
        var storage = tensor.Storage;
        var dtype = DTypes.FromName(storage.DType)
            ?? throw new InvalidDataException($"'{archive.Path}' stores '{Names.Escape(name)}' as {storage.DType}, an element type TorchSharp cannot read.");
        var record = archive.Storages[storage.Key];
        var bytes = archive.ReadEntry(record, record.Size);
        using var flat = empty([storage.Count], dtype);
        if (bytes.Length > 0) flat.bytes = bytes;
        using var view = flat.as_strided(tensor.Shape, tensor.Stride, tensor.Offset);
        return view.contiguous().clone();
    }

    public void Dispose() => archive.Dispose();
}
