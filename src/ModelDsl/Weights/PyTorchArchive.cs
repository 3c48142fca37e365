using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Text;

namespace ModelDsl.Weights;

/// <summary>
/// The zip container of a PyTorch file, read from its central directory by code of our own (not
/// <see cref="ZipArchive"/>), and held to the layout <c>torch.save</c> writes before anything is unpickled:
/// every record under one folder <c>&lt;prefix&gt;/</c>, exactly one <c>&lt;prefix&gt;/data.pkl</c>, storages
/// at exactly <c>&lt;prefix&gt;/data/&lt;key&gt;</c>, a few known metadata records, and nothing else: no
/// second pickle, no look-alike names, no path tricks, no duplicate or overlapping entries. So the records
/// read here are the ones <c>torch.load</c> reads. Entries are indexed once by name.
/// </summary>
internal sealed class PyTorchArchive : IDisposable
{
    // Records torch.save writes besides data.pkl and data/<key> (over its versions).
    private static readonly HashSet<string> MetadataRecords = new(StringComparer.Ordinal)
    {
        "version", ".data/version", ".data/serialization_id", "byteorder", ".format_version", ".storage_alignment",
    };

    private readonly FileStream stream;
    private readonly long centralDirectoryOffset;
    private readonly long[] sortedLocalOffsets;

    private PyTorchArchive(string path, FileStream stream, string prefix, Entry pickle, Dictionary<string, Entry> storages,
        Dictionary<string, Entry> metadata, long centralDirectoryOffset, long[] sortedLocalOffsets)
    {
        Path = path;
        this.stream = stream;
        Prefix = prefix;
        Pickle = pickle;
        Storages = storages;
        Metadata = metadata;
        this.centralDirectoryOffset = centralDirectoryOffset;
        this.sortedLocalOffsets = sortedLocalOffsets;
    }

    public string Path { get; }

    /// <summary>The folder every record sits in.</summary>
    public string Prefix { get; }

    public Entry Pickle { get; }

    /// <summary>The storage records by key (<c>&lt;prefix&gt;/data/&lt;key&gt;</c>).</summary>
    public IReadOnlyDictionary<string, Entry> Storages { get; }

    public IReadOnlyDictionary<string, Entry> Metadata { get; }

    /// <summary>One record of the central directory.</summary>
    internal sealed record Entry(string Name, int Method, long CompressedSize, long Size, long LocalHeaderOffset);

    public static PyTorchArchive Open(string path)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        try
        {
            return Open(path, stream);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private static PyTorchArchive Open(string path, FileStream stream)
    {
        var length = stream.Length;
        // The end of central directory record: 22 bytes plus a comment of up to 65535.
        var tailLength = (int)Math.Min(length, 22 + 65535 + 20);
        var tail = new byte[tailLength];
        stream.Position = length - tailLength;
        stream.ReadExactly(tail);
        var eocd = -1;
        for (var i = tailLength - 22; i >= 0; i--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) == 0x06054b50
                && i + 22 + BinaryPrimitives.ReadUInt16LittleEndian(tail.AsSpan(i + 20)) == tailLength)
            {
                eocd = i;
                break;
            }
        }
        if (eocd < 0)
            throw Bad(path, "the zip directory at the end of the file is missing: the file is truncated or damaged (an interrupted download or copy?). " +
                "Download or save it again; a file written by torch.save always ends with that directory");
        var eocdPosition = length - tailLength + eocd;
        var span = tail.AsSpan(eocd);
        long count = BinaryPrimitives.ReadUInt16LittleEndian(span[10..]);
        long directorySize = BinaryPrimitives.ReadUInt32LittleEndian(span[12..]);
        long directoryOffset = BinaryPrimitives.ReadUInt32LittleEndian(span[16..]);
        if (BinaryPrimitives.ReadUInt16LittleEndian(span[4..]) != 0 || BinaryPrimitives.ReadUInt16LittleEndian(span[6..]) != 0)
            throw Bad(path, "it is a multi-part zip archive, which torch.save never writes");
        var directoryEnd = eocdPosition;
        if (count == 0xFFFF || directorySize == 0xFFFFFFFF || directoryOffset == 0xFFFFFFFF)
        {
            // Zip64: a locator just before the record points at the zip64 end of central directory.
            if (eocd < 20 || BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(eocd - 20)) != 0x07064b50)
                throw Bad(path, "the zip64 directory locator is missing (truncated or damaged file)");
            var zip64Offset = BinaryPrimitives.ReadInt64LittleEndian(tail.AsSpan(eocd - 20 + 8));
            if (zip64Offset < 0 || zip64Offset + 56 > eocdPosition - 20)
                throw Bad(path, "the zip64 directory record lies outside the file");
            var record = new byte[56];
            stream.Position = zip64Offset;
            if (stream.ReadAtLeast(record, 56, throwOnEndOfStream: false) < 56) throw Bad(path, "the zip64 directory record is truncated");
            if (BinaryPrimitives.ReadUInt32LittleEndian(record) != 0x06064b50)
                throw Bad(path, "the zip64 directory record is damaged");
            count = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(32));
            directorySize = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(40));
            directoryOffset = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(48));
            directoryEnd = zip64Offset;
        }
        if (count < 0 || count > WeightsLimits.MaxZipEntries)
            throw Bad(path, $"the zip archive declares {count} entries, above the limit of {WeightsLimits.MaxZipEntries}");
        if (directoryOffset < 0 || directorySize < 0 || directoryOffset > directoryEnd || directorySize > directoryEnd - directoryOffset)
            throw Bad(path, "the zip directory lies outside the file (truncated or damaged)");
        if (directorySize < count * 46)
            throw Bad(path, $"the zip directory has {directorySize} bytes, too few for its {count} entries (damaged)");

        var directory = new byte[directorySize];
        stream.Position = directoryOffset;
        stream.ReadExactly(directory);

        var all = new Dictionary<string, Entry>((int)count, StringComparer.Ordinal);
        var offsets = new long[count];
        var position = 0;
        var utf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);
        for (var i = 0; i < count; i++)
        {
            if (position + 46 > directory.Length || BinaryPrimitives.ReadUInt32LittleEndian(directory.AsSpan(position)) != 0x02014b50)
                throw Bad(path, $"zip directory entry {i} is damaged");
            var d = directory.AsSpan(position);
            var flags = BinaryPrimitives.ReadUInt16LittleEndian(d[8..]);
            int method = BinaryPrimitives.ReadUInt16LittleEndian(d[10..]);
            long compressed = BinaryPrimitives.ReadUInt32LittleEndian(d[20..]);
            long size = BinaryPrimitives.ReadUInt32LittleEndian(d[24..]);
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(d[28..]);
            int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(d[30..]);
            int commentLength = BinaryPrimitives.ReadUInt16LittleEndian(d[32..]);
            int disk = BinaryPrimitives.ReadUInt16LittleEndian(d[34..]);
            long local = BinaryPrimitives.ReadUInt32LittleEndian(d[42..]);
            var next = position + 46 + nameLength + extraLength + commentLength;
            if (next > directory.Length) throw Bad(path, $"zip directory entry {i} runs past the directory");
            string name;
            try { name = utf8.GetString(directory, position + 46, nameLength); }
            catch (DecoderFallbackException) { throw Bad(path, $"zip entry {i} has a name that is not valid UTF-8"); }
            var extra = directory.AsSpan(position + 46 + nameLength, extraLength);
            if (size == 0xFFFFFFFF || compressed == 0xFFFFFFFF || local == 0xFFFFFFFF)
                ReadZip64(extra, ref size, ref compressed, ref local, path, name);
            position = next;

            if ((flags & 1) != 0) throw Bad(path, $"the entry '{Names.Escape(name)}' is encrypted");
            if (method is not (0 or 8)) throw Bad(path, $"the entry '{Names.Escape(name)}' uses zip compression method {method}; torch.save stores records uncompressed");
            if (disk != 0) throw Bad(path, "it is a multi-part zip archive");
            if (size < 0 || compressed < 0 || local < 0 || local >= directoryOffset)
                throw Bad(path, $"the entry '{Names.Escape(name)}' lies outside the file");
            if (method == 0 && compressed != size)
                throw Bad(path, $"the stored entry '{Names.Escape(name)}' declares {size} bytes but occupies {compressed}");
            if (!all.TryAdd(name, new Entry(name, method, compressed, size, local)))
                throw Bad(path, $"the entry '{Names.Escape(name)}' appears twice in the zip directory; PyTorch and other readers would disagree about which one is meant");
            offsets[i] = local;
        }
        Array.Sort(offsets);
        for (var i = 1; i < offsets.Length; i++)
        {
            if (offsets[i] == offsets[i - 1]) throw Bad(path, "two zip entries share their data (overlapping entries, a zip bomb technique)");
        }

        // The layout: one folder, data.pkl, data/<key>, known metadata; nothing else.
        string? prefix = null;
        Entry? pickle = null;
        var storages = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        foreach (var entry in all.Values)
        {
            var name = entry.Name;
            var slash = name.IndexOf('/', StringComparison.Ordinal);
            if (slash <= 0 || !IsFolderName(name.AsSpan(0, slash)))
            {
                unexpected.Add(name);
                continue;
            }
            var folder = name[..slash];
            if (prefix is null) prefix = folder;
            else if (folder != prefix)
                throw Bad(path, $"its records sit under two folders, '{Names.Escape(prefix)}/' and '{Names.Escape(folder)}/'; a torch.save file has one. " +
                    "Refused, because readers could disagree about which records are the state_dict");
            var rest = name[(slash + 1)..];
            if (rest == "data.pkl") pickle = entry;
            else if (rest.StartsWith("data/", StringComparison.Ordinal) && IsPlainSegment(rest.AsSpan(5))) storages.Add(rest[5..], entry);
            else if (MetadataRecords.Contains(rest)) metadata.Add(rest, entry);
            else unexpected.Add(name);
        }
        if (unexpected.Count > 0)
        {
            var constants = unexpected.Exists(n => n.EndsWith("/constants.pkl", StringComparison.Ordinal) || n.Contains("/code/", StringComparison.Ordinal));
            throw Bad(path, constants
                ? "it is a TorchScript archive (torch.jit.save), not a state_dict; in Python, save the weights with torch.save(model.state_dict(), path)"
                : $"it holds zip entries that are not part of a torch.save file ({Names.Join(unexpected, n => "'" + Names.Escape(n) + "'")}). " +
                  "Refused, because another reader could take one of them for the weights; re-save the file with torch.save(model.state_dict(), path)");
        }
        if (pickle is null || prefix is null)
            throw Bad(path, "the zip archive has no '<folder>/data.pkl' record, so it is not a PyTorch file written by torch.save");
        if (metadata.TryGetValue("byteorder", out var byteOrder))
        {
            var archive = new PyTorchArchive(path, stream, prefix, pickle, storages, metadata, directoryOffset, offsets);
            var order = Encoding.ASCII.GetString(archive.ReadEntry(byteOrder, 16)).Trim();
            if (order != "little")
                throw Bad(path, $"its tensors are stored {order}-endian; re-save it on a little-endian machine");
            return archive;
        }
        return new PyTorchArchive(path, stream, prefix, pickle, storages, metadata, directoryOffset, offsets);
    }

    private static void ReadZip64(ReadOnlySpan<byte> extra, ref long size, ref long compressed, ref long local, string path, string name)
    {
        var i = 0;
        while (i + 4 <= extra.Length)
        {
            int id = BinaryPrimitives.ReadUInt16LittleEndian(extra[i..]);
            int length = BinaryPrimitives.ReadUInt16LittleEndian(extra[(i + 2)..]);
            if (i + 4 + length > extra.Length) break;
            if (id == 1)
            {
                var field = extra.Slice(i + 4, length);
                var k = 0;
                if (size == 0xFFFFFFFF) { if (k + 8 > field.Length) break; size = BinaryPrimitives.ReadInt64LittleEndian(field[k..]); k += 8; }
                if (compressed == 0xFFFFFFFF) { if (k + 8 > field.Length) break; compressed = BinaryPrimitives.ReadInt64LittleEndian(field[k..]); k += 8; }
                if (local == 0xFFFFFFFF) { if (k + 8 > field.Length) break; local = BinaryPrimitives.ReadInt64LittleEndian(field[k..]); }
                return;
            }
            i += 4 + length;
        }
        throw Bad(path, $"the zip64 sizes of the entry '{Names.Escape(name)}' are missing");
    }

    // The folder torch.save names after the file (its name without the extension: any characters but a
    // separator or a control character; nothing is ever extracted to disk), not "." or "..".
    private static bool IsFolderName(ReadOnlySpan<char> segment)
    {
        if (segment.Length == 0 || segment.Length > 1024 || segment is "." or "..") return false;
        foreach (var c in segment)
        {
            if (c is '\\' or ':' || char.IsControl(c)) return false;
        }
        return true;
    }

    // A record name torch.save writes under data/: letters, digits, '_', '-', '.', not "." or "..".
    private static bool IsPlainSegment(ReadOnlySpan<char> segment)
    {
        if (segment.Length == 0 || segment.Length > 255 || segment is "." or "..") return false;
        foreach (var c in segment)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')) return false;
        }
        return true;
    }

    /// <summary>
    /// The bytes of <paramref name="entry"/>, which must declare at most <paramref name="maxBytes"/>; inflated
    /// (when deflated) no further than the declared size, and refused when the data is shorter or longer.
    /// </summary>
    public byte[] ReadEntry(Entry entry, long maxBytes)
    {
        if (entry.Size > maxBytes)
            throw Bad(Path, $"the record '{Names.Escape(entry.Name)}' declares {entry.Size} bytes, above the {maxBytes} expected");
        var buffer = new byte[entry.Size];
        using var data = OpenEntry(entry);
        data.ReadExactly(buffer);
        return buffer;
    }

    /// <summary>Reads exactly <c>destination.Length</c> bytes of <paramref name="entry"/> (its declared size).</summary>
    public Stream OpenEntry(Entry entry)
    {
        var header = new byte[30];
        stream.Position = entry.LocalHeaderOffset;
        if (stream.ReadAtLeast(header, 30, throwOnEndOfStream: false) < 30 || BinaryPrimitives.ReadUInt32LittleEndian(header) != 0x04034b50)
            throw Bad(Path, $"the local header of '{Names.Escape(entry.Name)}' is damaged");
        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(26));
        int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(28));
        var localName = new byte[nameLength];
        if (stream.ReadAtLeast(localName, nameLength, throwOnEndOfStream: false) < nameLength)
            throw Bad(Path, $"the local header of '{Names.Escape(entry.Name)}' runs past the end of the file (truncated or damaged)");
        if (!localName.AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(entry.Name)))
            throw Bad(Path, $"the local header of '{Names.Escape(entry.Name)}' names another file ('{Names.Escape(Encoding.UTF8.GetString(localName))}'); readers would disagree");
        var start = entry.LocalHeaderOffset + 30 + nameLength + extraLength;
        // The data must end before the next entry (or the directory): no overlapping records.
        var index = Array.BinarySearch(sortedLocalOffsets, entry.LocalHeaderOffset);
        var limit = index + 1 < sortedLocalOffsets.Length ? sortedLocalOffsets[index + 1] : centralDirectoryOffset;
        if (start + entry.CompressedSize > limit)
            throw Bad(Path, $"the record '{Names.Escape(entry.Name)}' overlaps the next one or the zip directory (damaged, or a zip bomb)");
        Stream raw = new Window(stream, start, entry.CompressedSize);
        if (entry.Method == 8) raw = new DeflateStream(raw, CompressionMode.Decompress);
        return new Exact(raw, entry.Size, Path, entry.Name);
    }

    public void Dispose() => stream.Dispose();

    internal static InvalidDataException Bad(string path, string why) =>
        new($"'{path}' is not a readable PyTorch state_dict file: {why}.");

    /// <summary>A read-only window of a stream.</summary>
    private sealed class Window(Stream inner, long start, long length) : Stream
    {
        private long position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, length - position);
            if (n <= 0) return 0;
            inner.Position = start + position;
            n = inner.Read(buffer[..n]);
            position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Yields exactly the declared size: fewer bytes, or more, is an error (never inflated past it).</summary>
    private sealed class Exact(Stream inner, long size, string path, string name) : Stream
    {
        private long position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => size;
        public override long Position { get => position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var want = (int)Math.Min(buffer.Length, size - position);
            if (want <= 0)
            {
                if (buffer.Length > 0) CheckEnd();
                return 0;
            }
            int n;
            try { n = inner.Read(buffer[..want]); }
            catch (InvalidDataException e) { throw Bad(path, $"the record '{Names.Escape(name)}' is damaged ({e.Message})"); }
            if (n == 0) throw Bad(path, $"the record '{Names.Escape(name)}' ends after {position} of its {size} bytes (truncated or damaged)");
            position += n;
            if (position == size) CheckEnd();
            return n;
        }

        private bool checkedEnd;

        private void CheckEnd()
        {
            if (checkedEnd) return;
            checkedEnd = true;
            Span<byte> one = stackalloc byte[1];
            int extra;
            try { extra = inner.Read(one); }
            catch (InvalidDataException) { extra = 0; }
            if (extra > 0) throw Bad(path, $"the record '{Names.Escape(name)}' holds more than the {size} bytes it declares (a zip bomb?)");
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
