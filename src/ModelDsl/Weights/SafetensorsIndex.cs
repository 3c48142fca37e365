using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace ModelDsl.Weights;

/// <summary>
/// The header of a safetensors file, read and checked without touching the tensor data, as strictly as the
/// reference implementation: valid UTF-8 JSON of at most 100 MB, no duplicate key at any level, known dtypes
/// whose size times the shape is each entry's byte count, and data offsets that are contiguous, do not overlap
/// and cover the data exactly (no gap, no trailing bytes).
/// </summary>
internal sealed class SafetensorsIndex
{
    /// <summary>The reference implementation's limit on the header size (100 MB).</summary>
    public const long MaxHeaderBytes = WeightsLimits.MaxSafetensorsHeaderBytes;

    private readonly Dictionary<string, (long Begin, long End)> offsets;

    private SafetensorsIndex(string json, List<TensorEntry> entries, Dictionary<string, string> metadata,
        Dictionary<string, (long Begin, long End)> offsets, long dataStart)
    {
        Json = json;
        Entries = entries;
        Metadata = metadata;
        this.offsets = offsets;
        DataStart = dataStart;
    }

    public string Json { get; }

    /// <summary>The tensors in header order.</summary>
    public IReadOnlyList<TensorEntry> Entries { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Where the data starts in the file (8 + the header length).</summary>
    public long DataStart { get; }

    public static SafetensorsIndex Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Read(stream, path);
    }

    public static SafetensorsIndex Read(Stream stream, string path)
    {
        var fileLength = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (fileLength < 8 || stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
            throw Malformed(path, $"the file has {fileLength} bytes, fewer than the 8-byte header length");
        var headerLength = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes)
            throw Malformed(path, $"the header length is {headerLength} bytes, above the limit of {MaxHeaderBytes}");
        if ((long)headerLength > fileLength - 8)
            throw Malformed(path, $"the header length is {headerLength} bytes, but only {fileLength - 8} bytes follow (truncated file?)");

        var bytes = new byte[(int)headerLength];
        stream.ReadExactly(bytes);
        string json;
        try
        {
            json = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Malformed(path, "the header is not valid UTF-8");
        }
        var dataLength = fileLength - 8 - (long)headerLength;
        return Parse(json, dataLength, path, 8 + (long)headerLength);
    }

    /// <summary>Parses a header JSON; <paramref name="dataLength"/> (when known) must be exactly what the offsets cover.</summary>
    public static SafetensorsIndex Parse(string json, long? dataLength, string path, long dataStart = 0)
    {
        var entries = new List<TensorEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var offsets = new Dictionary<string, (long Begin, long End)>(StringComparer.Ordinal);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw Malformed(path, "the header is not valid JSON: " + Names.Escape(e.Message));
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Malformed(path, $"the header is a JSON {root.ValueKind.ToString().ToLowerInvariant()}, not an object");
            RequireUniqueKeys(root, path);
            foreach (var property in root.EnumerateObject())
            {
                var name = Text(property, path);
                if (name == "__metadata__")
                {
                    if (property.Value.ValueKind != JsonValueKind.Object)
                        throw Malformed(path, "'__metadata__' is not an object of strings");
                    foreach (var item in property.Value.EnumerateObject())
                    {
                        var key = Text(item, path);
                        if (item.Value.ValueKind != JsonValueKind.String)
                            throw Malformed(path, $"'__metadata__.{Names.Escape(key)}' is not a string");
                        metadata[key] = String(item.Value, path);
                    }
                    continue;
                }
                var (entry, begin, end) = Entry(name, property.Value, path);
                entries.Add(entry);
                offsets[name] = (begin, end);
            }
        }

        // Contiguous, non-overlapping offsets that cover the data exactly.
        var byBegin = entries.Select(e => (e.Name, offsets[e.Name].Begin, offsets[e.Name].End))
            .OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long expected = 0;
        foreach (var (name, begin, end) in byBegin)
        {
            if (begin != expected)
            {
                throw Malformed(path, begin < expected
                    ? $"the data of '{Names.Escape(name)}' (bytes {begin}..{end}) overlaps the tensor before it, which ends at {expected}"
                    : $"the data of '{Names.Escape(name)}' starts at byte {begin}, leaving a gap after byte {expected}");
            }
            expected = end;
        }
        if (dataLength is { } available && expected != available)
        {
            throw Malformed(path, expected > available
                ? $"the tensors need {expected} bytes of data, but the file has {available} (truncated file?)"
                : $"the tensors cover {expected} bytes of data, but the file has {available}: {available - expected} trailing bytes that no tensor owns");
        }
        return new SafetensorsIndex(json, entries, metadata, offsets, dataStart);
    }

    // No object in the header may repeat a key (the reference implementation refuses duplicates).
    private static void RequireUniqueKeys(JsonElement root, string path)
    {
        var pending = new Stack<JsonElement>();
        pending.Push(root);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (pending.Count > 0)
        {
            var element = pending.Pop();
            if (element.ValueKind == JsonValueKind.Object)
            {
                seen.Clear();
                foreach (var property in element.EnumerateObject())
                {
                    var name = Text(property, path);
                    if (!seen.Add(name)) throw Malformed(path, $"the key '{Names.Escape(name)}' appears twice in one object");
                    if (property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array) pending.Push(property.Value);
                }
            }
            else if (element.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in element.EnumerateArray())
                {
                    if (item.ValueKind is JsonValueKind.Object or JsonValueKind.Array) pending.Push(item);
                }
            }
        }
    }

    private static string Text(JsonProperty property, string path)
    {
        try { return property.Name; }
        catch (InvalidOperationException) { throw Malformed(path, "a name holds an invalid \\u escape (a lone surrogate), which is not valid Unicode"); }
    }

    private static string String(JsonElement element, string path)
    {
        try { return element.GetString()!; }
        catch (InvalidOperationException) { throw Malformed(path, "a string holds an invalid \\u escape (a lone surrogate), which is not valid Unicode"); }
    }

    private static (TensorEntry Entry, long Begin, long End) Entry(string name, JsonElement value, string path)
    {
        var shown = Names.Escape(name);
        if (value.ValueKind != JsonValueKind.Object)
            throw Malformed(path, $"the entry '{shown}' is not an object with dtype, shape and data_offsets");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Malformed(path, $"the entry '{shown}' has no string 'dtype'");
        var dtype = String(dtypeElement, path);
        var elementSize = DTypes.ElementSize(dtype);
        if (elementSize == 0)
            throw Malformed(path, $"the entry '{shown}' has the unknown dtype '{Names.Escape(dtype)}'");
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Malformed(path, $"the entry '{shown}' has no array 'shape'");
        var shape = new long[shapeElement.GetArrayLength()];
        var i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var size) || size < 0)
                throw Malformed(path, $"the entry '{shown}' has a shape element that is not a non-negative integer: {Names.Escape(d.GetRawText())}");
            shape[i++] = size;
        }
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw Malformed(path, $"the entry '{shown}' has no 'data_offsets' [begin, end]");
        if (!offsets[0].TryGetInt64(out var begin) || !offsets[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw Malformed(path, $"the entry '{shown}' has invalid data_offsets {Names.Escape(offsets.GetRawText())}");
        long bytes;
        try
        {
            long count = 1;
            foreach (var d in shape) count = checked(count * d);
            bytes = checked(count * elementSize);
        }
        catch (OverflowException)
        {
            throw Malformed(path, $"the entry '{shown}' has the shape {Shapes.Format(shape)}, whose size overflows 64 bits");
        }
        if (bytes != end - begin)
            throw Malformed(path, $"the entry '{shown}' ({dtype} {Shapes.Format(shape)}) needs {bytes} bytes, but its data_offsets span {end - begin}");
        return (new TensorEntry(name, dtype, shape), begin, end);
    }

    /// <summary>Reads one tensor's bytes from <paramref name="stream"/> (the same file) into a new CPU tensor.</summary>
    public Tensor ReadTensor(Stream stream, TensorEntry entry, string path)
    {
        var dtype = DTypes.FromName(entry.DType)
            ?? throw new InvalidDataException($"'{path}' stores '{Names.Escape(entry.Name)}' as {entry.DType}, an element type TorchSharp cannot read.");
        var (begin, end) = offsets[entry.Name];
        var tensor = empty(entry.Shape, dtype);
        if (end > begin)
        {
            var bytes = new byte[end - begin];
            stream.Position = DataStart + begin;
            try { stream.ReadExactly(bytes); }
            catch (EndOfStreamException) { tensor.Dispose(); throw Malformed(path, $"the file ends inside the data of '{Names.Escape(entry.Name)}' (truncated while reading?)"); }
            tensor.bytes = bytes;
        }
        return tensor;
    }

    private static InvalidDataException Malformed(string path, string reason) =>
        new($"'{path}' is not a valid safetensors file: {reason}.");
}
