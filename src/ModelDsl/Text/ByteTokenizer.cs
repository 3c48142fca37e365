using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace ModelDsl.Text;

/// <summary>
/// The simplest tokenizer for small examples: the UTF-8 bytes of the text are the ids 0..255, and id 256 ends a
/// document (<see cref="EndOfText"/>), so <see cref="VocabSize"/> is 257. Any text round-trips; no vocabulary file.
/// </summary>
public sealed class ByteTokenizer : ITextTokenizer
{
    /// <summary>The end-of-text id.</summary>
    public const long EndOfTextId = 256;

    public int VocabSize => 257;

    public long EndOfText => EndOfTextId;

    public IReadOnlyList<long> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Encoding.UTF8.GetBytes(text).Select(b => (long)b).ToArray();
    }

    /// <summary>The text of the byte ids; the end-of-text id is left out, and bytes that are not valid UTF-8 become U+FFFD.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside <c>[0, 257)</c>.</exception>
    public string Decode(IEnumerable<long> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (var id in ids) {
            if (id == EndOfTextId) continue;
            if (id < 0 || id > 255)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"ByteTokenizer: the id {id} is outside [0, 257).");
            bytes.Add((byte)id);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}
