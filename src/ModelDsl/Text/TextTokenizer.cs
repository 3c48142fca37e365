using System;
using System.Collections.Generic;

namespace ModelDsl.Text;

/// <summary>Text to token ids and back, for a language model whose vocabulary is <see cref="VocabSize"/> ids.</summary>
public interface ITextTokenizer
{
    /// <summary>The number of ids (the model's <c>Vocab</c>): every id <see cref="Encode"/> returns is below it.</summary>
    int VocabSize { get; }

    /// <summary>The id that ends a document (GPT-2's <c>&lt;|endoftext|&gt;</c>), a natural stop token for generation.</summary>
    long EndOfText { get; }

    /// <summary>The ids of <paramref name="text"/>.</summary>
    IReadOnlyList<long> Encode(string text);

    /// <summary>The text of <paramref name="ids"/>; <c>Decode(Encode(text)) == text</c> for every string.</summary>
    string Decode(IEnumerable<long> ids);
}
