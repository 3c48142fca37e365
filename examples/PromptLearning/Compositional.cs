using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text;
using ModelDsl.Data;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace PromptLearningExample;

/// <summary>
/// Closed-world accuracy (in [0,1]) over all 30 attribute-object pairs on test images of seen and
/// of unseen pairs, their harmonic mean, the best harmonic mean over a bias on unseen pairs, the
/// area under the seen-unseen curve, and the attribute and object accuracy on unseen pairs.
/// </summary>
public sealed record PairRow(string Method, long TrainableParameters, double Seen, double Unseen, double BestHarmonic, double Area, double UnseenAttribute, double UnseenObject)
{
    public double Harmonic => PairScores.Harmonic(Seen, Unseen);

    public static PairRow Of(string method, long trainableParameters, PairScores scores)
    {
        var (seen, unseen) = scores.Accuracy();
        var curve = scores.Curve();
        var (attribute, obj) = scores.UnseenParts();
        return new(method, trainableParameters, seen, unseen, curve.Harmonic, curve.Area, attribute, obj);
    }
}

public sealed record CompositionalResults(IReadOnlyList<PairRow> Rows, int PretrainEpochs, double PretrainAccuracy, TimeSpan Elapsed, string Data)
{
    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine(PromptResults.Header(Data, PretrainEpochs, PretrainAccuracy, Elapsed));
        text.AppendLine("| Method | Trainable | Seen | Unseen | H | Best H | AUC | Unseen: attribute / object |");
        text.Append("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in Rows)
            text.AppendLine().Append(CultureInfo.InvariantCulture,
                $"| {row.Method} | {row.TrainableParameters:N0} | {row.Seen:P1} | {row.Unseen:P1} | {row.Harmonic:P1} | {row.BestHarmonic:P1} | {row.Area:P1} | {row.UnseenAttribute:P1} / {row.UnseenObject:P1} |");
        return text.ToString();
    }
}

/// <summary>
/// Compositional zero-shot classification (CSP). Every image carries one of three attributes
/// (rotated, inverted, blurred), so an image is an attribute-object pair of 30. For each class one
/// pair is held out: its attribute is class % 3. A CLIP is pretrained on all images under every
/// attribute with captions that name the attribute only sometimes, and with other words than the
/// task's (sideways, negative, blurry), never for a held-out pair; then, frozen, it classifies test
/// images among all 30 pairs with the hand-written prompt, CoOp's learned context and CSP's learned
/// attribute and object vectors, the last two tuned on the 20 seen pairs.
/// </summary>
public static class Compositional
{
    public const int Attributes = 3;
    public const double DefaultMentionRate = 0.5;

    /// <summary>Pretraining captions here: at most 3 template words, so "the" + attribute + a two-word class fit 8 tokens.</summary>
    public static readonly string[] Templates = ["a photo of {}", "a picture of {}", "an image of {}", "a {}", "the {}", "a small {}"];

    /// <summary>Class c's held-out pair has attribute c % 3.</summary>
    public static bool IsUnseen((int Attribute, int Label) pair) => pair.Attribute == pair.Label % Attributes;

    /// <summary>All 30 pairs, class-major.</summary>
    public static readonly (int Attribute, int Label)[] Pairs =
        Enumerable.Range(0, 10).SelectMany(c => Enumerable.Range(0, Attributes).Select(a => (a, c))).ToArray();

    public static readonly (int Attribute, int Label)[] SeenPairs = Pairs.Where(p => !IsUnseen(p)).ToArray();

    public static CompositionalResults Run(ExampleOptions options)
    {
        var clock = Stopwatch.StartNew();
        if (options.Threads is { } threads) set_num_threads(threads);
        var device = options.Device ?? Devices.Default;
        var (train, test, source) = Experiment.Load(options);
        using var _train = train;
        using var _test = test;

        // 1. Pretraining: each image under every attribute, captions naming the attribute at the mention rate.
        manual_seed(options.Seed);
        using var clip = new Clip(device);
        var pretrainAccuracy = double.NaN;
        var pretrainEpochs = Math.Max(1, options.EffectivePretrainEpochs / Attributes);
        if (options.ClipWeights is { } clipWeights)
            Checkpoint.Load(clip, clipWeights);
        else
        {
            using var pairs = CaptionPairs(train, options.MentionRate, options.Seed, options.HideUnseen);
            var pretrain = clip.Fit(pairs, null, Experiment.Options(options, "csp-clip", pretrainEpochs, batchSize: 128, learningRate: 1e-3));
            pretrainAccuracy = pretrain.Epochs[^1].TrainMetrics.TryGetValue("accuracy", out var a) ? a : double.NaN;
        }
        var weights = clip.state_dict();
        using var shots = Shots(train, options.Shots, options.Seed);
        using var testPairs = TestPairs(test);
        var rows = new List<PairRow>();

        // 2. The hand-written prompt "a photo of rotated ankle boot" ("sideways" in the captions' words).
        using (var zeroShot = new ZeroShot(device))
        {
            zeroShot.load_state_dict(weights);
            using var prompts = Vocabulary.PairPrompts(Pairs).to(device);
            rows.Add(PairRow.Of("Hand-written prompt", 0, Score(i => zeroShot.Forward(i, prompts).Logits, testPairs, options)));
            // For reference: the prompt a user would write knowing the captions' words for the attributes.
            using var captionPrompts = Vocabulary.PairPrompts(Pairs, captionWords: true).to(device);
            rows.Add(PairRow.Of("Hand-written prompt in the captions' words", 0, Score(i => zeroShot.Forward(i, captionPrompts).Logits, testPairs, options)));
        }

        // 3. CoOp: four shared context vectors in front of the pair's words, from "a photo of a".
        using (var coop = new CoOp(device))
        {
            Experiment.Load(coop, weights, "text.context.ctx");
            coop.Text.Context.InitializeFrom(coop.Text.Embed.Weight.index_select(0, tensor(Vocabulary.PromptIds(), device: device)));
            coop.ClassNamesInput = Vocabulary.PairNames(SeenPairs).to(device);
            coop.Fit(shots, null, Experiment.Options(options, "csp-coop", options.PromptEpochs, batchSize: 16, learningRate: options.PromptLearningRate ?? 2e-3));
            using var names = Vocabulary.PairNames(Pairs).to(device);
            rows.Add(PairRow.Of("CoOp (learned context)", CoOp.Summary.TrainableParameters, Score(i => coop.Forward(i, names).Logits, testPairs, options)));
        }

        // 4. CSP: one learned vector per attribute and per class, from the mean embedding of its words.
        using (var csp = new Csp(device))
        {
            Experiment.Load(csp, weights, "text.concepts.");
            using (no_grad())
            {
                var table = csp.Text.Embed.Weight;
                csp.Text.Concepts.InitializeFrom(stack(Vocabulary.CspStartWordIds().Select(ids => table.index_select(0, tensor(ids, device: device)).mean([0])).ToArray()));
            }
            csp.PairPromptsInput = Vocabulary.CspPrompts(SeenPairs).to(device);
            csp.Fit(shots, null, Experiment.Options(options, "csp", options.PromptEpochs, batchSize: 16, learningRate: options.PromptLearningRate ?? 5e-3));
            using var prompts = Vocabulary.CspPrompts(Pairs).to(device);
            rows.Add(PairRow.Of("CSP (learned attribute and object vectors)", Csp.Summary.TrainableParameters, Score(i => csp.Forward(i, prompts).Logits, testPairs, options)));
        }

        var data = $"{source}; attributes rotated/inverted/blurred, 20 seen and 10 unseen pairs; captions name the attribute at rate {options.MentionRate:0.##} as sideways/negative/blurry (never for an unseen pair); "
            + (options.HideUnseen ? "unseen pairs' images left out of pretraining; " : "")
            + $"{options.Shots}-shot tuning per seen pair, {options.PromptEpochs} epochs"
            + (options.ClipWeights is { } w ? $"; CLIP loaded from {w}" : "");
        return new CompositionalResults(rows, options.ClipWeights is null ? pretrainEpochs : 0, pretrainAccuracy, clock.Elapsed, data);
    }

    /// <summary>Images <c>[N,1,28,28]</c>, normalised as <see cref="FashionMnist"/>, under an attribute: rotated a quarter turn, inverted, or box-blurred 5x5.</summary>
    public static Tensor Apply(Tensor images, int attribute)
    {
        using var scope = NewDisposeScope();
        var result = attribute switch
        {
            0 => images.rot90(1, (2, 3)),
            // 1 - pixel on the 0..1 scale, in normalised units.
            1 => (1 - 2 * FashionMnist.Mean) / FashionMnist.Std - images,
            2 => Blur(images),
            _ => throw new ArgumentOutOfRangeException(nameof(attribute), attribute, "Attributes are 0 (rotated), 1 (inverted) and 2 (blurred)."),
        };
        return result.contiguous().MoveToOuterDisposeScope();
    }

    private static Tensor Blur(Tensor images)
    {
        // On the 0..1 scale, so that the zero padding is the black background.
        var pixels = images * FashionMnist.Std + FashionMnist.Mean;
        var kernel = full(new long[] { 1, 1, 5, 5 }, 1.0 / 25, dtype: images.dtype, device: images.device);
        return (nn.functional.conv2d(pixels, kernel, padding: [2, 2]) - FashionMnist.Mean) / FashionMnist.Std;
    }

    /// <summary>
    /// Every image under each attribute, with a caption of its class that names the attribute (in the
    /// captions' words) at <paramref name="mentionRate"/>, never for an unseen pair; with
    /// <paramref name="hideUnseen"/> the images of unseen pairs are left out altogether.
    /// </summary>
    public static TensorDataset CaptionPairs(TensorDataset data, double mentionRate, long seed, bool hideUnseen = false)
    {
        var random = new Random((int)seed);
        var labels = data[FashionMnist.LabelColumn].data<long>().ToArray();
        var images = new List<Tensor>();
        var ids = new List<long>();
        for (var a = 0; a < Attributes; a++)
        {
            var kept = Enumerable.Range(0, labels.Length).Where(i => !(hideUnseen && IsUnseen((a, (int)labels[i])))).Select(i => (long)i).ToArray();
            using var rows = tensor(kept);
            images.Add(Apply(data[FashionMnist.ImageColumn].index_select(0, rows), a));
            foreach (var label in kept.Select(i => labels[i]))
            {
                var named = !IsUnseen((a, (int)label)) && random.NextDouble() < mentionRate;
                var words = named ? Vocabulary.CaptionPairWords(a, (int)label) : Vocabulary.ClassWords[label];
                var template = Templates[random.Next(Templates.Length)];
                ids.AddRange(Vocabulary.Encode(template.Split(' ').SelectMany(w => w == "{}" ? words : [w])));
            }
        }
        var all = cat(images, 0);
        foreach (var image in images) image.Dispose();
        return new TensorDataset(("image", all), ("text", tensor(ids.ToArray(), new long[] { all.shape[0], Vocabulary.Length })));
    }

    /// <summary><paramref name="shots"/> training images for each seen pair (distinct images within a class), labelled by the pair's position in <see cref="SeenPairs"/>.</summary>
    public static TensorDataset Shots(TensorDataset data, int shots, long seed)
    {
        var random = new Random((int)seed + 1);
        var labels = data[FashionMnist.LabelColumn].data<long>().ToArray();
        var images = new List<Tensor>();
        var pairLabels = new List<long>();
        foreach (var group in SeenPairs.Select((p, i) => (Pair: p, Index: i)).GroupBy(p => p.Pair.Label))
        {
            var of = Enumerable.Range(0, labels.Length).Where(i => labels[i] == group.Key).OrderBy(_ => random.Next()).ToList();
            var needed = shots * group.Count();
            if (of.Count < needed)
                throw new ArgumentException($"Class {group.Key} has {of.Count} training images; {shots} shots for each of its {group.Count()} seen pairs need {needed}.");
            var taken = 0;
            foreach (var (pair, index) in group)
            {
                using var picked = tensor(of.Skip(taken).Take(shots).Select(i => (long)i).ToArray());
                images.Add(Apply(data[FashionMnist.ImageColumn].index_select(0, picked), pair.Attribute));
                pairLabels.AddRange(Enumerable.Repeat((long)index, shots));
                taken += shots;
            }
        }
        var all = cat(images, 0);
        foreach (var image in images) image.Dispose();
        return new TensorDataset(("image", all), ("label", tensor(pairLabels.ToArray())));
    }

    /// <summary>Test image i under attribute i % 3, labelled by its pair's position in <see cref="Pairs"/>.</summary>
    public static TensorDataset TestPairs(TensorDataset test)
    {
        var labels = test[FashionMnist.LabelColumn].data<long>().ToArray();
        var images = new List<Tensor>();
        var order = new List<long>();
        for (var a = 0; a < Attributes; a++)
        {
            var rows = Enumerable.Range(0, labels.Length).Where(i => i % Attributes == a).Select(i => (long)i).ToArray();
            using var index = tensor(rows);
            images.Add(Apply(test[FashionMnist.ImageColumn].index_select(0, index), a));
            order.AddRange(rows.Select(i => (long)Array.IndexOf(Pairs, (a, (int)labels[i]))));
        }
        var all = cat(images, 0);
        foreach (var image in images) image.Dispose();
        return new TensorDataset(("image", all), ("label", tensor(order.ToArray())));
    }

    /// <summary>The pair scores of every test image <c>[N,30]</c> and its pair, on the CPU.</summary>
    public static PairScores Score(Func<Tensor, Tensor> logitsOf, TensorDataset test, ExampleOptions options)
    {
        using var _ = no_grad();
        var device = options.Device ?? Devices.Default;
        const int batch = 500;
        var batches = (test.Count + batch - 1) / batch;
        if (options.Smoke) batches = Math.Min(2, batches);
        var scores = new List<float[]>();
        var pairs = new List<long>();
        for (var b = 0L; b < batches; b++)
        {
            using var scope = NewDisposeScope();
            var length = Math.Min(batch, test.Count - b * batch);
            var logits = logitsOf(test["image"].narrow(0, b * batch, length).to(device)).cpu();
            var values = logits.data<float>().ToArray();
            for (var i = 0; i < length; i++) scores.Add(values.AsSpan(i * Pairs.Length, Pairs.Length).ToArray());
            pairs.AddRange(test["label"].narrow(0, b * batch, length).data<long>().ToArray());
        }
        return new PairScores(scores, pairs);
    }
}

/// <summary>
/// Scores of test images over all 30 pairs, and the usual measures of compositional zero-shot
/// learning: seen and unseen accuracy with a bias added to every unseen pair's score (a model
/// tuned on seen pairs favours them; a bias trades seen for unseen accuracy), at bias 0 and at the
/// bias of best harmonic mean, and the area under the seen-unseen curve over all biases.
/// </summary>
public sealed record PairScores(IReadOnlyList<float[]> Scores, IReadOnlyList<long> Pairs)
{
    private static readonly bool[] UnseenPair = Compositional.Pairs.Select(Compositional.IsUnseen).ToArray();

    public (double Seen, double Unseen) Accuracy(double unseenBias = 0)
    {
        long seenCorrect = 0, seenTotal = 0, unseenCorrect = 0, unseenTotal = 0;
        for (var i = 0; i < Scores.Count; i++)
        {
            var correct = Predict(Scores[i], unseenBias) == Pairs[i];
            if (UnseenPair[Pairs[i]]) { unseenTotal++; if (correct) unseenCorrect++; }
            else { seenTotal++; if (correct) seenCorrect++; }
        }
        return (seenTotal == 0 ? 0 : (double)seenCorrect / seenTotal, unseenTotal == 0 ? 0 : (double)unseenCorrect / unseenTotal);
    }

    /// <summary>Accuracy of the attribute and of the object of the predicted pair, on images of unseen pairs.</summary>
    public (double Attribute, double Object) UnseenParts()
    {
        long total = 0, attribute = 0, obj = 0;
        for (var i = 0; i < Scores.Count; i++)
        {
            if (!UnseenPair[Pairs[i]]) continue;
            var (predicted, truth) = (Compositional.Pairs[Predict(Scores[i], 0)], Compositional.Pairs[Pairs[i]]);
            total++;
            if (predicted.Attribute == truth.Attribute) attribute++;
            if (predicted.Label == truth.Label) obj++;
        }
        return total == 0 ? (0, 0) : ((double)attribute / total, (double)obj / total);
    }

    /// <summary>
    /// The seen-unseen curve over every bias at which a prediction changes: the best harmonic mean
    /// (with its seen and unseen accuracy) and the area under the curve.
    /// </summary>
    public (double Seen, double Unseen, double Harmonic, double Area) Curve()
    {
        // A prediction flips where the bias equals the gap between the best seen and the best unseen score.
        var gaps = Scores.Select(s => Best(s, seen: true) - Best(s, seen: false)).Distinct().Order().ToList();
        var biases = new List<double> { -1e9 };
        for (var i = 0; i + 1 < gaps.Count; i++) biases.Add((gaps[i] + gaps[i + 1]) / 2);
        biases.Add(1e9);
        var points = biases.Select(b => Accuracy(b)).ToList();
        var best = points.MaxBy(p => Harmonic(p.Seen, p.Unseen));
        var curve = points.OrderBy(p => p.Unseen).ToList();
        double area = 0;
        for (var i = 1; i < curve.Count; i++)
            area += (curve[i].Unseen - curve[i - 1].Unseen) * (curve[i].Seen + curve[i - 1].Seen) / 2;
        return (best.Seen, best.Unseen, Harmonic(best.Seen, best.Unseen), area);
    }

    public static double Harmonic(double a, double b) => a + b == 0 ? 0 : 2 * a * b / (a + b);

    private static float Best(float[] scores, bool seen)
    {
        var best = float.NegativeInfinity;
        for (var p = 0; p < scores.Length; p++)
            if (UnseenPair[p] != seen && scores[p] > best) best = scores[p];
        return best;
    }

    private static int Predict(float[] scores, double unseenBias)
    {
        var (best, at) = (double.NegativeInfinity, 0);
        for (var p = 0; p < scores.Length; p++)
        {
            var score = scores[p] + (UnseenPair[p] ? unseenBias : 0);
            if (score > best) (best, at) = (score, p);
        }
        return at;
    }
}
