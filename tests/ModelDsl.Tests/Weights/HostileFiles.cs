using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using Xunit;

namespace ModelDsl.Tests.Weights;

/// <summary>Builders for hostile files: pickles opcode by opcode, and zip archives with any directory we like.</summary>
internal static class HostileFiles
{
    /// <summary>A pickle written opcode by opcode (protocol 2, as torch.save writes).</summary>
    internal sealed class Pickle
    {
        private readonly MemoryStream bytes = new();

        public Pickle() => Op(0x80, 2);

        public Pickle Op(params byte[] ops) { bytes.Write(ops); return this; }

        public Pickle Raw(ReadOnlySpan<byte> data) { bytes.Write(data); return this; }

        public Pickle Str(string text)
        {
            var utf8 = Encoding.UTF8.GetBytes(text);
            Op((byte)'X');
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, utf8.Length);
            return Raw(length).Raw(utf8);
        }

        public Pickle Int(long value)
        {
            Op(0x8a, 8);
            Span<byte> data = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(data, value);
            return Raw(data);
        }

        public Pickle Global(string module, string name) => Op((byte)'c').Raw(Encoding.ASCII.GetBytes(module + "\n" + name + "\n"));

        public Pickle Mark() => Op((byte)'(');
        public Pickle Tuple() => Op((byte)'t');
        public Pickle EmptyDict() => Op((byte)'}');
        public Pickle EmptyList() => Op((byte)']');
        public Pickle EmptyTuple() => Op((byte)')');
        public Pickle Reduce() => Op((byte)'R');
        public Pickle SetItem() => Op((byte)'s');
        public Pickle SetItems() => Op((byte)'u');
        public Pickle Put(byte index) => Op((byte)'q', index);
        public Pickle Get(byte index) => Op((byte)'h', index);
        public Pickle False() => Op(0x89);
        public Pickle None() => Op((byte)'N');
        public Pickle BinPersId() => Op((byte)'Q');

        /// <summary>torch._utils._rebuild_tensor_v2(('storage', torch.XStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict()).</summary>
        public Pickle Tensor(string storageType, string key, long numel, long offset, long[] size, long[] stride)
        {
            Global("torch._utils", "_rebuild_tensor_v2").Mark();
            Mark().Str("storage").Global("torch", storageType).Str(key).Str("cpu").Int(numel).Tuple().BinPersId();
            Int(offset);
            Mark(); foreach (var s in size) Int(s); Tuple();
            Mark(); foreach (var s in stride) Int(s); Tuple();
            False().Global("collections", "OrderedDict").EmptyTuple().Reduce();
            return Tuple().Reduce();
        }

        public Pickle Stop() => Op((byte)'.');

        public byte[] ToArray() => bytes.ToArray();
    }

    /// <summary>A state_dict pickle: an OrderedDict of contiguous float tensors, storage i for tensor i.</summary>
    public static byte[] StateDict(IEnumerable<(string Name, long[] Shape)> tensors, string storageType = "FloatStorage")
    {
        var pickle = new Pickle().Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark();
        var i = 0;
        foreach (var (name, shape) in tensors)
        {
            var numel = shape.Aggregate(1L, (a, d) => a * d);
            pickle.Str(name).Tensor(storageType, (i++).ToString(), numel, 0, shape, Contiguous(shape));
        }
        return pickle.SetItems().Stop().ToArray();
    }

    public static long[] Contiguous(long[] shape)
    {
        var stride = new long[shape.Length];
        long s = 1;
        for (var i = shape.Length - 1; i >= 0; i--) { stride[i] = s; s *= shape[i]; }
        return stride;
    }

    public static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    /// <summary>One zip entry: its name, the bytes stored (raw, or already deflated), and the sizes the directory declares.</summary>
    internal sealed record ZipEntry(string Name, byte[] Data, bool Deflated = false, long? DeclaredSize = null, long? UncompressedSize = null);

    public static ZipEntry Deflated(string name, byte[] uncompressed, long? declaredSize = null)
    {
        using var buffer = new MemoryStream();
        using (var deflate = new DeflateStream(buffer, CompressionLevel.Fastest, leaveOpen: true)) deflate.Write(uncompressed);
        return new ZipEntry(name, buffer.ToArray(), true, declaredSize ?? uncompressed.Length, uncompressed.Length);
    }

    /// <summary>Deflated zeros, streamed (no buffer of the uncompressed size).</summary>
    public static ZipEntry DeflatedZeros(string name, long count, long declaredSize)
    {
        using var buffer = new MemoryStream();
        using (var deflate = new DeflateStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
        {
            var zeros = new byte[1 << 20];
            for (long done = 0; done < count; done += zeros.Length) deflate.Write(zeros, 0, (int)Math.Min(zeros.Length, count - done));
        }
        return new ZipEntry(name, buffer.ToArray(), true, declaredSize, count);
    }

    /// <summary>A zip archive with exactly these entries and directory (sizes as declared, CRCs computed).</summary>
    public static byte[] Zip(IEnumerable<ZipEntry> entries)
    {
        using var file = new MemoryStream();
        var central = new MemoryStream();
        var count = 0;
        foreach (var entry in entries)
        {
            var name = Encoding.UTF8.GetBytes(entry.Name);
            var offset = file.Position;
            var size = entry.DeclaredSize ?? entry.Data.Length;
            var crc = entry.Deflated ? 0u : Crc32(entry.Data);
            WriteHeader(file, 0x04034b50, local: true, entry.Deflated, crc, entry.Data.Length, size, name, 0);
            file.Write(entry.Data);
            WriteHeader(central, 0x02014b50, local: false, entry.Deflated, crc, entry.Data.Length, size, name, offset);
            count++;
        }
        var directoryOffset = file.Position;
        central.Position = 0;
        central.CopyTo(file);
        var end = new byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(end, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(8), (ushort)count);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(10), (ushort)count);
        BinaryPrimitives.WriteUInt32LittleEndian(end.AsSpan(12), (uint)central.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(end.AsSpan(16), (uint)directoryOffset);
        file.Write(end);
        return file.ToArray();
    }

    private static void WriteHeader(Stream stream, uint signature, bool local, bool deflated, uint crc, long compressed, long size, byte[] name, long offset)
    {
        var header = new byte[local ? 30 : 46];
        BinaryPrimitives.WriteUInt32LittleEndian(header, signature);
        var k = local ? 4 : 6;   // version needed (the central record has "made by" first)
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(k), 20);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(k + 4), (ushort)(deflated ? 8 : 0));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(k + 10), crc);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(k + 14), (uint)Math.Min(compressed, uint.MaxValue - 1));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(k + 18), (uint)Math.Min(size, uint.MaxValue - 1));
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(k + 22), (ushort)name.Length);
        if (!local) BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(42), (uint)offset);
        stream.Write(header);
        stream.Write(name);
    }

    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var i = 0; i < 8; i++) crc = (crc >> 1) ^ (0xEDB88320u & (uint)-(int)(crc & 1));
        }
        return ~crc;
    }

    /// <summary>A .pt zip of a pickle and its storages under one folder, as torch.save lays it out.</summary>
    public static byte[] PyTorchFile(byte[] pickle, params (string Key, byte[] Data)[] storages) =>
        Zip(new[] { new ZipEntry("archive/data.pkl", pickle) }
            .Concat(storages.Select(s => new ZipEntry("archive/data/" + s.Key, s.Data)))
            .Append(new ZipEntry("archive/version", "3\n"u8.ToArray())));

    /// <summary>A safetensors file of this header JSON and these data bytes.</summary>
    public static byte[] Safetensors(string json, int dataBytes) =>
        [.. BitConverter.GetBytes((ulong)Encoding.UTF8.GetByteCount(json)), .. Encoding.UTF8.GetBytes(json), .. new byte[dataBytes]];

    /// <summary>
    /// Runs <paramref name="action"/> and asserts it throws <typeparamref name="T"/> within the time and
    /// managed-allocation budget (bytes allocated on the managed heap while it ran, an upper bound of its peak).
    /// </summary>
    public static T Refused<T>(double seconds, long bytes, Action action) where T : Exception
    {
        GC.Collect();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var watch = Stopwatch.StartNew();
        var error = Assert.Throws<T>(action);
        watch.Stop();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.True(watch.Elapsed.TotalSeconds < seconds, $"took {watch.Elapsed.TotalSeconds:F2} s (budget {seconds} s): {error.Message}");
        Assert.True(allocated < bytes, $"allocated {allocated / 1e6:F1} MB (budget {bytes / 1e6:F1} MB): {error.Message}");
        Assert.DoesNotContain("   at ", error.Message);          // no stack frames in the message
        Assert.True(error.Message.Length < 20_000, $"a message of {error.Message.Length} characters");
        return error;
    }
}
