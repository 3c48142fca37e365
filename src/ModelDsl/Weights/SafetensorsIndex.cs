using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json;

namespace ModelDsl.Weights;

/// <summary>The header of a safetensors file, read and checked without touching the tensor data.</summary>
internal sealed class SafetensorsIndex
{
    /// <summary>The reference implementation's limit on the header size (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private SafetensorsIndex(string json, List<TensorEntry> entries, Dictionary<string, string> metadata)
    {
        Json = json;
        Entries = entries;
        Metadata = metadata;
    }

    public string Json { get; }

    /// <summary>The tensors in header order.</summary>
    public IReadOnlyList<TensorEntry> Entries { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

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
        var headerLength = BitConverter.ToUInt64(prefix);
        if (!BitConverter.IsLittleEndian)
            headerLength = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(headerLength);
        if (headerLength > MaxHeaderBytes)
            throw Malformed(path, $"the header length is {headerLength} bytes, above the limit of {MaxHeaderBytes}");
        if ((long)headerLength > fileLength - 8)
            throw Malformed(path, $"the header length is {headerLength} bytes, but only {fileLength - 8} bytes follow");

        var bytes = new byte[(int)headerLength];
        stream.ReadExactly(bytes);
        string json;
        try
        {
            json = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw Malformed(path, "the header is not valid UTF-8: " + e.Message);
        }
        var dataLength = fileLength - 8 - (long)headerLength;
        return Parse(json, dataLength, path);
    }

    /// <summary>Parses a header JSON; <paramref name="dataLength"/> (when known) bounds the data offsets.</summary>
    public static SafetensorsIndex Parse(string json, long? dataLength, string path)
    {
        var entries = new List<TensorEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw Malformed(path, "the header is not valid JSON: " + e.Message);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Malformed(path, $"the header is a JSON {root.ValueKind.ToString().ToLowerInvariant()}, not an object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw Malformed(path, $"the name '{property.Name}' appears twice");
                if (property.Name == "__metadata__")
                {
                    if (property.Value.ValueKind != JsonValueKind.Object)
                        throw Malformed(path, "'__metadata__' is not an object of strings");
                    foreach (var item in property.Value.EnumerateObject())
                    {
                        if (item.Value.ValueKind != JsonValueKind.String)
                            throw Malformed(path, $"'__metadata__.{item.Name}' is not a string");
                        metadata[item.Name] = item.Value.GetString()!;
                    }
                    continue;
                }
                entries.Add(Entry(property, dataLength, path));
            }
        }
        return new SafetensorsIndex(json, entries, metadata);
    }

    private static TensorEntry Entry(JsonProperty property, long? dataLength, string path)
    {
        var name = property.Name;
        var value = property.Value;
        if (value.ValueKind != JsonValueKind.Object)
            throw Malformed(path, $"the entry '{name}' is not an object with dtype, shape and data_offsets");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Malformed(path, $"the entry '{name}' has no string 'dtype'");
        var dtype = dtypeElement.GetString()!;
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Malformed(path, $"the entry '{name}' has no array 'shape'");
        var shape = new long[shapeElement.GetArrayLength()];
        var i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var size) || size < 0)
                throw Malformed(path, $"the entry '{name}' has a shape element that is not a non-negative integer: {d.GetRawText()}");
            shape[i++] = size;
        }
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw Malformed(path, $"the entry '{name}' has no 'data_offsets' [begin, end]");
        if (!offsets[0].TryGetInt64(out var begin) || !offsets[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw Malformed(path, $"the entry '{name}' has invalid data_offsets {offsets.GetRawText()}");
        if (dataLength is { } available && end > available)
            throw Malformed(path, $"the entry '{name}' ends at byte {end} of the data, but the data has {available} bytes (truncated file?)");
        var elementSize = DTypes.ElementSize(dtype);
        if (elementSize > 0)
        {
            long count = 1;
            foreach (var d in shape) count = checked(count * d);
            if (checked(count * elementSize) != end - begin)
                throw Malformed(path, $"the entry '{name}' ({dtype} {Shapes.Format(shape)}) needs {count * elementSize} bytes, but its data_offsets span {end - begin}");
        }
        return new TensorEntry(name, dtype, shape);
    }

    private static InvalidDataException Malformed(string path, string reason) =>
        new($"'{path}' is not a valid safetensors file: {reason}.");
}
