using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;

namespace ModelDsl.Weights;

/// <summary>A Python dict (or OrderedDict) from a pickle: items in insertion order, indexed by key.</summary>
internal sealed class PyDict
{
    private readonly Dictionary<object, int> index = new();

    public List<KeyValuePair<object?, object?>> Items { get; } = [];

    public void Set(object? key, object? value)
    {
        var k = key ?? PyNone.Value;
        if (index.TryGetValue(k, out var i)) Items[i] = new(key, value);
        else
        {
            index[k] = Items.Count;
            Items.Add(new(key, value));
        }
    }

    public bool TryGet(string key, out object? value)
    {
        if (index.TryGetValue(key, out var i))
        {
            value = Items[i].Value;
            return true;
        }
        value = null;
        return false;
    }
}

internal sealed class PyNone
{
    public static readonly PyNone Value = new();
}

/// <summary>A tuple (kept apart from lists only for the persistent id and call arguments).</summary>
internal sealed class PyTuple(object?[] items)
{
    public object?[] Items { get; } = items;
}

/// <summary>A global the unpickler knows by name; nothing is ever imported or called.</summary>
internal sealed record PyGlobal(string Module, string Name)
{
    public string FullName => Module + "." + Name;
}

/// <summary>Anything the unpickler does not model (an object of another class): kept opaque, never executed.</summary>
internal sealed record PyOpaque(string Description);

/// <summary>A storage record referenced by the pickle (not read).</summary>
internal sealed record StorageRef(string Key, string DType, int ElementSize, long Count);

/// <summary>A tensor as the pickle describes it: a view of a storage. No data is read.</summary>
internal sealed record TensorRef(StorageRef Storage, long Offset, long[] Shape, long[] Stride);

/// <summary>
/// An unpickler for the subset of the pickle protocol that <c>torch.save</c> writes for state_dicts and
/// training checkpoints, iterative (no recursion, whatever the nesting) and bounded: at most
/// <see cref="WeightsLimits.MaxPickleObjects"/> objects. It imports and calls nothing: the globals that
/// rebuild tensors and ordered dicts are recognised by name, <c>collections.OrderedDict</c> becomes a
/// <see cref="PyDict"/>, <c>torch._utils._rebuild_tensor_v2</c> a <see cref="TensorRef"/>, and any other
/// object an inert <see cref="PyOpaque"/>.
/// </summary>
internal sealed class RestrictedUnpickler
{
    private readonly byte[] data;
    private readonly string path;
    private readonly List<object?> stack = [];
    private readonly List<int> marks = [];
    private readonly Dictionary<long, object?> memo = [];
    private int position;
    private long objects;

    private RestrictedUnpickler(byte[] data, string path)
    {
        this.data = data;
        this.path = path;
    }

    /// <summary>The storages the pickle references, by key.</summary>
    public Dictionary<string, StorageRef> Storages { get; } = new(StringComparer.Ordinal);

    public static object? Load(byte[] data, string path, out Dictionary<string, StorageRef> storages)
    {
        var unpickler = new RestrictedUnpickler(data, path);
        var result = unpickler.Run();
        storages = unpickler.Storages;
        return result;
    }

    private InvalidDataException Bad(string why) =>
        PyTorchArchive.Bad(path, $"its pickle (data.pkl) {why} at byte {position}");

    private void Push(object? value)
    {
        Count();
        stack.Add(value);
    }

    private void Count()
    {
        if (++objects > WeightsLimits.MaxPickleObjects)
            throw Bad($"creates more than {WeightsLimits.MaxPickleObjects} objects, the limit for a state_dict (a pickle bomb?)");
    }

    private object? Pop()
    {
        if (stack.Count == 0 || (marks.Count > 0 && stack.Count <= marks[^1])) throw Bad("pops an empty stack");
        var value = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return value;
    }

    private object? Top() => stack.Count == 0 || (marks.Count > 0 && stack.Count <= marks[^1]) ? throw Bad("reads an empty stack") : stack[^1];

    private List<object?> PopMark()
    {
        if (marks.Count == 0) throw Bad("closes a mark it never opened");
        var start = marks[^1];
        marks.RemoveAt(marks.Count - 1);
        var items = stack.GetRange(start, stack.Count - start);
        stack.RemoveRange(start, stack.Count - start);
        return items;
    }

    private ReadOnlySpan<byte> Take(long count)
    {
        if (count < 0 || count > data.Length - position) throw Bad("runs past its end (truncated)");
        var span = data.AsSpan(position, (int)count);
        position += (int)count;
        return span;
    }

    private string Line()
    {
        var end = Array.IndexOf(data, (byte)'\n', position);
        if (end < 0) throw Bad("runs past its end (truncated)");
        var text = Encoding.UTF8.GetString(data, position, end - position);
        position = end + 1;
        return text;
    }

    private string Utf8(ReadOnlySpan<byte> bytes)
    {
        try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes); }
        catch (DecoderFallbackException) { throw Bad("holds a string that is not valid UTF-8"); }
    }

    private object? Run()
    {
        while (true)
        {
            if (position >= data.Length) throw Bad("ends without a STOP (truncated)");
            var op = data[position++];
            switch (op)
            {
                case 0x80: Take(1); break;                       // PROTO
                case 0x95: Take(8); break;                       // FRAME
                case (byte)'.':                                  // STOP
                    if (stack.Count != 1 || marks.Count != 0) throw Bad("stops with a malformed stack");
                    return stack[0];
                case (byte)'(': Count(); marks.Add(stack.Count); break; // MARK
                case (byte)'0': Pop(); break;                    // POP
                case (byte)'1': PopMark(); break;                // POP_MARK
                case (byte)'2': Push(Top()); break;              // DUP
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;
                case (byte)'K': Push((long)Take(1)[0]); break;
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;
                case 0x8a: Push(Long(Take(Take(1)[0]))); break;  // LONG1
                case 0x8b: Push(Long(Take(BinaryPrimitives.ReadInt32LittleEndian(Take(4))))); break; // LONG4
                case (byte)'I':                                  // INT (protocol 0)
                {
                    var text = Line();
                    Push(text == "01" ? true : text == "00" ? false
                        : long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : throw Bad("holds a malformed INT"));
                    break;
                }
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;
                case (byte)'X': Push(Utf8(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))))); break;
                case 0x8c: Push(Utf8(Take(Take(1)[0]))); break;
                case 0x8d: Push(Utf8(Take(BinaryPrimitives.ReadInt64LittleEndian(Take(8))))); break;
                case (byte)'T': Push(Encoding.Latin1.GetString(Take(BinaryPrimitives.ReadInt32LittleEndian(Take(4))))); break;
                case (byte)'U': Push(Encoding.Latin1.GetString(Take(Take(1)[0]))); break;
                case (byte)'B': Push(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))).ToArray()); break;
                case (byte)'C': Push(Take(Take(1)[0]).ToArray()); break;
                case 0x8e: Push(Take(BinaryPrimitives.ReadInt64LittleEndian(Take(8))).ToArray()); break;
                case (byte)')': Push(new PyTuple([])); break;
                case (byte)'t': Push(new PyTuple(PopMark().ToArray())); break;
                case 0x85: { var a = Pop(); Push(new PyTuple([a])); break; }
                case 0x86: { var b = Pop(); var a = Pop(); Push(new PyTuple([a, b])); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new PyTuple([a, b, c])); break; }
                case (byte)']': Push(new List<object?>()); break;
                case (byte)'l': Push(PopMark()); break;          // LIST
                case (byte)'a': { var v = Pop(); AsList(Top()).Add(v); break; }
                case (byte)'e': { var items = PopMark(); AsList(Top()).AddRange(items); break; }
                case 0x8f: Push(new List<object?>()); break;     // EMPTY_SET
                case 0x90: { var items = PopMark(); AsList(Top()).AddRange(items); break; } // ADDITEMS
                case 0x91: Push(PopMark()); break;               // FROZENSET
                case (byte)'}': Push(new PyDict()); break;
                case (byte)'d':                                  // DICT
                {
                    var items = PopMark();
                    var dict = new PyDict();
                    SetItems(dict, items);
                    Push(dict);
                    break;
                }
                case (byte)'s': { var v = Pop(); var k = Pop(); AsDict(Top()).Set(Key(k), v); break; }
                case (byte)'u': { var items = PopMark(); SetItems(AsDict(Top()), items); break; }
                case (byte)'c':                                  // GLOBAL
                {
                    var module = Line();
                    var name = Line();
                    Push(new PyGlobal(module, name));
                    break;
                }
                case 0x93:                                       // STACK_GLOBAL
                {
                    var name = Pop() as string ?? throw Bad("names a global with a non-string");
                    var module = Pop() as string ?? throw Bad("names a global with a non-string");
                    Push(new PyGlobal(module, name));
                    break;
                }
                case (byte)'R': { var args = Pop(); var callable = Pop(); Push(Reduce(callable, args)); break; }
                case 0x81: { Pop(); var cls = Pop(); Push(new PyOpaque(Describe(cls) + " object")); break; }      // NEWOBJ
                case 0x92: { Pop(); Pop(); var cls = Pop(); Push(new PyOpaque(Describe(cls) + " object")); break; } // NEWOBJ_EX
                case (byte)'b': Pop(); Top(); break;             // BUILD: the state of an OrderedDict or opaque object is not needed
                case (byte)'q': memo[Take(1)[0]] = Top(); break;
                case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Top(); break;
                case 0x94: memo[memo.Count] = Top(); break;      // MEMOIZE
                case (byte)'p':                                  // PUT (protocol 0)
                    memo[long.TryParse(Line(), NumberStyles.None, CultureInfo.InvariantCulture, out var put) ? put : throw Bad("holds a malformed PUT")] = Top();
                    break;
                case (byte)'h': Push(Get(Take(1)[0])); break;
                case (byte)'j': Push(Get(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break;
                case (byte)'g':
                    Push(Get(long.TryParse(Line(), NumberStyles.None, CultureInfo.InvariantCulture, out var get) ? get : throw Bad("holds a malformed GET")));
                    break;
                case (byte)'Q': Push(Persistent(Pop())); break;  // BINPERSID
                default:
                    position--;
                    throw Bad($"uses the opcode 0x{op:X2}, which a state_dict saved by torch.save does not");
            }
            if (memo.Count > WeightsLimits.MaxPickleObjects) throw Bad("memoizes too many objects");
        }
    }

    private object? Get(long index) =>
        memo.TryGetValue(index, out var value) ? value : throw Bad($"refers to memo entry {index}, which was never stored");

    private List<object?> AsList(object? value) => value as List<object?> ?? throw Bad("appends to something that is not a list");

    private PyDict AsDict(object? value) => value as PyDict ?? throw Bad("sets an item of something that is not a dict");

    private void SetItems(PyDict dict, List<object?> items)
    {
        if (items.Count % 2 != 0) throw Bad("sets items with an odd number of keys and values");
        for (var i = 0; i < items.Count; i += 2) dict.Set(Key(items[i]), items[i + 1]);
    }

    // Dict keys: strings, numbers, booleans and None compare by value; anything else by reference.
    private static object? Key(object? key) => key;

    private object Long(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) return 0L;
        if (bytes.Length > 8) return new PyOpaque("a large integer");
        long value = (sbyte)bytes[^1];
        for (var i = bytes.Length - 2; i >= 0; i--) value = (value << 8) | bytes[i];
        return value;
    }

    private static string Describe(object? value) => value switch
    {
        PyGlobal g => g.FullName,
        null => "None",
        _ => value.GetType().Name,
    };

    private object? Reduce(object? callable, object? args)
    {
        var arguments = (args as PyTuple)?.Items;
        if (callable is not PyGlobal global || arguments is null)
            return new PyOpaque($"a call of {Describe(callable)}");
        switch (global.FullName)
        {
            case "collections.OrderedDict":
            case "builtins.dict":
            {
                var dict = new PyDict();
                if (arguments.Length == 1 && arguments[0] is List<object?> pairs)
                {
                    foreach (var pair in pairs)
                    {
                        if (pair is PyTuple { Items.Length: 2 } kv) dict.Set(kv.Items[0], kv.Items[1]);
                        else if (pair is List<object?> { Count: 2 } kl) dict.Set(kl[0], kl[1]);
                    }
                }
                return dict;
            }
            case "torch._utils._rebuild_tensor_v2":
            case "torch._utils._rebuild_tensor":
                return RebuildTensor(arguments);
            case "torch._utils._rebuild_parameter":
            case "torch._utils._rebuild_parameter_with_state":
                return arguments.Length >= 1 && arguments[0] is TensorRef tensor ? tensor : new PyOpaque("a parameter");
            case "torch._tensor._rebuild_from_type_v2":
                // (func, type, args, state): a tensor subclass (nn.Parameter in newer PyTorch).
                if (arguments.Length >= 3 && arguments[0] is PyGlobal inner && arguments[2] is PyTuple innerArgs)
                    return Reduce(inner, innerArgs);
                return new PyOpaque("a tensor subclass");
            default:
                return new PyOpaque($"a {global.FullName} object");
        }
    }

    private object RebuildTensor(object?[] a)
    {
        // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (a.Length < 4 || a[0] is not StorageRef storage || a[1] is not long offset)
            throw Bad("rebuilds a tensor from arguments that are not (storage, offset, size, stride, ...)");
        var shape = Longs(a[2]) ?? throw Bad("rebuilds a tensor whose size is not a tuple of integers");
        var stride = Longs(a[3]) ?? throw Bad("rebuilds a tensor whose stride is not a tuple of integers");
        if (shape.Length != stride.Length) throw Bad("rebuilds a tensor whose size and stride differ in length");
        if (offset < 0) throw Bad("rebuilds a tensor at a negative storage offset");
        long extent = 0;
        var empty = false;
        try
        {
            long count = 1;
            for (var i = 0; i < shape.Length; i++)
            {
                if (shape[i] < 0 || stride[i] < 0) throw Bad("rebuilds a tensor with a negative size or stride");
                count = checked(count * shape[i]);
                if (shape[i] == 0) empty = true;
                else extent = checked(extent + checked((shape[i] - 1) * stride[i]));
            }
            if (!empty && checked(offset + extent + 1) > storage.Count)
                throw Bad($"rebuilds a tensor {Shapes.Format(shape)} (stride {Shapes.Format(stride)}, offset {offset}) that reaches past its storage '{Names.Escape(storage.Key)}' of {storage.Count} elements");
            if (storage.ElementSize > 0) checked((count * storage.ElementSize)).ToString(CultureInfo.InvariantCulture);
        }
        catch (OverflowException)
        {
            throw Bad($"rebuilds a tensor of shape {Shapes.Format(shape)}, whose size overflows 64 bits");
        }
        return new TensorRef(storage, offset, shape, stride);
    }

    private static long[]? Longs(object? value)
    {
        var items = value switch
        {
            PyTuple t => t.Items,
            List<object?> l => l.ToArray(),
            _ => null,
        };
        if (items is null) return null;
        var result = new long[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            if (items[i] is not long v) return null;
            result[i] = v;
        }
        return result;
    }

    private StorageRef Persistent(object? id)
    {
        // ('storage', torch.FloatStorage, key, location, numel)
        if (id is not PyTuple { Items.Length: 5 } tuple || tuple.Items[0] is not "storage" || tuple.Items[1] is not PyGlobal type
            || tuple.Items[2] is not string key || tuple.Items[4] is not long count || count < 0)
            throw Bad("holds a persistent id that is not a torch storage ('storage', type, key, location, numel)");
        var (dtype, size) = StorageType(type);
        long bytes;
        try { bytes = checked(count * Math.Max(size, 1)); }
        catch (OverflowException) { throw Bad($"declares a storage '{Names.Escape(key)}' of {count} elements, whose size overflows 64 bits"); }
        _ = bytes;
        var storage = new StorageRef(key, dtype, size, count);
        if (Storages.TryGetValue(key, out var existing))
        {
            if (existing != storage) throw Bad($"declares the storage '{Names.Escape(key)}' twice, differently");
            return existing;
        }
        Storages[key] = storage;
        return storage;
    }

    private static (string DType, int Size) StorageType(PyGlobal type) => type.FullName switch
    {
        "torch.FloatStorage" => ("F32", 4),
        "torch.DoubleStorage" => ("F64", 8),
        "torch.HalfStorage" => ("F16", 2),
        "torch.BFloat16Storage" => ("BF16", 2),
        "torch.LongStorage" => ("I64", 8),
        "torch.IntStorage" => ("I32", 4),
        "torch.ShortStorage" => ("I16", 2),
        "torch.CharStorage" => ("I8", 1),
        "torch.ByteStorage" => ("U8", 1),
        "torch.BoolStorage" => ("BOOL", 1),
        "torch.ComplexFloatStorage" => ("C64", 8),
        "torch.ComplexDoubleStorage" => ("C128", 16),
        _ => (type.FullName, 0),
    };
}
