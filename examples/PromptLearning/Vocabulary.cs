using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace PromptLearningExample;

/// <summary>
/// A tiny word-level vocabulary for captions of Fashion-MNIST: ids 0-2 are padding, start and
/// end; then the template words, the words of the ten class names, the attribute words of the
/// compositional experiment, and last one concept id per attribute and per class (CSP's learned
/// vocabulary: no caption contains them, so pretraining leaves their rows untrained).
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

    /// <summary>The attributes of the compositional experiment (CSP), as words.</summary>
    public static readonly string[] AttributeWords = ["rotated", "inverted", "blurred"];

    /// <summary>The template of compositional prompts (CSP's "a photo of {attribute} {object}"), short enough for 8 tokens.</summary>
    public const string PairPrompt = "a photo of";

    /// <summary>The first concept id: attribute a is <c>FirstConcept + a</c>, class c is <c>FirstConcept + 3 + c</c>.</summary>
    public const int FirstConcept = 26;

    /// <summary>Concept ids: one per attribute, then one per class.</summary>
    public const int Concepts = 13;

    private static readonly string[] Words =
        new[] { "<pad>", "<start>", "<end>" }
            .Concat(Templates.SelectMany(t => t.Split(' ')).Where(w => w != "{}"))
            .Concat(ClassWords.SelectMany(w => w))
            .Concat(AttributeWords)
            .Distinct()
            .Concat(AttributeWords.Select(w => $"<{w}>"))
            .Concat(ClassWords.Select(w => $"<{string.Join("-", w)}>"))
            .ToArray();

    private static readonly Dictionary<string, int> Ids = Words.Select((w, i) => (w, i)).ToDictionary(p => p.w, p => p.i);

    static Vocabulary()
    {
        if (Words.Length > Size)
            throw new InvalidOperationException($"The vocabulary has {Words.Length} words; Size is {Size}.");
        if (Id("<rotated>") != FirstConcept || Words.Length - FirstConcept != Concepts)
            throw new InvalidOperationException($"The concept ids start at {Id("<rotated>")} and number {Words.Length - Id("<rotated>")}; FirstConcept is {FirstConcept} and Concepts {Concepts}.");
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

    /// <summary>The words of an attribute-object pair: "rotated ankle boot".</summary>
    public static IEnumerable<string> PairWords(int attribute, int label) => ClassWords[label].Prepend(AttributeWords[attribute]);

    /// <summary>Hand-written pair prompts [pairs.Count, Length]: "a photo of rotated ankle boot".</summary>
    public static Tensor PairPrompts(IReadOnlyList<(int Attribute, int Label)> pairs) =>
        tensor(pairs.SelectMany(p => Encode(PairPrompt.Split(' ').Concat(PairWords(p.Attribute, p.Label)))).ToArray(), new long[] { pairs.Count, Length });

    /// <summary>Pair names for CoOp's context, [pairs.Count, Length]: "rotated ankle boot".</summary>
    public static Tensor PairNames(IReadOnlyList<(int Attribute, int Label)> pairs) =>
        tensor(pairs.SelectMany(p => Encode(PairWords(p.Attribute, p.Label))).ToArray(), new long[] { pairs.Count, Length });

    /// <summary>CSP's prompts [pairs.Count, Length]: "a photo of" and the pair's two concept ids.</summary>
    public static Tensor ConceptPrompts(IReadOnlyList<(int Attribute, int Label)> pairs) =>
        tensor(pairs.SelectMany(p => Encode(PairPrompt.Split(' ').Append($"<{AttributeWords[p.Attribute]}>").Append($"<{string.Join("-", ClassWords[p.Label])}>"))).ToArray(),
            new long[] { pairs.Count, Length });

    /// <summary>
    /// The word ids each concept stands for, in concept order (an attribute's word; a class's one or
    /// two words), so that CSP starts from the pretrained words' mean embedding.
    /// </summary>
    public static IEnumerable<long[]> ConceptWordIds() =>
        AttributeWords.Select(w => new long[] { Id(w) }).Concat(ClassWords.Select(words => words.Select(w => (long)Id(w)).ToArray()));
}
