using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.FrontEnd;

/// <summary>One tensor listed in a safetensors header.</summary>
/// <param name="Name">The tensor's name, e.g. <c>blocks.0.attn.qkv.weight</c>.</param>
/// <param name="DType">The element type as written: <c>F32</c>, <c>F16</c>, <c>BF16</c>, <c>I64</c>, ...</param>
/// <param name="Shape">The shape (empty for a scalar).</param>
/// <param name="Begin">Start of the tensor's bytes, relative to the end of the header.</param>
/// <param name="End">End (exclusive) of the tensor's bytes.</param>
public sealed record SafetensorsEntry(string Name, string DType, EquatableArray<long> Shape, long Begin, long End)
{
    /// <summary>The shape as an array.</summary>
    public long[] ShapeArray()
    {
        var shape = new long[Shape.Count];
        for (var i = 0; i < shape.Length; i++) shape[i] = Shape[i];
        return shape;
    }

    public override string ToString() => $"{Name} {ParameterTable.Format(ShapeArray())} {DType}";
}

/// <summary>
/// The header of a safetensors file: an 8-byte little-endian unsigned length <c>N</c>, then <c>N</c> bytes of
/// UTF-8 JSON — an object mapping each tensor name to <c>{"dtype", "shape", "data_offsets"}</c>, plus an optional
/// <c>"__metadata__"</c> object of strings — then the tensor bytes. Reads only the header, with no dependency
/// beyond the BCL of netstandard2.0 (a small JSON reader of its own), so analyzers can use it.
/// </summary>
/// <remarks>
/// An analyzer cannot read a binary <c>AdditionalFiles</c> item: <c>AdditionalText.GetText()</c> decodes it as
/// text, and for a real safetensors file (invalid UTF-8 in the tensor bytes, then two NULs in the length prefix)
/// the compiler gives up, returns null and reports error CS2015 ("is a binary file instead of a text file"),
/// which fails the build. Give the analyzer the header as text instead (a <c>.safetensors.json</c> file holding
/// the JSON, which a build step can extract); <see cref="FromText"/> reads that, and also recovers the JSON from
/// a whole file decoded as UTF-8 or Latin-1. See docs/weights.md.
/// </remarks>
public sealed class SafetensorsHeader
{
    /// <summary>The reference implementation's limit on the JSON size (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const int MaxDepth = 64;

    private readonly Dictionary<string, SafetensorsEntry> byName;

    private SafetensorsHeader(List<SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Entries = entries;
        Metadata = metadata;
        byName = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        foreach (var entry in entries) byName[entry.Name] = entry;
    }

    /// <summary>The tensors in header order (<c>__metadata__</c> excluded).</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    /// <summary>The <c>__metadata__</c> strings (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor named <paramref name="name"/>, or null.</summary>
    public SafetensorsEntry? Find(string name) => byName.TryGetValue(name, out var entry) ? entry : null;

    /// <summary>
    /// Reads the header from the start of a safetensors file: the whole file, or at least its first
    /// <c>8 + N</c> bytes.
    /// </summary>
    /// <exception cref="FormatException">The bytes are not a safetensors header; the message says why.</exception>
    public static SafetensorsHeader Read(byte[] bytes) =>
        TryRead(bytes, out var header, out var error) ? header! : throw new FormatException(error);

    /// <summary>Reads the header from a stream positioned at the start of a safetensors file; reads only the header bytes.</summary>
    /// <exception cref="FormatException">The stream does not start with a safetensors header.</exception>
    public static SafetensorsHeader Read(Stream stream) =>
        TryRead(stream, out var header, out var error) ? header! : throw new FormatException(error);

    /// <summary>Parses a header's JSON text, or a whole file decoded as text (see <see cref="FromText"/>).</summary>
    /// <exception cref="FormatException">Not a safetensors header; the message says why.</exception>
    public static SafetensorsHeader Parse(string text) =>
        TryParse(text, out var header, out var error) ? header! : throw new FormatException(error);

    /// <inheritdoc cref="Read(byte[])"/>
    public static bool TryRead(byte[] bytes, out SafetensorsHeader? header, out string? error)
    {
        header = null;
        if (bytes is null) { error = "No bytes were given."; return false; }
        if (bytes.Length < 8) { error = $"The data has {bytes.Length} bytes, fewer than the 8-byte header length."; return false; }
        var length = ReadLength(bytes);
        if (!CheckLength(length, bytes.Length - 8L, out error)) return false;
        // The whole file: its data must be exactly what the offsets cover. Only the header: offsets checked among themselves.
        long? dataLength = bytes.Length == 8 + (long)length ? null : bytes.Length - 8 - (long)length;
        return TryDecodeAndParse(bytes, 8, (int)length, dataLength, out header, out error);
    }

    /// <inheritdoc cref="Read(Stream)"/>
    public static bool TryRead(Stream stream, out SafetensorsHeader? header, out string? error)
    {
        header = null;
        if (stream is null) { error = "No stream was given."; return false; }
        var prefix = new byte[8];
        if (ReadFully(stream, prefix, 8) < 8) { error = "The stream ends before the 8-byte header length."; return false; }
        var length = ReadLength(prefix);
        long? available = null;
        if (stream.CanSeek)
        {
            try { available = stream.Length - stream.Position; } catch (NotSupportedException) { }
        }
        if (!CheckLength(length, available ?? long.MaxValue, out error)) return false;
        var json = new byte[(int)length];
        var read = ReadFully(stream, json, json.Length);
        if (read < json.Length)
        {
            error = $"The header length is {length} bytes, but the stream ends after {read}.";
            return false;
        }
        return TryDecodeAndParse(json, 0, json.Length, available - (long)length, out header, out error);
    }

    /// <summary>
    /// Parses text that holds a safetensors header: either the header's JSON itself (what a
    /// <c>.safetensors.json</c> sidecar file holds; leading BOM and whitespace allowed), or a whole safetensors
    /// file decoded as text. In the second case the length prefix decodes to a few characters of its own; the
    /// JSON (ASCII, or UTF-8) survives decoding as UTF-8 or Latin-1 and is found as the first <c>{</c> within the
    /// first 16 characters that starts a well-formed header object. When the prefix decoded one character per
    /// byte, its length is checked against the JSON's.
    /// </summary>
    public static bool TryParse(string text, out SafetensorsHeader? header, out string? error) => FromText(text, out header, out error);

    /// <inheritdoc cref="TryParse"/>
    public static bool FromText(string text, out SafetensorsHeader? header, out string? error)
    {
        header = null;
        if (text is null) { error = "No text was given."; return false; }
        var start = 0;
        while (start < text.Length && (text[start] == '\uFEFF' || IsWhitespace(text[start]))) start++;
        if (start < text.Length && (text[start] == '{' || text[start] == '['))
            return TryParseJson(text, start, requireEnd: true, out header, out _, out error);

        // A whole file decoded as text: the 8-byte length became up to 8 characters before the '{'.
        string? firstError = null;
        for (var i = 0; i < text.Length && i < 16; i++)
        {
            if (text[i] != '{') continue;
            if (!TryParseJson(text, i, requireEnd: false, out var candidate, out var end, out var candidateError))
            {
                firstError ??= candidateError;
                continue;
            }
            if (i == 8 && AllSingleByte(text, 0, 8))
            {
                // The prefix decoded one character per byte (Latin-1, or UTF-8 of bytes below 0x80): check it.
                var prefix = new byte[8];
                for (var k = 0; k < 8; k++) prefix[k] = (byte)text[k];
                var length = (long)ReadLength(prefix);
                var json = text.Substring(8, end - 8);
                var asLatin1 = AllSingleByte(json, 0, json.Length) ? json.Length : -1;      // bytes if decoded as Latin-1
                var asUtf8 = Encoding.UTF8.GetByteCount(json);                                // bytes if decoded as UTF-8
                if (PaddedTo(text, end, end + length - asUtf8))
                {
                    // Decoded as UTF-8 (or plain ASCII): the names are right as they are.
                }
                else if (asLatin1 >= 0 && PaddedTo(text, end, end + length - asLatin1))
                {
                    // Decoded as Latin-1: names written in UTF-8 came out as one character per byte; decode them again.
                    if (TryUtf8(Latin1Bytes(json, 0, json.Length), out var utf8) && utf8 != json
                        && TryParseJson(utf8!, 0, requireEnd: true, out var reparsed, out _, out _))
                        candidate = reparsed;
                }
                else
                {
                    error = $"The length prefix says the header has {length} bytes, but the JSON found at character 8 has {asUtf8}.";
                    return false;
                }
            }
            header = candidate;
            error = null;
            return true;
        }
        error = firstError ?? "The text is neither a safetensors header's JSON (starting with '{') nor a safetensors file decoded as text.";
        return false;
    }

    private static bool CheckLength(ulong length, long available, out string? error)
    {
        if (length > MaxHeaderBytes)
        {
            error = $"The header length is {length} bytes, above the limit of {MaxHeaderBytes} (not a safetensors file?).";
            return false;
        }
        if ((long)length > available)
        {
            error = $"The header length is {length} bytes, but only {available} bytes follow.";
            return false;
        }
        if (length < 2)
        {
            error = $"The header length is {length} bytes; a header is at least '{{}}'.";
            return false;
        }
        error = null;
        return true;
    }

    private static bool TryDecodeAndParse(byte[] bytes, int offset, int count, long? dataLength, out SafetensorsHeader? header, out string? error)
    {
        header = null;
        string json;
        try
        {
            json = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, offset, count);
        }
        catch (DecoderFallbackException)
        {
            error = "The header is not valid UTF-8.";
            return false;
        }
        if (json.Length == 0 || json[0] != '{')
        {
            error = $"The header does not start with '{{' but with {Describe(json, 0)}.";
            return false;
        }
        return TryParseJson(json, 0, requireEnd: true, dataLength, out header, out _, out error);
    }

    /// <summary>
    /// Parses a header's JSON text (leading BOM and whitespace allowed) whose file has <paramref name="dataLength"/>
    /// bytes of tensor data after the header (when known): the offsets must cover exactly that.
    /// </summary>
    public static bool TryParseJson(string text, long? dataLength, out SafetensorsHeader? header, out string? error)
    {
        header = null;
        if (text is null) { error = "No text was given."; return false; }
        var start = 0;
        while (start < text.Length && (text[start] == '\uFEFF' || IsWhitespace(text[start]))) start++;
        return TryParseJson(text, start, requireEnd: true, dataLength, out header, out _, out error);
    }

    private static bool TryParseJson(string text, int start, bool requireEnd, out SafetensorsHeader? header, out int end, out string? error) =>
        TryParseJson(text, start, requireEnd, null, out header, out end, out error);

    // Parses the header object directly into entries (names, dtypes, shapes, offsets): no tree of the whole
    // JSON, and values of other fields are skipped. Every object, at any level, is checked for repeated keys.
    private static bool TryParseJson(string text, int start, bool requireEnd, long? dataLength, out SafetensorsHeader? header, out int end, out string? error)
    {
        header = null;
        var reader = new JsonReader(text, start);
        var entries = new List<SafetensorsEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            reader.SkipWhitespace();
            if (reader.Peek() != '{')
            {
                end = start;
                error = "The header is not a JSON object.";
                return false;
            }
            reader.ReadObjectMembers(0, (name, r) =>
            {
                if (name == "__metadata__") ReadMetadata(r, metadata);
                else entries.Add(ReadEntry(name, r));
            });
            end = reader.Position;
            if (requireEnd)
            {
                reader.SkipWhitespace();
                if (reader.Position < text.Length && text[reader.Position] != '\0')
                    throw reader.Error($"unexpected {Describe(text, reader.Position)} after the header object");
            }
        }
        catch (HeaderException e)
        {
            end = start;
            error = e.Message;
            return false;
        }
        catch (FormatException e)
        {
            end = start;
            error = "The header is not valid JSON: " + e.Message;
            return false;
        }
        if (!CheckOffsets(entries, dataLength, out error)) return false;
        header = new SafetensorsHeader(entries, metadata);
        return true;
    }

    private static void ReadMetadata(JsonReader reader, Dictionary<string, string> metadata)
    {
        reader.SkipWhitespace();
        if (reader.Peek() != '{') { reader.SkipValue(1); throw new HeaderException("'__metadata__' is not an object of strings."); }
        reader.ReadObjectMembers(1, (key, r) =>
        {
            r.SkipWhitespace();
            if (r.Peek() != '"') throw new HeaderException($"'__metadata__.{Escape(key)}' is not a string.");
            metadata[key] = r.ReadString();
        });
    }

    private static SafetensorsEntry ReadEntry(string name, JsonReader reader)
    {
        reader.SkipWhitespace();
        if (reader.Peek() != '{') throw new HeaderException($"The entry '{Escape(name)}' is not an object with dtype, shape and data_offsets.");
        string? dtype = null;
        List<string>? shapeValues = null, offsetValues = null;
        var dtypeIsString = true;
        reader.ReadObjectMembers(1, (field, r) =>
        {
            switch (field)
            {
                case "dtype":
                    r.SkipWhitespace();
                    if (r.Peek() == '"') dtype = r.ReadString();
                    else { dtypeIsString = false; r.SkipValue(2); }
                    break;
                case "shape": shapeValues = r.ReadNumberArray(2); break;
                case "data_offsets": offsetValues = r.ReadNumberArray(2); break;
                default: r.SkipValue(2); break;
            }
        });
        var shown = Escape(name);
        if (dtype is null || !dtypeIsString) throw new HeaderException($"The entry '{shown}' has no string 'dtype'.");
        var size = ElementSize(dtype);
        if (size == 0) throw new HeaderException($"The entry '{shown}' has the unknown dtype '{Escape(dtype)}'.");
        if (shapeValues is null) throw new HeaderException($"The entry '{shown}' has no array 'shape'.");
        var shape = new long[shapeValues.Count];
        for (var i = 0; i < shape.Length; i++)
        {
            if (!TryNonNegative(shapeValues[i], out shape[i]))
                throw new HeaderException($"The entry '{shown}' has a shape element that is not a non-negative integer: {Escape(shapeValues[i] ?? "null")}.");
        }
        if (offsetValues is not { Count: 2 } || !TryNonNegative(offsetValues[0], out var begin) || !TryNonNegative(offsetValues[1], out var endOffset) || endOffset < begin)
            throw new HeaderException($"The entry '{shown}' has no valid 'data_offsets' [begin, end].");
        long count = 1;
        try
        {
            foreach (var d in shape) count = checked(count * d);
            if (checked(count * size) != endOffset - begin)
                throw new HeaderException($"The entry '{shown}' ({dtype} {ParameterTable.Format(shape)}) needs {count * size} bytes, but its data_offsets span {endOffset - begin}.");
        }
        catch (OverflowException)
        {
            throw new HeaderException($"The entry '{shown}' has a shape too large to address: {ParameterTable.Format(shape)}.");
        }
        return new SafetensorsEntry(name, dtype, new EquatableArray<long>(shape), begin, endOffset);
    }

    // As the reference implementation: sorted by offset, each tensor starts where the previous one ends, the
    // first at 0, and (when the data's length is known) the last ends exactly at the end of the data.
    private static bool CheckOffsets(List<SafetensorsEntry> entries, long? dataLength, out string? error)
    {
        var order = new SafetensorsEntry[entries.Count];
        entries.CopyTo(order);
        Array.Sort(order, (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        foreach (var entry in order)
        {
            if (entry.Begin != expected)
            {
                error = entry.Begin < expected
                    ? $"The data of '{Escape(entry.Name)}' (bytes {entry.Begin}..{entry.End}) overlaps the tensor before it, which ends at {expected}."
                    : $"The data of '{Escape(entry.Name)}' starts at byte {entry.Begin}, leaving a gap after byte {expected}.";
                return false;
            }
            expected = entry.End;
        }
        if (dataLength is { } available && expected != available)
        {
            error = expected > available
                ? $"The tensors need {expected} bytes of data, but the file has {available} (truncated file?)."
                : $"The tensors cover {expected} bytes of data, but the file has {available}: {available - expected} trailing bytes that no tensor owns.";
            return false;
        }
        error = null;
        return true;
    }

    /// <summary>A name from a file, safe for a message: control and format characters escaped, at most 200 characters.</summary>
    public static string Escape(string text)
    {
        var builder = new StringBuilder();
        var shown = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (shown >= 200)
            {
                builder.Append("... (").Append(text.Length.ToString(CultureInfo.InvariantCulture)).Append(" characters)");
                break;
            }
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(c).Append(text[i + 1]);
                i++;
            }
            else if (char.IsSurrogate(c) || char.IsControl(c)
                || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
                builder.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            else
                builder.Append(c);
            shown++;
        }
        return builder.ToString();
    }

    /// <summary>A semantic error in a well-formed header (the message is complete).</summary>
    private sealed class HeaderException(string message) : Exception(message);

    /// <summary>Bytes per element of a safetensors dtype; 0 when unknown (sub-byte or newer types: not size-checked).</summary>
    public static int ElementSize(string dtype) => dtype switch
    {
        "BOOL" or "U8" or "I8" or "F8_E5M2" or "F8_E4M3" or "F8_E8M0" => 1,
        "I16" or "U16" or "F16" or "BF16" => 2,
        "I32" or "U32" or "F32" => 4,
        "I64" or "U64" or "F64" or "C64" => 8,
        _ => 0,
    };

    private static bool TryNonNegative(string? value, out long result)
    {
        result = 0;
        return value is not null && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out result);
    }

    private static ulong ReadLength(byte[] bytes)
    {
        ulong length = 0;
        for (var i = 7; i >= 0; i--) length = (length << 8) | bytes[i];
        return length;
    }

    private static int ReadFully(Stream stream, byte[] buffer, int count)
    {
        var total = 0;
        while (total < count)
        {
            var read = stream.Read(buffer, total, count - total);
            if (read == 0) break;
            total += read;
        }
        return total;
    }

    // The header's JSON ends at 'end' and the safetensors writer pads it with spaces up to 'target'.
    private static bool PaddedTo(string text, int end, long target)
    {
        if (target < end || target > text.Length || target - end > 8) return false;
        for (var i = end; i < target; i++)
        {
            if (text[i] != ' ') return false;
        }
        return true;
    }

    private static bool AllSingleByte(string text, int start, int end)
    {
        for (var i = start; i < end; i++)
        {
            if (text[i] > '\u00FF') return false;
        }
        return true;
    }

    private static byte[] Latin1Bytes(string text, int start, int count)
    {
        var bytes = new byte[count];
        for (var i = 0; i < count; i++) bytes[i] = (byte)text[start + i];
        return bytes;
    }

    private static bool TryUtf8(byte[] bytes, out string? text)
    {
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            text = null;
            return false;
        }
    }

    private static bool IsWhitespace(char c) => c is ' ' or '\t' or '\r' or '\n';

    private static string Describe(string text, int position) =>
        position >= text.Length ? "end of the text"
        : text[position] < ' ' || text[position] > '~' ? $"character U+{(int)text[position]:X4} at {position}"
        : $"'{text[position]}' at {position}";

    /// <summary>
    /// A strict JSON reader (RFC 8259): objects become ordered lists of members, arrays lists, strings strings,
    /// numbers their text, and true/false/null their values. Errors carry the character position.
    /// </summary>
    private sealed class JsonReader(string text, int position)
    {
        public int Position { get; private set; } = position;

        public FormatException Error(string message) => new($"{message} (at character {Position}).");

        public void SkipWhitespace()
        {
            while (Position < text.Length && IsWhitespace(text[Position])) Position++;
        }

        /// <summary>Reads an object, calling <paramref name="member"/> for each member's value; repeated keys are an error.</summary>
        public void ReadObjectMembers(int depth, Action<string, JsonReader> member)
        {
            if (depth > MaxDepth) throw Error($"nesting deeper than {MaxDepth}");
            var keys = new HashSet<string>(StringComparer.Ordinal);
            Position++; // {
            SkipWhitespace();
            if (Peek() == '}') { Position++; return; }
            while (true)
            {
                SkipWhitespace();
                if (Peek() != '"') throw Error($"unexpected {Describe(text, Position)}, a member name in quotes was expected");
                var name = ReadString();
                if (!keys.Add(name))
                    throw new HeaderException(depth == 0 ? $"The name '{Escape(name)}' appears twice." : $"The key '{Escape(name)}' appears twice in one object.");
                SkipWhitespace();
                if (Peek() != ':') throw Error($"unexpected {Describe(text, Position)}, ':' was expected after \"{Escape(name)}\"");
                Position++;
                member(name, this);
                SkipWhitespace();
                var next = Peek();
                Position++;
                if (next == ',') continue;
                if (next == '}') return;
                Position--;
                throw Error($"unexpected {Describe(text, Position)}, ',' or '}}' was expected");
            }
        }

        /// <summary>An array of numbers, as their text (null items for anything else); other values are an error.</summary>
        public List<string>? ReadNumberArray(int depth)
        {
            SkipWhitespace();
            if (Peek() != '[') { SkipValue(depth); return null; }
            var items = new List<string>();
            Position++; // [
            SkipWhitespace();
            if (Peek() == ']') { Position++; return items; }
            while (true)
            {
                SkipWhitespace();
                var c = Peek();
                if (c == '-' || (c >= '0' && c <= '9')) items.Add(ReadNumber());
                else
                {
                    var start = Position;
                    SkipValue(depth + 1);
                    items.Add(text.Substring(start, Math.Min(Position - start, 40)));
                }
                SkipWhitespace();
                var next = Peek();
                Position++;
                if (next == ',') continue;
                if (next == ']') return items;
                Position--;
                throw Error($"unexpected {Describe(text, Position)}, ',' or ']' was expected");
            }
        }

        /// <summary>Checks and skips one value (objects still may not repeat a key).</summary>
        public void SkipValue(int depth)
        {
            if (depth > MaxDepth) throw Error($"nesting deeper than {MaxDepth}");
            SkipWhitespace();
            if (Position >= text.Length) throw Error("unexpected end of the text, a value was expected");
            var c = text[Position];
            switch (c)
            {
                case '{': ReadObjectMembers(depth, (_, r) => r.SkipValue(depth + 1)); return;
                case '[':
                    Position++;
                    SkipWhitespace();
                    if (Peek() == ']') { Position++; return; }
                    while (true)
                    {
                        SkipValue(depth + 1);
                        SkipWhitespace();
                        var next = Peek();
                        Position++;
                        if (next == ',') continue;
                        if (next == ']') return;
                        Position--;
                        throw Error($"unexpected {Describe(text, Position)}, ',' or ']' was expected");
                    }
                case '"': ReadString(); return;
                case 't': Expect("true"); return;
                case 'f': Expect("false"); return;
                case 'n': Expect("null"); return;
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) { ReadNumber(); return; }
                    throw Error($"unexpected {Describe(text, Position)}, a value was expected");
            }
        }

        public string ReadString()
        {
            Position++; // opening quote
            var builder = new StringBuilder();
            while (true)
            {
                if (Position >= text.Length) throw Error("unterminated string");
                var c = text[Position++];
                if (c == '"') return builder.ToString();
                if (c < ' ') { Position--; throw Error($"control character U+{(int)c:X4} inside a string"); }
                if (c != '\\') { builder.Append(c); continue; }
                if (Position >= text.Length) throw Error("unterminated escape");
                var e = text[Position++];
                switch (e)
                {
                    case '"': builder.Append('"'); break;
                    case '\\': builder.Append('\\'); break;
                    case '/': builder.Append('/'); break;
                    case 'b': builder.Append('\b'); break;
                    case 'f': builder.Append('\f'); break;
                    case 'n': builder.Append('\n'); break;
                    case 'r': builder.Append('\r'); break;
                    case 't': builder.Append('\t'); break;
                    case 'u':
                        if (Position + 4 > text.Length || !int.TryParse(text.Substring(Position, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
                            throw Error("invalid \\u escape");
                        Position += 4;
                        if (code is >= 0xD800 and <= 0xDBFF)
                        {
                            // A high surrogate must be followed by an escaped low one (as the reference's JSON reader requires).
                            if (Position + 6 > text.Length || text[Position] != '\\' || text[Position + 1] != 'u'
                                || !int.TryParse(text.Substring(Position + 2, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var low)
                                || low is < 0xDC00 or > 0xDFFF)
                                throw Error("a lone surrogate in a \\u escape (not valid Unicode)");
                            builder.Append((char)code).Append((char)low);
                            Position += 6;
                        }
                        else if (code is >= 0xDC00 and <= 0xDFFF)
                            throw Error("a lone surrogate in a \\u escape (not valid Unicode)");
                        else
                            builder.Append((char)code);
                        break;
                    default:
                        Position--;
                        throw Error($"invalid escape '\\{e}'");
                }
            }
        }

        private string ReadNumber()
        {
            var start = Position;
            if (Peek() == '-') Position++;
            if (Peek() == '0') Position++;
            else if (Peek() is >= '1' and <= '9') { while (Peek() is >= '0' and <= '9') Position++; }
            else throw Error("invalid number");
            if (Peek() == '.')
            {
                Position++;
                if (Peek() is not (>= '0' and <= '9')) throw Error("invalid number: digits expected after '.'");
                while (Peek() is >= '0' and <= '9') Position++;
            }
            if (Peek() is 'e' or 'E')
            {
                Position++;
                if (Peek() is '+' or '-') Position++;
                if (Peek() is not (>= '0' and <= '9')) throw Error("invalid number: digits expected in the exponent");
                while (Peek() is >= '0' and <= '9') Position++;
            }
            return text.Substring(start, Position - start);
        }

        private void Expect(string word)
        {
            if (string.CompareOrdinal(text, Position, word, 0, word.Length) != 0)
                throw Error($"unexpected {Describe(text, Position)}, '{word}' was expected");
            Position += word.Length;
        }

        public char Peek() => Position < text.Length ? text[Position] : '\0';
    }
}
