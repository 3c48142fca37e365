using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using ChannelVitExample;
using ModelDsl;
using ModelDsl.Data;
using ModelDsl.Examples;
using ModelDsl.Training;
using ModelDsl.Weights;
using static TorchSharp.torch;

namespace UserStageExample;

/// <summary>What the example measured: the two models' agreement, their Summaries, and (after training) their test accuracy.</summary>
public sealed record UserStageResults(
    double MaxLogitDifference,
    double MaxTokenDifference,
    IReadOnlyList<string> SummaryDifferences,
    string LoadReport,
    double UserTestAccuracy,
    double BuiltInTestAccuracy,
    int Epochs)
{
    /// <summary>Outputs equal to 1e-6 and the same Summary rows (kind column aside).</summary>
    public bool Equivalent => MaxLogitDifference <= 1e-6 && MaxTokenDifference <= 1e-6 && SummaryDifferences.Count == 0;

    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine($"Built-in weights loaded into the user stage model: {LoadReport}");
        text.AppendLine($"max |logits difference| {MaxLogitDifference:E2}, max |tokens difference| {MaxTokenDifference:E2} (same input, eval mode)");
        text.AppendLine(SummaryDifferences.Count == 0
            ? "Summary rows: identical (stage, output, parameters, trainable); only the kind column names the user's type"
            : "Summary rows differ: " + string.Join("; ", SummaryDifferences));
        text.AppendLine($"Trained {Epochs} epoch(s) from the same initial weights and seed: test accuracy user stage {UserTestAccuracy:P2}, built-in {BuiltInTestAccuracy:P2}");
        text.Append(Equivalent ? "Equivalent: yes" : "Equivalent: NO");
        return text.ToString();
    }
}

/// <summary>
/// The user-written <see cref="ChannelPatches"/> against the library's <c>[ChannelPatchEmbedding]</c>: the built-in
/// model's weights load into the user's (strict: the same names and shapes), both give the same outputs, and both train
/// alike from the same start. Validation is carved from the training images; the test split is read once, at the end.
/// </summary>
public static class UserStageExperiment
{
    public static UserStageResults Run(ExampleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var device = options.Device ?? Devices.Default;
        var folder = options.OutputDirectory ?? Path.Combine(Path.GetTempPath(), "modeldsl-user-stage");
        Directory.CreateDirectory(folder);
        var (grey, greyTest) = options.Folder is { } data ? FashionMnist.Load(data) : FashionMnist.LoadEmbedded();
        var (all, test) = ThreeChannels.Create(grey, greyTest);
        using var _ = all;
        using var __ = test;
        var validationCount = options.Smoke ? 256 : 1000;
        var order = randperm(all.Count, generator: new TorchSharp.torch.Generator((ulong)options.Seed)).data<long>().ToArray();
        using var validation = all.Subset(order.Take(validationCount).ToArray());
        using var train = all.Subset(order.Skip(validationCount).ToArray());

        // 1. The same weights in both: the built-in's initial weights, saved and loaded strictly into the user's.
        manual_seed(options.Seed);
        using var builtIn = new BuiltInChannelVit(device);
        using var user = new UserChannelVit(device);
        var initial = Path.Combine(folder, "initial.safetensors");
        builtIn.SaveSafetensors(initial);
        var report = user.Load(initial);

        double logits, tokens;
        using (no_grad())
        {
            builtIn.eval();
            user.eval();
            var images = validation[FashionMnist.ImageColumn].narrow(0, 0, 64).to(device);
            var a = builtIn.Forward(images);
            var b = user.Forward(images);
            logits = (a.Logits - b.Logits).abs().max().item<float>();
            tokens = (a.Tokens - b.Tokens).abs().max().item<float>();
        }
        var differences = SummaryDifferences(BuiltInChannelVit.Summary, UserChannelVit.Summary);
        options.Log.WriteLine(BuiltInChannelVit.Summary);
        options.Log.WriteLine(UserChannelVit.Summary);

        // 2. Both trained alike from that start (same seed, same batches): the user stage trains as the built-in does.
        var epochs = options.EpochsOr(embeddedDefault: 2, fullDefault: 5);
        var accuracy = new double[2];
        options.Train<UserChannelVitBatch>("user stage", UserChannelVit.Summary, () =>
        {
            TrainableModule<UserChannelVitBatch> model = new UserChannelVit(device);
            model.Load(initial);
            return model;
        }, train, validation, epochs, device, model => accuracy[0] = model.Evaluate(test)["accuracy"]);
        options.Train<BuiltInChannelVitBatch>("built-in", BuiltInChannelVit.Summary, () =>
        {
            TrainableModule<BuiltInChannelVitBatch> model = new BuiltInChannelVit(device);
            model.Load(initial);
            return model;
        }, train, validation, epochs, device, model => accuracy[1] = model.Evaluate(test)["accuracy"]);
        return new UserStageResults(logits, tokens, differences, report.ToString(), accuracy[0], accuracy[1], epochs);
    }

    /// <summary>Rows that differ in anything but the kind column (which names the user's type).</summary>
    public static IReadOnlyList<string> SummaryDifferences(ModelSummary builtIn, ModelSummary user)
    {
        var differences = new List<string>();
        if (builtIn.Rows.Count != user.Rows.Count)
            differences.Add($"{builtIn.Rows.Count} rows against {user.Rows.Count}");
        foreach (var (a, b) in builtIn.Rows.Zip(user.Rows))
        {
            if (a.Stage != b.Stage || a.Output != b.Output || a.Parameters != b.Parameters || a.Frozen != b.Frozen)
                differences.Add($"{a.Stage} {a.Output} {a.Parameters} against {b.Stage} {b.Output} {b.Parameters}");
        }
        return differences;
    }
}
