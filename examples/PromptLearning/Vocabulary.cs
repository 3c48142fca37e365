using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace PromptLearningExample;

/// <summary>
/// A tiny word-level vocabulary for captions of Fashion-MNIST: ids 0-2 are padding, start and
/// end; then the template words and the words of the ten class names; then, for the compositional
/// experiment, CSP's learned vocabulary (the three attribute words of the task and one object id
/// per class, ids <see cref="FirstCspToken"/> on) and the attribute words of the pretraining captions.
/// </summary>
public static class Vocabulary
{
    public const int Pad = 0;
    public const int Start = 1;
    public const int End = 2;
    public const int Size = 40;
    /// <summary>Tokens per caption: start, at most 6 words, end, padding.</summary>
    public const int Length = 8;

    /// <summary>Class names as words (Fashion-MNIST's names, lower case, "/" and "-" split).</summary>
    public static readonly string[][] ClassWords =
    [
        ["t", "shirt"], ["trouser"], ["pullover"], ["dress"], ["coat"],
        ["sandal"], ["shirt"], ["sneaker"], ["bag"], ["ankle", "boot"],
    ];

    /// <summary>The pretraining caption templates; the first is the hand-written prompt of zero-shot classification.</summary>
    public static readonly string[] Templates =
    [
        "a photo of a {}", "a picture of a {}", "an image of the {}", "a {}", "the {}", "a photo of the {}", "a small {}", "a good photo of {}",
    ];

    /// <summary>The hand-written prompt, which is also CoOp's context initialisation.</summary>
    public const string Prompt = "a photo of a";

    /// <summary>The attributes of the compositional experiment (CSP) as its task names them; no pretraining caption uses these words.</summary>
    public static readonly string[] AttributeWords = ["rotated", "inverted", "blurred"];

    /// <summary>The same attributes as the pretraining captions name them.</summary>
    public static readonly string[] CaptionAttributeWords = ["sideways", "negative", "blurry"];

    /// <summary>The template of compositional prompts (CSP's "a photo of {attribute} {object}"), short enough for 8 tokens.</summary>
    public const string PairPrompt = "a photo of";

    /// <summary>The first id CSP learns: attribute a is <c>FirstCspToken + a</c>, class c's object id is <c>FirstCspToken + 3 + c</c>.</summary>
    public const int FirstCspToken = 23;

    /// <summary>The ids CSP learns: the three attribute words, then one object id per class.</summary>
    public const int CspTokens = 13;

    private static readonly string[] Words =
        new[] { "<pad>", "<start>", "<end>" }
            .Concat(Templates.SelectMany(t => t.Split(' ')).Where(w => w != "{}"))
            .Concat(ClassWords.SelectMany(w => w))
            .Distinct()
            .Concat(AttributeWords)
            .Concat(ClassWords.Select(ObjectToken))
            .Concat(CaptionAttributeWords)
            .ToArray();

    private static readonly Dictionary<string, int> Ids = Words.Select((w, i) => (w, i)).ToDictionary(p => p.w, p => p.i);

    static Vocabulary()
    {
        if (Words.Length > Size)
            throw new InvalidOperationException($"The vocabulary has {Words.Length} words; Size is {Size}.");
        if (Id(AttributeWords[0]) != FirstCspToken || Id(ObjectToken(ClassWords[^1])) != FirstCspToken + CspTokens - 1)
            throw new InvalidOperationException($"CSP's ids are {Id(AttributeWords[0])}..{Id(ObjectToken(ClassWords[^1]))}; FirstCspToken is {FirstCspToken} and CspTokens {CspTokens}.");
    }

    public static int Id(string word) => Ids.TryGetValue(word, out var id) ? id : throw new ArgumentException($"'{word}' is not in the vocabulary.", nameof(word));

    /// <summary>The ids of a word sequence: start, words, end, padding to <see cref="Length"/>.</summary>
    public static long[] Encode(IEnumerable<string> words)
    {
        var ids = new List<long> { Start };
        ids.AddRange(words.Select(w => (long)Id(w)));
        ids.Add(End);
        if (ids.Count > Length)
            throw new ArgumentException($"The caption has {ids.Count} tokens; at most {Length} fit.", nameof(words));
        while (ids.Count < Length) ids.Add(Pad);
        return ids.ToArray();
    }

    /// <summary>The caption of class <paramref name="label"/> with a template: "a photo of a sneaker".</summary>
    public static long[] Caption(string template, int label) =>
        Encode(template.Split(' ').SelectMany(w => w == "{}" ? ClassWords[label] : [w]));

    /// <summary>Caption ids [classes.Length, Length] of one template for the given classes.</summary>
    public static Tensor Captions(string template, IReadOnlyList<int> classes) =>
        tensor(classes.SelectMany(c => Caption(template, c)).ToArray(), new long[] { classes.Count, Length });

    /// <summary>The class names alone, [start] name [end], as CoOp's text input (the context goes after the start token).</summary>
    public static Tensor ClassNames(IReadOnlyList<int> classes) =>
        tensor(classes.SelectMany(c => Encode(ClassWords[c])).ToArray(), new long[] { classes.Count, Length });

    /// <summary>The ids of the hand-written prompt's words, for initialising the context from their embeddings.</summary>
    public static long[] PromptIds() => Prompt.Split(' ').Select(w => (long)Id(w)).ToArray();

    /// <summary>The words of an attribute-object pair as the task names it: "rotated ankle boot".</summary>
    public static IEnumerable<string> PairWords(int attribute, int label) => ClassWords[label].Prepend(AttributeWords[attribute]);

    /// <summary>The words of an attribute-object pair as a pretraining caption names it: "sideways ankle boot".</summary>
    public static IEnumerable<string> CaptionPairWords(int attribute, int label) => ClassWords[label].Prepend(CaptionAttributeWords[attribute]);

    /// <summary>Hand-written pair prompts [pairs.Count, Length]: "a photo of rotated ankle boot", or "a photo of sideways ankle boot" in the captions' words.</summary>
    public static Tensor PairPrompts(IReadOnlyList<(int Attribute, int Label)> pairs, bool captionWords = false) =>
        tensor(pairs.SelectMany(p => Encode(PairPrompt.Split(' ').Concat(captionWords ? CaptionPairWords(p.Attribute, p.Label) : PairWords(p.Attribute, p.Label)))).ToArray(),
            new long[] { pairs.Count, Length });

    /// <summary>Pair names for CoOp's context, [pairs.Count, Length]: "rotated ankle boot".</summary>
    public static Tensor PairNames(IReadOnlyList<(int Attribute, int Label)> pairs) =>
        tensor(pairs.SelectMany(p => Encode(PairWords(p.Attribute, p.Label))).ToArray(), new long[] { pairs.Count, Length });

    /// <summary>CSP's prompts [pairs.Count, Length]: "a photo of", the attribute word and the object's one id: "a photo of rotated &lt;ankle-boot&gt;".</summary>
    public static Tensor CspPrompts(IReadOnlyList<(int Attribute, int Label)> pairs) =>
        tensor(pairs.SelectMany(p => Encode(PairPrompt.Split(' ').Append(AttributeWords[p.Attribute]).Append(ObjectToken(ClassWords[p.Label])))).ToArray(),
            new long[] { pairs.Count, Length });

    /// <summary>
    /// The word ids each of CSP's learned ids starts from, in id order (an attribute word itself; a
    /// class's one or two words, whose mean embedding starts its object id).
    /// </summary>
    public static IEnumerable<long[]> CspStartWordIds() =>
        AttributeWords.Select(w => new long[] { Id(w) }).Concat(ClassWords.Select(words => words.Select(w => (long)Id(w)).ToArray()));

    private static string ObjectToken(string[] classWords) => $"<{string.Join("-", classWords)}>";
}
