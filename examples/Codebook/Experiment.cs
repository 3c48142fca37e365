using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using ModelDsl.Blocks;
using ModelDsl.Data;
using ModelDsl.Training;
using PromptLearningExample;
using static TorchSharp.torch;

namespace CodebookExample;

/// <summary>
/// Plain CLIP against FDT (a shared codebook of 256 codes), both pretrained on the same image-caption pairs of the
/// embedded Fashion-MNIST subset, then measured on its test split: zero-shot accuracy with "a photo of a {class}",
/// retrieval R@1 both ways, and for FDT the active codes per sample and how many an image shares with its caption.
/// </summary>
public static class Experiment
{
    /// <param name="epochs">Pretraining epochs of each model.</param>
    /// <param name="smoke">Two steps of each and 200 test images: a check that everything runs.</param>
    /// <param name="temperature">FDT's score temperature for both queries (the declaration's is 1, FDT's Query_model default; its CC3M config uses 1000); null keeps it.</param>
    /// <param name="skipClip">Trains FDT only.</param>
    public static string Run(int epochs, long seed, bool smoke, TextWriter log, double? temperature = null, bool skipClip = false)
    {
        manual_seed(seed);
        var (train, test) = FashionMnist.LoadEmbedded();
        var pairs = CaptionPairs(train, seed);
        if (smoke)
            test = new TensorDataset(test.Names.Select(n => new System.Collections.Generic.KeyValuePair<string, Tensor>(n, test[n].narrow(0, 0, 200))));
        var testPairs = CaptionPairs(test, seed + 1);
        var labels = test[FashionMnist.LabelColumn];
        var options = new TrainOptions { Epochs = epochs, BatchSize = 128, LearningRate = 1e-3, Seed = seed, Device = CPU, ShowProgress = false, WriteCurves = false };
        if (smoke) options = options.ForSmoke();
        var prompts = Vocabulary.Captions(Vocabulary.Templates[0], Enumerable.Range(0, 10).ToList());

        var report = new StringBuilder();
        report.AppendLine($"Embedded Fashion-MNIST subset: {train.Count:N0} caption pairs for pretraining, {test.Count:N0} test images; {(smoke ? "smoke run (2 steps each)" : $"{epochs} epochs each")}, batch 128, seed {seed}.");
        report.AppendLine();
        report.AppendLine("| Model | Parameters | Pretraining | Zero-shot | R@1 image->text | R@1 text->image | Active codes (image / text) | Shared codes: pair / random |");
        report.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");

        if (!skipClip)
        using (var clip = new Clip(CPU))
        {
            var watch = Stopwatch.StartNew();
            clip.Fit(pairs, null, options);
            var time = watch.Elapsed;
            clip.eval();
            Tensor Image(Tensor x) => clip.Image.Forward(x).Features;
            Tensor Text(Tensor t) => clip.Text.Forward(t).Features;
            var m = Measure(Image, Text, test[FashionMnist.ImageColumn], testPairs["text"], labels, prompts);
            report.AppendLine($"| CLIP (CLS / end token projected) | {Clip.Summary.TotalParameters:N0} | {time.TotalSeconds:F0} s | {Percent(m.ZeroShot)} | {Percent(m.ImageToText)} | {Percent(m.TextToImage)} | — | — |");
            log.WriteLine($"CLIP done in {time.TotalSeconds:F0} s");
        }

        using (var fdt = new FdtClip(CPU))
        {
            if (temperature is { } t)
                fdt.ImageQuery.Temperature = fdt.TextQuery.Temperature = t;
            var watch = Stopwatch.StartNew();
            fdt.Fit(pairs, null, options);
            var time = watch.Elapsed;
            fdt.eval();
            Tensor ImageWeights(Tensor x) => fdt.ImageQuery.Forward(fdt.Image.Forward(x).Tokens, fdt.SpaceDict).Weights;
            Tensor TextWeights(Tensor t) => fdt.TextQuery.Forward(fdt.Text.Forward(t).Tokens, fdt.SpaceDict, t.eq(Vocabulary.Pad)).Weights;
            Tensor Image(Tensor x) => fdt.ImageQuery.Forward(fdt.Image.Forward(x).Tokens, fdt.SpaceDict).Features;
            Tensor Text(Tensor t) => fdt.TextQuery.Forward(fdt.Text.Forward(t).Tokens, fdt.SpaceDict, t.eq(Vocabulary.Pad)).Features;
            var m = Measure(Image, Text, test[FashionMnist.ImageColumn], testPairs["text"], labels, prompts);
            var codes = Codes(ImageWeights, TextWeights, test[FashionMnist.ImageColumn], testPairs["text"], labels, seed);
            report.AppendLine($"| FDT (256 shared codes, sparsemax, T = {fdt.ImageQuery.Temperature.ToString(CultureInfo.InvariantCulture)}) | {FdtClip.Summary.TotalParameters:N0} | {time.TotalSeconds:F0} s | {Percent(m.ZeroShot)} | {Percent(m.ImageToText)} | {Percent(m.TextToImage)} | " +
                $"{codes.ImageActive:F1} / {codes.TextActive:F1} | {codes.PairJaccard:F3} / {codes.RandomJaccard:F3} |");
            report.AppendLine();
            report.AppendLine($"FDT codes used by at least one test image: {codes.ImageCodesUsed} of 256; by at least one test caption: {codes.TextCodesUsed} of 256. " +
                $"Shared codes are the Jaccard index of the active sets of an image and its own caption, against an image and the caption of a random other test image (same-class pairs {codes.RandomSameClass:P0} of those).");
            log.WriteLine($"FDT done in {time.TotalSeconds:F0} s");
        }
        return report.ToString();
    }

    private static string Percent(double value) => (100 * value).ToString("F1", CultureInfo.InvariantCulture) + " %";

    /// <summary>Image i with a caption of its class from a template chosen at random.</summary>
    public static TensorDataset CaptionPairs(TensorDataset data, long seed)
    {
        var random = new Random((int)seed);
        var labels = data[FashionMnist.LabelColumn].data<long>().ToArray();
        var ids = labels.SelectMany(l => Vocabulary.Caption(Vocabulary.Templates[random.Next(Vocabulary.Templates.Length)], (int)l)).ToArray();
        return new TensorDataset(("image", data[FashionMnist.ImageColumn].clone()), ("text", tensor(ids, new long[] { labels.Length, Vocabulary.Length })));
    }

    private static Tensor Batched(Func<Tensor, Tensor> f, Tensor all)
    {
        using var _ = no_grad();
        var parts = Enumerable.Range(0, (int)((all.shape[0] + 499) / 500)).Select(b => f(all.narrow(0, b * 500, Math.Min(500, all.shape[0] - b * 500)))).ToList();
        return cat(parts, 0);
    }

    /// <summary>
    /// Zero-shot accuracy, and retrieval R@1 over the test set both ways. Captions name only the class (one of 8 templates),
    /// so many captions are identical: a retrieval counts as a hit when the retrieved item is of the query's class.
    /// </summary>
    private static (double ZeroShot, double ImageToText, double TextToImage) Measure(Func<Tensor, Tensor> image, Func<Tensor, Tensor> text,
        Tensor images, Tensor captions, Tensor labels, Tensor prompts)
    {
        using var scope = NewDisposeScope();
        var imageFeatures = nn.functional.normalize(Batched(image, images), dim: 1);
        var textFeatures = nn.functional.normalize(Batched(text, captions), dim: 1);
        Tensor classFeatures;
        using (no_grad())
            classFeatures = nn.functional.normalize(text(prompts), dim: 1);
        var zeroShot = imageFeatures.matmul(classFeatures.t()).argmax(1).eq(labels).to(float32).mean().item<float>();
        var similarity = imageFeatures.matmul(textFeatures.t());
        var imageToText = labels.index_select(0, similarity.argmax(1)).eq(labels).to(float32).mean().item<float>();
        var textToImage = labels.index_select(0, similarity.argmax(0)).eq(labels).to(float32).mean().item<float>();
        return (zeroShot, imageToText, textToImage);
    }

    private static (double ImageActive, double TextActive, double PairJaccard, double RandomJaccard, double RandomSameClass, long ImageCodesUsed, long TextCodesUsed) Codes(
        Func<Tensor, Tensor> imageWeights, Func<Tensor, Tensor> textWeights, Tensor images, Tensor captions, Tensor labels, long seed)
    {
        using var scope = NewDisposeScope();
        var imageActive = Batched(imageWeights, images).gt(0);
        var textActive = Batched(textWeights, captions).gt(0);
        static Tensor Jaccard(Tensor a, Tensor b) =>
            a.logical_and(b).sum(1).to(float64) / a.logical_or(b).sum(1).to(float64).clamp_min(1);
        var generator = new Generator().manual_seed(seed + 2);
        var n = images.shape[0];
        // A permutation without fixed points: caption of another image (shifted by a random nonzero offset).
        var offset = randint(1, n, [1], generator: generator).item<long>();
        var other = (arange(n) + offset) % n;
        var sameClass = labels.eq(labels.index_select(0, other)).to(float64).mean().item<double>();
        return (imageActive.sum(1).to(float64).mean().item<double>(), textActive.sum(1).to(float64).mean().item<double>(),
            Jaccard(imageActive, textActive).mean().item<double>(), Jaccard(imageActive, textActive.index_select(0, other)).mean().item<double>(),
            sameClass, imageActive.any(0).sum().item<long>(), textActive.any(0).sum().item<long>());
    }
}
