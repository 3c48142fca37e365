using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using ModelDsl.Data;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace PromptLearningExample;

/// <summary>Settings of <see cref="Experiment.Run"/>; <see cref="Parse"/> reads them from the command line.</summary>
public sealed record ExampleOptions
{
    /// <summary>Pretraining epochs on the embedded 8,000 images (about 3 minutes on one core here).</summary>
    public const int DefaultPretrainEpochs = 15;

    /// <summary>Pretraining epochs on the full 60,000 images.</summary>
    public const int DefaultFullPretrainEpochs = 6;

    /// <summary>Prompt-tuning epochs over the 80 few-shot images (5 optimizer steps each).</summary>
    public const int DefaultPromptEpochs = 40;

    public bool Full { get; init; }
    public string? DataFolder { get; init; }
    public int? PretrainEpochs { get; init; }
    public int PromptEpochs { get; init; } = DefaultPromptEpochs;
    /// <summary>The learning rate of prompt tuning; default 2e-3 for CoOp and PRE, 5e-3 for CSP's vocabulary.</summary>
    public double? PromptLearningRate { get; init; }
    /// <summary>Labelled images per base class for prompt tuning.</summary>
    public int Shots { get; init; } = 16;
    /// <summary>Further labelled images per base class, disjoint from the shots, on which prompt tuning keeps its epoch of lowest validation loss; 0: the last epoch.</summary>
    public int Validation { get; init; }
    /// <summary>Keeps the shots and validation images out of CLIP pretraining, so that prompt tuning sees images the frozen model has not.</summary>
    public bool HoldOut { get; init; }
    /// <summary>A checkpoint of a pretrained <see cref="Clip"/> (such as <c>clip/last.ckpt</c> of an earlier run with the same data, seed and hold-out) to use instead of pretraining.</summary>
    public string? ClipWeights { get; init; }
    /// <summary>Two batches of every training stage and of every evaluation.</summary>
    public bool Smoke { get; init; }
    public long Seed { get; init; }
    public int? Threads { get; init; }
    public string? OutputDirectory { get; init; }
    public Device? Device { get; init; }
    public TextWriter Log { get; init; } = TextWriter.Null;
    /// <summary>
    /// A domain shift of the downstream images (shots, validation and test; pretraining keeps the
    /// plain ones): 0 rotated, 1 inverted, 2 blurred, as <see cref="PromptLearningExample.Compositional.Apply"/>.
    /// </summary>
    public int? Shift { get; init; }
    /// <summary>Runs the compositional experiment (CSP) instead of base-to-new prompt learning.</summary>
    public bool Compositional { get; init; }
    /// <summary>Compositional experiment: the unseen pairs' images are left out of pretraining too, not only their attribute words.</summary>
    public bool HideUnseen { get; init; }
    /// <summary>How often a pretraining caption of the compositional experiment names the image's attribute (never for a held-out pair).</summary>
    public double MentionRate { get; init; } = PromptLearningExample.Compositional.DefaultMentionRate;

    public int EffectivePretrainEpochs => Smoke ? 1 : PretrainEpochs ?? (Full || DataFolder is not null ? DefaultFullPretrainEpochs : DefaultPretrainEpochs);

    public const string Usage = "usage: dotnet run -c Release --project examples/PromptLearning -- [--full | --data DIR] [--pretrain-epochs N] [--prompt-epochs N] [--prompt-lr X] [--shots N] [--validation N] [--hold-out] [--clip FILE] [--shift rotated|inverted|blurred] [--seed N] [--threads N] [--out DIR] [--smoke] [--csp [--mention P] [--hide-unseen]]";

    /// <summary>The options of a command line, or null when it is not valid.</summary>
    public static ExampleOptions? Parse(string[] args, TextWriter log)
    {
        var options = new ExampleOptions { OutputDirectory = Path.Combine("runs", "prompt-learning"), Log = log };
        for (var i = 0; i < args.Length; i++)
        {
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            int Positive(string name) => int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : throw new ArgumentException($"{name} needs a positive number");
            switch (args[i])
            {
                case "--full": options = options with { Full = true }; break;
                case "--data": options = options with { DataFolder = Next() ?? throw new ArgumentException("--data needs a folder") }; break;
                case "--pretrain-epochs": options = options with { PretrainEpochs = Positive("--pretrain-epochs") }; break;
                case "--prompt-epochs": options = options with { PromptEpochs = Positive("--prompt-epochs") }; break;
                case "--prompt-lr":
                    options = options with
                    {
                        PromptLearningRate = double.TryParse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture, out var lr) && lr > 0 ? lr : throw new ArgumentException("--prompt-lr needs a positive learning rate"),
                    };
                    break;
                case "--shots": options = options with { Shots = Positive("--shots") }; break;
                case "--validation": options = options with { Validation = Positive("--validation") }; break;
                case "--hold-out": options = options with { HoldOut = true }; break;
                case "--clip": options = options with { ClipWeights = Next() ?? throw new ArgumentException("--clip needs a checkpoint file") }; break;
                case "--threads": options = options with { Threads = Positive("--threads") }; break;
                case "--seed":
                    options = options with { Seed = long.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) ? s : throw new ArgumentException("--seed needs a number") };
                    break;
                case "--out": options = options with { OutputDirectory = Next() ?? throw new ArgumentException("--out needs a folder") }; break;
                case "--smoke": options = options with { Smoke = true }; break;
                case "--csp": options = options with { Compositional = true }; break;
                case "--hide-unseen": options = options with { HideUnseen = true }; break;
                case "--shift":
                    options = options with
                    {
                        Shift = Array.IndexOf(Vocabulary.AttributeWords, Next()) is var shift && shift >= 0 ? shift : throw new ArgumentException($"--shift needs one of {string.Join(", ", Vocabulary.AttributeWords)}"),
                    };
                    break;
                case "--mention":
                    options = options with
                    {
                        MentionRate = double.TryParse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture, out var p) && p is >= 0 and <= 1 ? p : throw new ArgumentException("--mention needs a rate between 0 and 1"),
                    };
                    break;
                default: return null;
            }
        }
        return options;
    }
}

/// <summary>Accuracy (in [0,1]) on the base classes 0-4 and the new classes 5-9, each among its own five names.</summary>
public sealed record PromptRow(string Method, double Base, double New, long TrainableParameters)
{
    /// <summary>The harmonic mean of base and new accuracy (CoOp/CoCoOp's H).</summary>
    public double Harmonic => Base + New == 0 ? 0 : 2 * Base * New / (Base + New);
}

public sealed record PromptResults(
    IReadOnlyList<PromptRow> Rows,
    int PretrainEpochs,
    double PretrainAccuracy,
    double FoldDifference,
    TimeSpan Elapsed,
    string Data)
{
    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine(Header(Data, PretrainEpochs, PretrainAccuracy, Elapsed));
        text.AppendLine("| Method | Trainable | Base (0-4) | New (5-9) | H |");
        text.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var row in Rows)
            text.AppendLine(CultureInfo.InvariantCulture, $"| {row.Method} | {row.TrainableParameters:N0} | {row.Base:P1} | {row.New:P1} | {row.Harmonic:P1} |");
        text.Append(CultureInfo.InvariantCulture, $"PRE folded into plain tokens: largest change of a class feature {FoldDifference:E1}");
        return text.ToString();
    }

    /// <summary>The first line of a results table: the data, CLIP's pretraining and the time taken.</summary>
    internal static string Header(string data, int pretrainEpochs, double pretrainAccuracy, TimeSpan elapsed)
    {
        var pretraining = pretrainEpochs == 0 ? "CLIP not pretrained here" : $"CLIP pretraining {pretrainEpochs} epochs (in-batch pair accuracy {pretrainAccuracy:P1})";
        return string.Create(CultureInfo.InvariantCulture, $"Data: {data}; {pretraining}; total {elapsed.TotalMinutes:F1} min");
    }
}

/// <summary>
/// Pretrains a small CLIP on Fashion-MNIST with template captions, then classifies with the frozen
/// model three ways: the hand-written prompt, CoOp's learned context and PRE's reparameterised
/// context, both tuned on a few shots of classes 0-4 and tested on 0-4 and on the unseen 5-9.
/// </summary>
public static class Experiment
{
    public static readonly int[] BaseClasses = [0, 1, 2, 3, 4];
    public static readonly int[] NewClasses = [5, 6, 7, 8, 9];

    public static PromptResults Run(ExampleOptions options)
    {
        var clock = Stopwatch.StartNew();
        if (options.Threads is { } threads) set_num_threads(threads);
        var device = options.Device ?? Devices.Default;
        var (train, plainTest, source) = Load(options);
        using var _train = train;
        using var test = Shifted(plainTest, options.Shift);

        if (options.Validation > 0 && options.OutputDirectory is null)
            throw new ArgumentException("--validation keeps the best epoch's checkpoint, so it needs an output folder (--out).");
        var (shotIndex, validationIndex) = FewShot(train, BaseClasses, options.Shots, options.Validation, options.Seed);
        using var shots = Shifted(Labelled(train, shotIndex), options.Shift);
        using var validation = options.Validation > 0 ? Shifted(Labelled(train, validationIndex), options.Shift) : null;

        // 1. Pretraining: every image with a caption of its class from a random template.
        manual_seed(options.Seed);
        using var clip = new Clip(device);
        options.Log.WriteLine(Clip.Summary);
        var pretrainAccuracy = double.NaN;
        if (options.ClipWeights is { } clipWeights)
            Checkpoint.Load(clip, clipWeights);
        else
        {
            var keptOut = options.HoldOut ? shotIndex.Select(p => p.Index).Concat(validationIndex.Select(p => p.Index)).ToHashSet() : [];
            using var pretrainImages = train.Subset(Enumerable.Range(0, (int)train.Count).Select(i => (long)i).Where(i => !keptOut.Contains(i)).ToArray());
            using var pairs = CaptionPairs(pretrainImages, options.Seed);
            var pretrain = clip.Fit(pairs, null, Options(options, "clip", options.EffectivePretrainEpochs, batchSize: 128, learningRate: 1e-3));
            pretrainAccuracy = pretrain.Epochs[^1].TrainMetrics.TryGetValue("accuracy", out var a) ? a : double.NaN;
        }
        var weights = clip.state_dict();

        var rows = new List<PromptRow>();
        // 2. The hand-written prompt "a photo of a {class}".
        using (var zeroShot = new ZeroShot(device))
        {
            zeroShot.load_state_dict(weights);
            rows.Add(new("Hand-written prompt", 
                Accuracy(i => zeroShot.Forward(i, Vocabulary.Captions(Vocabulary.Templates[0], BaseClasses).to(device)).Logits, test, BaseClasses, options),
                Accuracy(i => zeroShot.Forward(i, Vocabulary.Captions(Vocabulary.Templates[0], NewClasses).to(device)).Logits, test, NewClasses, options),
                0));
        }

        // 3. CoOp: four shared context vectors, initialised from the prompt's word embeddings.
        using (var coop = new CoOp(device))
        {
            Load(coop, weights, "text.context.ctx");
            coop.Text.Context.InitializeFrom(coop.Text.Embed.Weight.index_select(0, tensor(Vocabulary.PromptIds(), device: device)));
            coop.ClassNamesInput = Vocabulary.ClassNames(BaseClasses).to(device);
            KeepBest(coop, coop.Fit(shots, validation, Options(options, "coop", options.PromptEpochs, batchSize: 16, learningRate: options.PromptLearningRate ?? 2e-3)), options);
            rows.Add(new("CoOp (learned context)",
                Accuracy(i => coop.Forward(i, Vocabulary.ClassNames(BaseClasses).to(device)).Logits, test, BaseClasses, options),
                Accuracy(i => coop.Forward(i, Vocabulary.ClassNames(NewClasses).to(device)).Logits, test, NewClasses, options),
                CoOp.Summary.TrainableParameters));
        }

        // 4. PRE: the same context produced by a residual BiLSTM prompt encoder, folded away afterwards.
        double foldDifference;
        using (var pre = new Pre(device))
        {
            Load(pre, weights, "text.context.");
            pre.Text.Context.InitializeFrom(pre.Text.Embed.Weight.index_select(0, tensor(Vocabulary.PromptIds(), device: device)));
            pre.ClassNamesInput = Vocabulary.ClassNames(BaseClasses).to(device);
            KeepBest(pre, pre.Fit(shots, validation, Options(options, "pre", options.PromptEpochs, batchSize: 16, learningRate: options.PromptLearningRate ?? 2e-3)), options);
            rows.Add(new("PRE (BiLSTM-reparameterised context)",
                Accuracy(i => pre.Forward(i, Vocabulary.ClassNames(BaseClasses).to(device)).Logits, test, BaseClasses, options),
                Accuracy(i => pre.Forward(i, Vocabulary.ClassNames(NewClasses).to(device)).Logits, test, NewClasses, options),
                Pre.Summary.TrainableParameters));
            foldDifference = FoldAndCompare(pre, Vocabulary.ClassNames(NewClasses).to(device));
        }

        var data = $"{source}; {options.Shots}-shot prompt tuning on classes 0-4, {options.PromptEpochs} epochs"
            + (options.Validation > 0 ? $", best of them by validation loss on {options.Validation} more images per class" : "")
            + (options.HoldOut ? "; shots and validation images held out of pretraining" : "")
            + (options.Shift is { } shift ? $"; downstream images {Vocabulary.AttributeWords[shift]} (pretraining on plain images)" : "")
            + (options.ClipWeights is { } w ? $"; CLIP loaded from {w}" : "");
        return new PromptResults(rows, options.ClipWeights is null ? options.EffectivePretrainEpochs : 0, pretrainAccuracy, foldDifference, clock.Elapsed, data);
    }

    // With a validation set, the epoch of lowest validation loss rather than the last.
    private static void KeepBest(TorchSharp.torch.nn.Module model, TrainReport report, ExampleOptions options)
    {
        if (options.Validation == 0 || options.Smoke) return;
        options.Log.WriteLine($"{model.GetType().Name}: best val_loss {report.BestValue:G4} at step {report.BestStep}");
        Checkpoint.Load(model, report.BestCheckpointPath ?? throw new InvalidOperationException("Prompt tuning wrote no best checkpoint."));
    }

    // A frozen CLIP's weights into a prompted model; only the prompt parameters may be missing.
    internal static void Load(TorchSharp.torch.nn.Module model, Dictionary<string, Tensor> weights, string promptPrefix)
    {
        var (missing, unexpected) = model.load_state_dict(weights, strict: false);
        var notPrompt = missing.Where(m => !m.StartsWith(promptPrefix, StringComparison.Ordinal)).ToList();
        if (notPrompt.Count > 0 || unexpected.Count > 0)
            throw new InvalidOperationException($"The pretrained weights do not fit: missing {string.Join(", ", notPrompt)}; unexpected {string.Join(", ", unexpected)}.");
    }

    // Folding the BiLSTM into plain tokens must leave the class features as they were.
    private static double FoldAndCompare(Pre pre, Tensor classNames)
    {
        using var _ = no_grad();
        using var before = pre.Text.Forward(classNames).Features;
        pre.Text.Context.Fold();
        using var after = pre.Text.Forward(classNames).Features;
        if (pre.Text.state_dict().Keys.Any(k => k.StartsWith("context.encoder", StringComparison.Ordinal)))
            throw new InvalidOperationException("Fold left the prompt encoder in the state_dict.");
        return (before - after).abs().max().item<float>();
    }

    internal static TrainOptions Options(ExampleOptions options, string name, int epochs, int batchSize, double learningRate)
    {
        var train = new TrainOptions
        {
            Epochs = epochs,
            BatchSize = batchSize,
            LearningRate = learningRate,
            Seed = options.Seed,
            Device = options.Device,
            ShowProgress = false,
            OutputDirectory = options.OutputDirectory is null ? null : Path.Combine(options.OutputDirectory, name),
            WriteCurves = false,
        };
        return options.Smoke ? train.ForSmoke() : train;
    }

    /// <summary>Top-1 accuracy among <paramref name="classes"/> on the test images of those classes.</summary>
    public static double Accuracy(Func<Tensor, Tensor> logitsOf, TensorDataset test, int[] classes, ExampleOptions options)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var labels = test[FashionMnist.LabelColumn];
        var mask = zeros_like(labels, ScalarType.Bool);
        foreach (var c in classes) mask = mask.logical_or(labels.eq(c));
        var rows = mask.nonzero().squeeze(1);
        var device = options.Device ?? Devices.Default;
        // Labels as positions in `classes`.
        var remap = full(10, -1L, ScalarType.Int64);
        for (var i = 0; i < classes.Length; i++) remap[classes[i]] = i;
        long correct = 0, total = 0;
        const int batch = 500;
        var batches = options.Smoke ? Math.Min(2, (rows.shape[0] + batch - 1) / batch) : (rows.shape[0] + batch - 1) / batch;
        for (var b = 0L; b < batches; b++)
        {
            using var inner = NewDisposeScope();
            var index = rows.narrow(0, b * batch, Math.Min(batch, rows.shape[0] - b * batch));
            var images = test[FashionMnist.ImageColumn].index_select(0, index).to(device);
            var target = remap.index_select(0, labels.index_select(0, index)).to(device);
            correct += logitsOf(images).argmax(1).eq(target).sum().item<long>();
            total += index.shape[0];
        }
        return (double)correct / total;
    }

    /// <summary>Image-caption pairs: image i and a caption of its class from a template chosen at random.</summary>
    public static TensorDataset CaptionPairs(TensorDataset data, long seed)
    {
        var random = new Random((int)seed);
        var labels = data[FashionMnist.LabelColumn].data<long>().ToArray();
        var ids = labels.SelectMany(l => Vocabulary.Caption(Vocabulary.Templates[random.Next(Vocabulary.Templates.Length)], (int)l)).ToArray();
        return new TensorDataset(("image", data[FashionMnist.ImageColumn].clone()), ("text", tensor(ids, new long[] { labels.Length, Vocabulary.Length })));
    }

    /// <summary>
    /// <paramref name="shots"/> random training images of each of <paramref name="classes"/> and
    /// <paramref name="validation"/> further ones, as (image index, position of the class in <paramref name="classes"/>).
    /// </summary>
    public static (List<(long Index, long Label)> Shots, List<(long Index, long Label)> Validation) FewShot(TensorDataset data, int[] classes, int shots, int validation, long seed)
    {
        var random = new Random((int)seed + 1);
        var labels = data[FashionMnist.LabelColumn].data<long>().ToArray();
        var picked = new List<(long, long)>();
        var held = new List<(long, long)>();
        for (var c = 0; c < classes.Length; c++)
        {
            var of = Enumerable.Range(0, labels.Length).Where(i => labels[i] == classes[c]).OrderBy(_ => random.Next()).ToList();
            if (of.Count < shots + validation)
                throw new ArgumentException($"Class {classes[c]} has {of.Count} training images; {shots} shots and {validation} validation images need {shots + validation}.");
            picked.AddRange(of.Take(shots).Select(i => ((long)i, (long)c)));
            held.AddRange(of.Skip(shots).Take(validation).Select(i => ((long)i, (long)c)));
        }
        return (picked, held);
    }

    /// <summary>The dataset with its images under <paramref name="shift"/> (a new dataset; the given one is disposed), or the dataset itself without one.</summary>
    public static TensorDataset Shifted(TensorDataset data, int? shift)
    {
        if (shift is not { } attribute) return data;
        using (data)
            return new TensorDataset(data.Names.Select(n => new KeyValuePair<string, Tensor>(n, n == FashionMnist.ImageColumn ? Compositional.Apply(data[n], attribute) : data[n].clone())));
    }

    /// <summary>The images at the given indices with their new labels, as prompt tuning's batches.</summary>
    public static TensorDataset Labelled(TensorDataset data, List<(long Index, long Label)> picked)
    {
        var index = tensor(picked.Select(p => p.Index).ToArray());
        return new TensorDataset(("image", data[FashionMnist.ImageColumn].index_select(0, index)), ("label", tensor(picked.Select(p => p.Label).ToArray())));
    }

    internal static (TensorDataset Train, TensorDataset Test, string Source) Load(ExampleOptions options)
    {
        if (options.DataFolder is { } folder)
        {
            var (train, test) = FashionMnist.Load(folder);
            return (train, test, $"Fashion-MNIST from {folder} ({train.Count:N0} train / {test.Count:N0} test)");
        }
        if (options.Full)
        {
            var (train, test) = FashionMnist.LoadInstalled();
            return (train, test, $"full Fashion-MNIST ({train.Count:N0} train / {test.Count:N0} test)");
        }
        var (embeddedTrain, embeddedTest) = FashionMnist.LoadEmbedded();
        return (embeddedTrain, embeddedTest, $"embedded Fashion-MNIST subset ({embeddedTrain.Count:N0} train / {embeddedTest.Count:N0} test)");
    }
}
