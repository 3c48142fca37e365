using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using System.Linq;

namespace ModelDsl.Data;

/// <summary>An array read from (or written to) an idx file: unsigned bytes in row-major order.</summary>
/// <param name="Dimensions">The sizes of each dimension, outermost first (<c>[N,28,28]</c> for images).</param>
/// <param name="Data">The values, <c>product(Dimensions)</c> bytes.</param>
public sealed record IdxArray(int[] Dimensions, byte[] Data)
{
    /// <summary>The size of the first dimension (the number of items).</summary>
    public int Count => Dimensions[0];

    /// <summary>Bytes per item: the product of all dimensions but the first.</summary>
    public int ItemSize => Dimensions.Skip(1).Aggregate(1, (a, b) => a * b);
}

/// <summary>
/// Thrown when a file is not a well-formed idx file. The message names the file, what is wrong with
/// it, and what to do about it.
/// </summary>
public sealed class IdxFormatException : IOException
{
    public IdxFormatException(string path, string problem, string? fix = null, Exception? inner = null)
        : base($"'{path}' is not a valid idx file: {problem}. {fix ?? "Replace it with a fresh copy of the original file."}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The file (or resource) that failed to parse.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with it, without the fix.</summary>
    public string Problem { get; }
}

/// <summary>
/// Reads and writes the idx format of MNIST and Fashion-MNIST: a big-endian header (magic
/// <c>0x0000TTNN</c> with type <c>TT</c> and rank <c>NN</c>, then one int32 per dimension) followed
/// by the data. Only unsigned bytes (type <c>0x08</c>) are supported. Files may be gzip-compressed;
/// compression is recognised from the content, not the name.
/// </summary>
public static class IdxFile
{
    /// <summary>The idx type code of unsigned bytes.</summary>
    public const byte UnsignedByte = 0x08;

    private const int MaxRank = 8;

    /// <summary>Reads an idx file, gzip-compressed or not.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IdxFormatException">The file is not a valid idx file.</exception>
    public static IdxArray Read(string path) => Read(path, fix: null);

    internal static IdxArray Read(string path, string? fix)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"idx file '{path}' not found.", path);
        using var stream = File.OpenRead(path);
        return Read(stream, path, fix);
    }

    /// <summary>Reads an idx array from a stream (gzip-compressed or not).</summary>
    /// <param name="stream">The stream; read to its end, not disposed.</param>
    /// <param name="source">The name used in error messages (a path or resource name).</param>
    /// <param name="fix">What the user should do if the content is invalid; a generic hint if null.</param>
    public static IdxArray Read(Stream stream, string source, string? fix = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffered = new BufferedStream(stream, 1 << 16);
        Span<byte> probe = stackalloc byte[2];
        int probed = ReadUpTo(buffered, probe, source, fix);
        Stream content = buffered;
        bool gzip = probed == 2 && probe[0] == 0x1f && probe[1] == 0x8b;
        var prefix = probe[..probed].ToArray();
        if (gzip)
        {
            // The two bytes already consumed are part of the gzip header: put them back.
            content = new GZipStream(new PrefixedStream(prefix, buffered), CompressionMode.Decompress, leaveOpen: true);
            prefix = [];
        }

        try
        {
            return ReadContent(new PrefixedStream(prefix, content), source, fix);
        }
        catch (InvalidDataException e)
        {
            throw new IdxFormatException(source, $"the gzip data is corrupt ({e.Message})", fix, e);
        }
        finally
        {
            if (gzip) content.Dispose();
        }
    }

    /// <summary>Writes an idx file, gzip-compressed when the path ends in <c>.gz</c>.</summary>
    public static void Write(string path, IdxArray array)
    {
        ArgumentNullException.ThrowIfNull(array);
        Validate(array);
        using var file = File.Create(path);
        if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
        {
            using var gz = new GZipStream(file, CompressionLevel.Optimal);
            Write(gz, array);
        }
        else
        {
            Write(file, array);
        }
    }

    /// <summary>Writes an uncompressed idx array to a stream.</summary>
    public static void Write(Stream stream, IdxArray array)
    {
        Validate(array);
        var header = new byte[4 + 4 * array.Dimensions.Length];
        header[2] = UnsignedByte;
        header[3] = (byte)array.Dimensions.Length;
        for (int i = 0; i < array.Dimensions.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * i), array.Dimensions[i]);
        stream.Write(header);
        stream.Write(array.Data);
    }

    private static void Validate(IdxArray array)
    {
        if (array.Dimensions.Length is 0 or > MaxRank)
            throw new ArgumentException($"An idx array needs 1 to {MaxRank} dimensions, not {array.Dimensions.Length}.", nameof(array));
        long expected = 1;
        foreach (var d in array.Dimensions)
        {
            if (d < 0) throw new ArgumentException($"Negative dimension {d}.", nameof(array));
            expected *= d;
        }
        if (expected != array.Data.Length)
            throw new ArgumentException(
                $"Dimensions [{string.Join(",", array.Dimensions)}] need {expected} bytes, but the data has {array.Data.Length}.",
                nameof(array));
    }

    private static IdxArray ReadContent(Stream content, string source, string? fix)
    {
        Span<byte> magic = stackalloc byte[4];
        int got = ReadUpTo(content, magic, source, fix);
        if (got < 4)
            throw new IdxFormatException(source, $"it is {got} bytes long, too short for the 4-byte magic number", fix);
        if (magic[0] != 0 || magic[1] != 0)
            throw new IdxFormatException(source,
                $"the magic number is 0x{BinaryPrimitives.ReadUInt32BigEndian(magic):X8}, expected 0x0000{UnsignedByte:X2}NN (NN = rank)", fix);
        if (magic[2] != UnsignedByte)
            throw new IdxFormatException(source,
                $"element type 0x{magic[2]:X2} is not supported (only unsigned bytes, 0x{UnsignedByte:X2})", fix);
        int rank = magic[3];
        if (rank is 0 or > MaxRank)
            throw new IdxFormatException(source, $"the header declares {rank} dimensions (expected 1 to {MaxRank})", fix);

        var dimensionBytes = new byte[4 * rank];
        got = ReadUpTo(content, dimensionBytes, source, fix);
        if (got < dimensionBytes.Length)
            throw new IdxFormatException(source, $"the header ends after {got} of {dimensionBytes.Length} dimension bytes", fix);
        var dims = new int[rank];
        long size = 1;
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(dimensionBytes.AsSpan(4 * i));
            if (dims[i] < 0)
                throw new IdxFormatException(source, $"dimension {i} is negative ({dims[i]})", fix);
            size *= dims[i];
            if (size > Array.MaxLength)
                throw new IdxFormatException(source, $"dimensions [{string.Join(",", dims.Take(i + 1))}...] are too large to load", fix);
        }

        var data = new byte[size];
        got = ReadUpTo(content, data, source, fix);
        if (got < data.Length)
            throw new IdxFormatException(source,
                $"the header declares dimensions [{string.Join(",", dims)}] ({size} bytes of data) but the file has only {got}; it is truncated", fix);
        Span<byte> extra = stackalloc byte[1];
        if (ReadUpTo(content, extra, source, fix) != 0)
            throw new IdxFormatException(source,
                $"there are bytes after the {size} bytes of data that dimensions [{string.Join(",", dims)}] declare", fix);
        return new IdxArray(dims, data);
    }

    private static int ReadUpTo(Stream stream, Span<byte> buffer, string source, string? fix)
    {
        try
        {
            return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw new IdxFormatException(source, $"the gzip data is corrupt ({e.Message})", fix, e);
        }
    }

    /// <summary>A read-only stream that yields a few bytes before the rest of another stream.</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream rest) : Stream
    {
        private int _offset;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_offset < prefix.Length)
            {
                int n = Math.Min(buffer.Length, prefix.Length - _offset);
                prefix.AsSpan(_offset, n).CopyTo(buffer);
                _offset += n;
                return n;
            }
            return rest.Read(buffer);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
