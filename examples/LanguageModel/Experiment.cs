using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using ModelDsl.Blocks;
using ModelDsl.Data;
using ModelDsl.Training;
using ModelDsl.Weights;
using static TorchSharp.torch;

namespace LanguageModelExample;

/// <summary>The experiment's sizes; <see cref="Smoke"/> shrinks every one of them to a few batches.</summary>
public sealed record ExperimentOptions
{
    public int PretrainWindows { get; init; } = 12_000;
    public int PretrainEpochs { get; init; } = 3;
    public int TaskPerTestament { get; init; } = 1_000;
    public int TestPerTestament { get; init; } = 300;
    public int TaskEpochs { get; init; } = 10;
    public long Seed { get; init; } = 1;
    public string? OutputDirectory { get; init; }
    public TextWriter Log { get; init; } = TextWriter.Null;

    public static ExperimentOptions Smoke { get; } = new()
    {
        PretrainWindows = 64, PretrainEpochs = 1, TaskPerTestament = 32, TestPerTestament = 16, TaskEpochs = 1,
    };
}

/// <summary>One row of the downstream comparison.</summary>
public sealed record TaskResult(string Method, long TrainableParameters, double Accuracy, double Seconds);

public sealed record ExperimentResults(
    int TrainWindows, double BitsPerByteBefore, double BitsPerByteAfter, double PretrainSeconds, string Sample,
    IReadOnlyList<TaskResult> Task);

/// <summary>
/// Pretrains <see cref="KjvLm"/> on the King James Version (bytes, windows of 96), samples from it, then compares four
/// ways of using it for a downstream task (which testament a verse is from, as the next byte after the verse): zero-shot,
/// prompt tuning and prefix tuning on the frozen LM, and full fine-tuning.
/// </summary>
public static class Experiment
{
    /// <summary>Pretraining windows fill the position table (Context = 96).</summary>
    public const int Window = 96;

    public static ExperimentResults Run(ExperimentOptions options)
    {
        var log = options.Log;
        var verses = Corpus.Load();
        var train = verses.Where(v => !Corpus.HeldOut(v)).ToList();
        var heldOut = verses.Where(Corpus.HeldOut).ToList();
        var output = options.OutputDirectory ?? Path.Combine(Path.GetTempPath(), "modeldsl-languagemodel-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(output);
        var weights = Path.Combine(output, "kjv-lm.safetensors");

        // 1. Pretraining.
        manual_seed(options.Seed);
        using var windows = Corpus.Windows(train, Window, Window, options.PretrainWindows);
        using var validation = Corpus.Windows(heldOut, Window, Window, options.PretrainWindows < 1000 ? 16 : 400);
        using var lm = new KjvLm();
        log.WriteLine(KjvLm.Summary);
        var before = BitsPerByte(lm, validation);
        var clock = Stopwatch.StartNew();
        // The dataset owns (and disposes) its columns: give it copies.
        using (var data = new TensorDataset(("ids", windows.clone()), ("labels", windows.clone())))
            lm.Fit(data, null, Recipe(options, output, "pretrain", options.PretrainEpochs, 3e-3));
        var pretrainSeconds = clock.Elapsed.TotalSeconds;
        var after = BitsPerByte(lm, validation);
        log.WriteLine($"pretraining: {windows.shape[0]} windows x {options.PretrainEpochs} epochs, {pretrainSeconds:0} s; validation bits per byte {before:0.000} -> {after:0.000}");
        lm.SaveSafetensors(weights);

        // 2. A sample (top-k 10, seed 1) up to the end of the position table, streamed as it comes.
        var prompt = Corpus.Tokenizer.Encode("And God said");
        var sample = new System.Text.StringBuilder("And God said");
        log.Write(sample);
        foreach (var step in lm.GenerateStream(new[] { prompt }, new GenerationOptions { Sample = true, TopK = 10, Seed = 1, MaxNewTokens = Window - prompt.Count }))
        {
            var text = Corpus.Tokenizer.Decode(new[] { step.Tokens[0]!.Value });
            sample.Append(text);
            log.Write(text);
        }
        log.WriteLine();

        // 3. The downstream task: train on verses outside the held-out set, test on held-out verses.
        var random = new Random((int)options.Seed);
        var (taskIds, taskLabels) = Corpus.Task(train, options.TaskPerTestament, random);
        var (testIds, testLabels) = Corpus.Task(heldOut, options.TestPerTestament, random);
        var results = new List<TaskResult>();
        results.Add(new("zero-shot (pretrained LM)", 0, Accuracy(lm, testIds, testLabels), 0));

        using (var prompted = new KjvPromptTuned())
        {
            prompted.Load(weights, LoadOptions.Strict with { Exclude = ["prompt"] });
            prompted.InitializePrompt(Corpus.Tokenizer);
            results.Add(Tune("prompt tuning (16 vectors, LM frozen)", prompted, taskIds, taskLabels, testIds, testLabels, options, output, 1e-1));
        }
        using (var prefixed = new KjvPrefixTuned())
        {
            prefixed.Load(weights, LoadOptions.Strict with { Exclude = ["prefix"] });
            results.Add(Tune("prefix tuning (8 positions, LM frozen)", prefixed, taskIds, taskLabels, testIds, testLabels, options, output, 3e-2));
        }
        using (var tuned = new KjvLm())
        {
            tuned.Load(weights);
            results.Add(Tune("full fine-tuning", tuned, taskIds, taskLabels, testIds, testLabels, options, output, 1e-3));
        }
        if (options.OutputDirectory is null)
            Directory.Delete(output, recursive: true);
        return new ExperimentResults((int)windows.shape[0], before, after, pretrainSeconds, sample.ToString(), results);
    }

    private static TaskResult Tune<TBatch>(string method, TrainableModule<TBatch> model, Tensor ids, Tensor labels, Tensor testIds, Tensor testLabels,
        ExperimentOptions options, string output, double learningRate)
        where TBatch : notnull
    {
        manual_seed(options.Seed);
        var trainable = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
        var clock = Stopwatch.StartNew();
        using (var data = new TensorDataset(("ids", ids.clone()), ("labels", labels.clone())))
            model.Fit(data, null, Recipe(options, output, method.Split(' ')[0], options.TaskEpochs, learningRate));
        var accuracy = Accuracy((ICausalLanguageModel)model, testIds, testLabels);
        options.Log.WriteLine($"{method}: {trainable:N0} trainable parameters, test accuracy {accuracy:P1}, {clock.Elapsed.TotalSeconds:0} s");
        return new TaskResult(method, trainable, accuracy, clock.Elapsed.TotalSeconds);
    }

    private static TrainOptions Recipe(ExperimentOptions options, string output, string run, int epochs, double learningRate) => new()
    {
        Epochs = epochs, BatchSize = 32, LearningRate = learningRate, WeightDecay = 0.01, Seed = options.Seed,
        OutputDirectory = Path.Combine(output, run), ShowProgress = false, Log = options.Log, WriteCurves = false,
    };

    /// <summary>The mean next-byte loss on held-out windows, in bits per byte.</summary>
    private static double BitsPerByte(KjvLm lm, Tensor windows)
    {
        lm.eval();
        using var _ = no_grad();
        double total = 0;
        long batches = 0;
        for (long start = 0; start < windows.shape[0]; start += 64, batches++)
        {
            using var scope = NewDisposeScope();
            var batch = windows.narrow(0, start, Math.Min(64, windows.shape[0] - start));
            total += lm.Loss.Compute(lm.Forward(batch).Logits, batch).item<float>();
        }
        lm.train();
        return total / batches / Math.Log(2);
    }

    /// <summary>The share of test verses whose 'O'/'N' logit at the label position picks the right testament.</summary>
    private static double Accuracy(ICausalLanguageModel model, Tensor ids, Tensor labels)
    {
        var module = (nn.Module)model;
        module.eval();
        using var _ = no_grad();
        long correct = 0;
        var position = ids.shape[1] - 2;   // the logits at '|' predict the label byte
        for (long start = 0; start < ids.shape[0]; start += 64)
        {
            using var scope = NewDisposeScope();
            var n = Math.Min(64, ids.shape[0] - start);
            var batch = ids.narrow(0, start, n);
            var logits = Logits(model, batch).select(1, position);
            var saysOld = logits.select(1, Corpus.Old).gt(logits.select(1, Corpus.New));
            var isOld = labels.narrow(0, start, n).select(1, ids.shape[1] - 1).eq(Corpus.Old);
            correct += saysOld.eq(isOld).sum().item<long>();
        }
        module.train();
        return (double)correct / ids.shape[0];
    }

    private static Tensor Logits(ICausalLanguageModel model, Tensor ids) => model switch
    {
        KjvLm m => m.Forward(ids).Logits,
        KjvPromptTuned m => m.Forward(ids).Logits,
        KjvPrefixTuned m => m.Forward(ids).Logits,
        _ => throw new ArgumentException($"Unknown model {model.GetType().Name}.", nameof(model)),
    };
}
