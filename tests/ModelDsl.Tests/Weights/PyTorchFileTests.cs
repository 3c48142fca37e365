using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using ModelDsl.Tests.Generated;
using ModelDsl.Weights;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Weights;

/// <summary>
/// What PyTorch sees in our <c>.pt</c> files, without PyTorch: the zip layout <c>torch.load</c> reads, and
/// the pickle inside it, executed by a small unpickler of our own (not PyBridge's) into the call tree
/// <c>torch.load</c> would evaluate. And the other way: a file <c>torch.save</c> wrote (a checked-in
/// fixture, made by Fixtures/torch_interop.py) loads into the generated model.
/// </summary>
public sealed class PyTorchFileTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "modeldsl-weights-tests", Guid.NewGuid().ToString("N"));

    public PyTorchFileTests() => Directory.CreateDirectory(folder);

    public void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }

    /// <summary>The globals <c>torch.load(weights_only=True)</c> (the default since PyTorch 2.6) accepts for a float32 state_dict.</summary>
    private static readonly HashSet<string> WeightsOnlyGlobals = ["collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.FloatStorage"];

    [Theory]
    [InlineData(nameof(TinyVit))]
    [InlineData(nameof(VqtVit))]
    [InlineData(nameof(ResampledVit))]
    public void A_pt_file_is_a_zip_archive_whose_pickle_rebuilds_every_tensor_as_torch_load_would(string name)
    {
        using var scope = NewDisposeScope();
        manual_seed(31);
        using nn.Module model = name switch
        {
            nameof(TinyVit) => new TinyVit(CPU),
            nameof(VqtVit) => new VqtVit(CPU),
            _ => new ResampledVit(CPU),
        };
        var path = Path.Combine(folder, name + ".pt");
        model.SavePyTorch(path);

        using var zip = ZipFile.OpenRead(path);
        // torch.load: every record sits under one top folder; data.pkl is the pickle, data/<key> the storages.
        var root = zip.Entries[0].FullName.Split('/')[0];
        Assert.All(zip.Entries, e => Assert.StartsWith(root + "/", e.FullName));
        var pickle = Read(zip, root + "/data.pkl");
        Assert.Matches(@"^\d+\s*$", Encoding.ASCII.GetString(Read(zip, root + "/version")));

        var state = Assert.IsType<PickleDict>(Unpickler.Load(pickle, out var globals));
        Assert.Equal(model.named_parameters().Select(p => p.name), state.Items.Select(i => Assert.IsType<string>(i.Key)));
        Assert.All(globals, g => Assert.Contains(g, WeightsOnlyGlobals));

        var storages = new HashSet<string>();
        foreach (var (key, value) in state.Items)
        {
            var parameter = model.get_parameter((string)key)!;
            // torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks)
            var call = Assert.IsType<PickleCall>(value);
            Assert.Equal("torch._utils._rebuild_tensor_v2", call.Function);
            Assert.Equal(6, call.Arguments.Length);
            // The storage is a persistent id: ('storage', torch.FloatStorage, key, location, numel).
            var id = Assert.IsType<PickleTuple>(Assert.IsType<PicklePersistent>(call.Arguments[0]).Id).Items;
            Assert.Equal("storage", id[0]);
            Assert.Equal("torch.FloatStorage", Assert.IsType<PickleGlobal>(id[1]).Name);
            var storage = Assert.IsType<string>(id[2]);
            Assert.True(storages.Add(storage), $"{key}: storage '{storage}' shared");
            Assert.Equal("cpu", id[3]);
            Assert.Equal(parameter.numel(), Convert.ToInt64(id[4]));
            Assert.Equal(0L, Convert.ToInt64(call.Arguments[1]));
            var size = Longs(call.Arguments[2]);
            Assert.Equal(parameter.shape, size);
            Assert.Equal(ContiguousStrides(size), Longs(call.Arguments[3]));
            Assert.Equal(false, call.Arguments[4]);
            Assert.Empty(Assert.IsType<PickleDict>(call.Arguments[5]).Items);   // OrderedDict(): no backward hooks

            // The storage record holds the float32 values, little-endian, in row-major order.
            var bytes = Read(zip, $"{root}/data/{storage}");
            Assert.Equal(parameter.numel() * 4, bytes.Length);
            var values = Enumerable.Range(0, bytes.Length / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i))).ToArray();
            Assert.Equal(parameter.detach().contiguous().data<float>().ToArray(), values);
        }
        Assert.Equal(state.Items.Count, zip.Entries.Count(e => e.FullName.StartsWith(root + "/data/", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_state_dict_written_by_torch_save_loads_into_the_generated_model()
    {
        // torch 1.13's torch.save(module.state_dict()): an OrderedDict with _metadata (a BUILD), stored records,
        // a folder named after the file. Element i of the k-th tensor is ((i + k) % 17 - 8) / 16 (torch_interop.py).
        var fixture = Path.Combine(FixturesFolder(), "channelvit.torch.pt");
        manual_seed(32);
        using var model = new ChannelVit(CPU);

        var report = model.Load(fixture);

        Assert.True(report.IsComplete, report.ToString());
        Assert.Equal(WeightsFormat.PyTorch, report.Format);
        var k = 0;
        foreach (var (name, parameter) in model.named_parameters())
        {
            var expected = Enumerable.Range(0, (int)parameter.numel()).Select(i => ((i + k) % 17 - 8) / 16f).ToArray();
            Assert.True(expected.SequenceEqual(parameter.detach().contiguous().data<float>().ToArray()), $"{name} (tensor {k}) differs from the values torch wrote");
            k++;
        }
        Assert.Equal(21, k);
    }

    private static byte[] Read(ZipArchive zip, string name)
    {
        var entry = zip.GetEntry(name) ?? throw new Xunit.Sdk.XunitException($"no '{name}' in the archive: {string.Join(", ", zip.Entries.Select(e => e.FullName).Take(5))} ...");
        using var stream = entry.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static long[] Longs(object? tuple) => Assert.IsType<PickleTuple>(tuple).Items.Select(Convert.ToInt64).ToArray();

    private static long[] ContiguousStrides(long[] size)
    {
        var strides = new long[size.Length];
        long stride = 1;
        for (var i = size.Length - 1; i >= 0; i--)
        {
            strides[i] = stride;
            stride *= size[i];
        }
        return strides;
    }

    private static string FixturesFolder([System.Runtime.CompilerServices.CallerFilePath] string source = "")
    {
        // The fixture is read where it is checked in: next to this file, or found from the test binaries upwards.
        var beside = Path.Combine(Path.GetDirectoryName(source)!, "Fixtures");
        if (Directory.Exists(beside)) return beside;
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "tests", "ModelDsl.Tests", "Weights", "Fixtures");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"tests/ModelDsl.Tests/Weights/Fixtures above {AppContext.BaseDirectory}");
    }
}

internal sealed record PickleGlobal(string Name);
internal sealed record PickleCall(string Function, object?[] Arguments);
internal sealed record PickleTuple(object?[] Items);
internal sealed record PicklePersistent(object? Id);
internal sealed record PickleDict(List<KeyValuePair<object, object?>> Items);

/// <summary>
/// Runs the pickle opcodes a state_dict uses (protocol 2 as PyTorch and PyBridge write it) into a tree:
/// globals, calls (REDUCE), tuples, dicts, persistent ids. Anything else fails with its opcode and offset.
/// </summary>
internal static class Unpickler
{
    private static readonly object Mark = new();

    public static object? Load(byte[] data, out HashSet<string> globals)
    {
        globals = [];
        var stack = new List<object?>();
        var memo = new Dictionary<long, object?>();
        var i = 0;
        object? Pop() { var top = stack[^1]; stack.RemoveAt(stack.Count - 1); return top; }
        object?[] PopToMark()
        {
            var mark = stack.LastIndexOf(Mark);
            if (mark < 0) throw new InvalidDataException($"no MARK at offset {i}");
            var items = stack.Skip(mark + 1).ToArray();
            stack.RemoveRange(mark, stack.Count - mark);
            return items;
        }
        int U8() => data[i++];
        int U16() { var v = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(i)); i += 2; return v; }
        int I32() { var v = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(i)); i += 4; return v; }
        string Utf8(int length) { var s = Encoding.UTF8.GetString(data, i, length); i += length; return s; }
        string Line() { var end = Array.IndexOf(data, (byte)'\n', i); var s = Encoding.ASCII.GetString(data, i, end - i); i = end + 1; return s; }
        void SetItems(object?[] items)
        {
            var dict = stack[^1] as PickleDict ?? throw new InvalidDataException($"SETITEMS on a non-dict at offset {i}");
            for (var k = 0; k < items.Length; k += 2) dict.Items.Add(new(items[k]!, items[k + 1]));
        }

        while (true)
        {
            var at = i;
            var op = data[i++];
            switch (op)
            {
                case 0x80: i++; break;                                              // PROTO
                case (byte)'}': stack.Add(new PickleDict([])); break;               // EMPTY_DICT
                case (byte)'(': stack.Add(Mark); break;                             // MARK
                case (byte)'q': memo[U8()] = stack[^1]; break;                      // BINPUT
                case (byte)'r': memo[I32()] = stack[^1]; break;                     // LONG_BINPUT
                case (byte)'h': stack.Add(memo[U8()]); break;                       // BINGET
                case (byte)'j': stack.Add(memo[I32()]); break;                      // LONG_BINGET
                case (byte)'X': stack.Add(Utf8(I32())); break;                      // BINUNICODE
                case 0x8c: stack.Add(Utf8(U8())); break;                            // SHORT_BINUNICODE
                case (byte)'c': { var g = new PickleGlobal(Line() + "." + Line()); globals.Add(g.Name); stack.Add(g); break; } // GLOBAL
                case (byte)'K': stack.Add((long)U8()); break;                       // BININT1
                case (byte)'M': stack.Add((long)U16()); break;                      // BININT2
                case (byte)'J': stack.Add((long)I32()); break;                      // BININT
                case 0x88: stack.Add(true); break;                                  // NEWTRUE
                case 0x89: stack.Add(false); break;                                 // NEWFALSE
                case (byte)'N': stack.Add(null); break;                             // NONE
                case (byte)')': stack.Add(new PickleTuple([])); break;              // EMPTY_TUPLE
                case 0x85: stack.Add(new PickleTuple([Pop()])); break;              // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); stack.Add(new PickleTuple([a, b])); break; }            // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); stack.Add(new PickleTuple([a, b, c])); break; } // TUPLE3
                case (byte)'t': stack.Add(new PickleTuple(PopToMark())); break;     // TUPLE
                case (byte)'Q': stack.Add(new PicklePersistent(Pop())); break;      // BINPERSID
                case (byte)'R':                                                     // REDUCE
                {
                    var arguments = Assert.IsType<PickleTuple>(Pop()).Items;
                    var function = Assert.IsType<PickleGlobal>(Pop()).Name;
                    // OrderedDict() or OrderedDict(()): an empty dict that SETITEMS may fill.
                    var emptyDict = function == "collections.OrderedDict" && arguments is [] or [PickleTuple { Items: [] }];
                    stack.Add(emptyDict ? new PickleDict([]) : new PickleCall(function, arguments));
                    break;
                }
                case (byte)'s': { var value = Pop(); var key = Pop(); SetItems([key, value]); break; }          // SETITEM
                case (byte)'u': SetItems(PopToMark()); break;                       // SETITEMS
                case (byte)'b': Pop(); break;                                       // BUILD: the OrderedDict's _metadata, not a tensor
                case (byte)'.': return Pop();                                       // STOP
                default: throw new InvalidDataException($"pickle opcode 0x{op:x2} at offset {at} is not one a state_dict uses");
            }
        }
    }
}
