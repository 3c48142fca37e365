using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using ModelDsl;
using ModelDsl.Data;
using ModelDsl.Examples;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace ResamplerExample;

/// <summary>One configuration's result.</summary>
/// <param name="Configuration">What the head reads.</param>
/// <param name="TokensIntoHead">How many tokens the head's average pool reads.</param>
/// <param name="Parameters">All parameters of the model (from the generated <c>Summary</c>).</param>
/// <param name="ResamplerParameters">The resampler's share of them (0 without one).</param>
/// <param name="Accuracy">Test accuracy after the last epoch, in [0,1].</param>
/// <param name="Epochs">Epochs trained.</param>
/// <param name="WallTime">Training and evaluation wall time.</param>
public sealed record ResultRow(string Configuration, int TokensIntoHead, long Parameters, long ResamplerParameters, double Accuracy, int Epochs, TimeSpan WallTime);

/// <summary>The results table of <see cref="Experiment.Run"/>.</summary>
public sealed record ExperimentResults(string Data, long TrainCount, long TestCount, IReadOnlyList<ResultRow> Rows)
{
    /// <summary>The table as Markdown.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Fashion-MNIST ({Data}: {TrainCount:N0} train, {TestCount:N0} test), same seed and {Rows.FirstOrDefault()?.Epochs} epochs for each:");
        text.AppendLine();
        text.AppendLine("| Head reads | Tokens into head | Parameters | of which resampler | Test accuracy | Wall time |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var r in Rows)
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Configuration} | {r.TokensIntoHead} | {r.Parameters:N0} | {r.ResamplerParameters:N0} | {r.Accuracy:P2} | {r.WallTime.TotalSeconds:F0} s |");
        return text.ToString().TrimEnd();
    }
}

/// <summary>
/// Family 3 (learnable queries reading features by cross-attention): the same small ViT trained
/// three ways, its head averaging all 16 patch tokens of the encoder, or the 8 or 4 tokens a
/// <c>[Resampler]</c> makes of the encoder's 17.
/// </summary>
public static class Experiment
{
    /// <summary>The embedded subset's default: about 5 minutes for the three runs on a quiet 2-core CPU.</summary>
    public const int DefaultEpochs = 12;

    /// <summary>The default with the full 60,000 training images (7.5 times the subset).</summary>
    public const int DefaultFullEpochs = 4;

    /// <summary>The configurations, in table order.</summary>
    public static IReadOnlyList<string> Configurations { get; } =
        ["all encoder tokens (avg pool)", "Resampler, 8 queries", "Resampler, 4 queries"];

    public static ExperimentResults Run(ExampleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var log = options.Log;
        var folder = options.Folder;
        var (train, test) = FashionMnist.Load(folder);
        using var _train = train;
        using var _test = test;
        var device = options.Device ?? Devices.Default;
        log.WriteLine($"Data: {folder ?? "embedded subset"}: {train.Count:N0} train, {test.Count:N0} test images; device {device}");

        var rows = new List<ResultRow>
        {
            Train(Configurations[0], AllTokensVit.Summary, () => new AllTokensVit(device), train, test, options, device),
            Train(Configurations[1], Resampled8Vit.Summary, () => new Resampled8Vit(device), train, test, options, device),
            Train(Configurations[2], Resampled4Vit.Summary, () => new Resampled4Vit(device), train, test, options, device),
        };
        return new ExperimentResults(folder ?? "embedded subset", train.Count, test.Count, rows);
    }

    private static ResultRow Train<TBatch>(string name, ModelSummary summary, Func<TrainableModule<TBatch>> create,
        TensorDataset train, TensorDataset test, ExampleOptions options, Device device)
    {
        var log = options.Log;
        // Nothing is chosen on held-out data (the last epoch is reported): no validation split; the test split is read once, after training.
        double accuracy = double.NaN;
        var (report, wallTime) = options.Train(name, summary, create, train, null, options.EpochsOr(DefaultEpochs, DefaultFullEpochs), device,
            model => accuracy = model.Evaluate(test, options.TestEvaluation(device))["accuracy"]);
        var row = new ResultRow(name, TokensIntoHead(summary), summary.TotalParameters, Parameters(summary, "Resampler"),
            accuracy, report.Epochs.Count, wallTime);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: test accuracy {row.Accuracy:P2} in {row.WallTime.TotalSeconds:F0} s"));
        return row;
    }

    /// <summary>
    /// The tokens the head's average pool reads, from the compile-time summary: the output length of
    /// the stage before the head, less the prefix tokens (CLS, registers) when that stage is the encoder
    /// (average pooling skips them); a resampler's output has no prefix tokens.
    /// </summary>
    public static int TokensIntoHead(ModelSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var rows = summary.Rows;
        var head = rows.ToList().FindIndex(r => r.Kind == "ClassifierHead");
        if (head < 1) throw new ArgumentException($"{summary.Model} has no classifier head after a stage.", nameof(summary));
        var before = rows[head - 1];
        var tokens = Length(before.Output);
        if (before.Kind != "TransformerEncoder") return tokens;
        var prefix = 0;
        for (var i = 1; i < rows.Count; i++)
            if (rows[i].Kind is "ClsToken" or "RegisterTokens")
                prefix += Length(rows[i].Output) - Length(rows[i - 1].Output);
        return tokens - prefix;
    }

    private static long Parameters(ModelSummary summary, string kind) => summary.Rows.Where(r => r.Kind == kind).Sum(r => r.Parameters);

    // "[B,17,64]" -> 17
    private static int Length(string shape) => int.Parse(shape.Trim('[', ']').Split(',')[1], CultureInfo.InvariantCulture);

}
