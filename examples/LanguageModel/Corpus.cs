using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using ModelDsl.Text;
using static TorchSharp.torch;

namespace LanguageModelExample;

/// <summary>One verse of the King James Version.</summary>
public sealed record Verse(int Index, string Book, string Reference, string Text)
{
    /// <summary>Genesis..Malachi (the first 39 books) are the Old Testament.</summary>
    public bool OldTestament { get; init; }
}

/// <summary>
/// The corpus (embedded, 31,102 verses, 4.3 MB of text) and the tensors the experiment trains on. Every 20th verse is
/// held out: the pretraining validation text and the task's test verses come from those only.
/// </summary>
public static class Corpus
{
    public static readonly ByteTokenizer Tokenizer = new();

    public static IReadOnlyList<Verse> Load()
    {
        using var stream = typeof(Corpus).Assembly.GetManifestResourceStream("LanguageModelExample.kjv.tsv.gz")
            ?? throw new InvalidOperationException("The embedded corpus is missing.");
        using var reader = new StreamReader(new GZipStream(stream, CompressionMode.Decompress), Encoding.UTF8);
        var verses = new List<Verse>();
        var books = new List<string>();
        for (var line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            var parts = line.Split('\t');
            if (books.Count == 0 || books[^1] != parts[0]) books.Add(parts[0]);
            verses.Add(new Verse(verses.Count, parts[0], parts[1], parts[2]) { OldTestament = books.Count <= 39 });
        }
        return verses;
    }

    public static bool HeldOut(Verse verse) => verse.Index % 20 == 19;

    /// <summary>
    /// Windows of <paramref name="length"/> bytes from the verses' text joined by newlines, starting every
    /// <paramref name="stride"/> bytes: ids and labels (the same tensor: the loss shifts them).
    /// </summary>
    public static Tensor Windows(IEnumerable<Verse> verses, int length, int stride, int? limit = null)
    {
        var text = string.Join("\n", verses.Select(v => v.Text));
        var bytes = Tokenizer.Encode(text).ToArray();
        var starts = Enumerable.Range(0, Math.Max(0, (bytes.Length - length) / stride + 1)).Select(i => i * stride);
        if (limit is { } most) starts = starts.Take(most);
        var rows = starts.Select(s => bytes.AsSpan(s, length).ToArray()).ToList();
        return tensor(rows.SelectMany(r => r).ToArray(), new long[] { rows.Count, length });
    }

    /// <summary>The task's label bytes: 'O' (Old Testament) and 'N' (New).</summary>
    public const long Old = (byte)'O', New = (byte)'N';

    /// <summary>Bytes of the verse the task reads, then '|'; the label byte follows.</summary>
    public const int TaskTextBytes = 64;

    /// <summary>
    /// The testament task as next-byte prediction: the first 64 bytes of a verse, '|', then 'O' or 'N' (verses of at
    /// least 64 bytes; an equal number from each testament). Labels are -100 except at the label byte.
    /// </summary>
    public static (Tensor Ids, Tensor Labels) Task(IEnumerable<Verse> verses, int perTestament, Random random)
    {
        var chosen = new List<Verse>();
        foreach (var old in new[] { true, false })
        {
            var pool = verses.Where(v => v.OldTestament == old && Encoding.UTF8.GetByteCount(v.Text) >= TaskTextBytes).ToList();
            chosen.AddRange(pool.OrderBy(_ => random.Next()).Take(perTestament));
        }
        chosen = chosen.OrderBy(_ => random.Next()).ToList();
        var length = TaskTextBytes + 2;
        var ids = new long[chosen.Count * length];
        var labels = Enumerable.Repeat(ModelDsl.Blocks.CausalLmLoss.DefaultIgnoreIndex, chosen.Count * length).ToArray();
        for (var i = 0; i < chosen.Count; i++)
        {
            var text = Tokenizer.Encode(chosen[i].Text).Take(TaskTextBytes).Append((long)'|').Append(chosen[i].OldTestament ? Old : New).ToArray();
            Array.Copy(text, 0, ids, i * length, length);
            labels[i * length + length - 1] = text[^1];
        }
        return (tensor(ids, new long[] { chosen.Count, length }), tensor(labels, new long[] { chosen.Count, length }));
    }
}
