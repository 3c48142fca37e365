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

namespace TaskTokensExample;

/// <summary>One task: its test metric with the four-task model and with its single-task baseline.</summary>
/// <param name="Task">The task's name.</param>
/// <param name="Metric">What is measured: accuracy, MAE in degrees, or mask IoU.</param>
/// <param name="HigherIsBetter">False for the MAE.</param>
public sealed record TaskRow(string Task, string Metric, bool HigherIsBetter, double MultiTask, double SingleTask, string Baseline);

/// <summary>One trained model.</summary>
public sealed record ModelRun(string Model, long Parameters, int Epochs, TimeSpan WallTime);

/// <summary>The results of <see cref="Experiment.Run"/>.</summary>
public sealed record ExperimentResults(string Data, long TrainCount, long TestCount, double CoarseLabelledFraction,
    IReadOnlyList<TaskRow> Tasks, IReadOnlyList<ModelRun> Models)
{
    /// <summary>The tables as Markdown.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Fashion-MNIST ({Data}: {TrainCount:N0} train, {TestCount:N0} test), every image rotated by a random angle in [-45°, 45°]; coarse labels on {CoarseLabelledFraction:P0} of the training images; same seed and {Models.FirstOrDefault()?.Epochs} epochs for each model:");
        text.AppendLine();
        text.AppendLine("| Task | Test metric | Four task tokens | Single task | Baseline model |");
        text.AppendLine("|---|---|---:|---:|---|");
        foreach (var t in Tasks)
            text.AppendLine(CultureInfo.InvariantCulture, $"| {t.Task} | {t.Metric} | {Format(t, t.MultiTask)} | {Format(t, t.SingleTask)} | {t.Baseline} |");
        text.AppendLine();
        text.AppendLine("| Model | Parameters | Wall time |");
        text.AppendLine("|---|---:|---:|");
        foreach (var m in Models)
            text.AppendLine(CultureInfo.InvariantCulture, $"| {m.Model} | {m.Parameters:N0} | {m.WallTime.TotalSeconds:F0} s |");
        return text.ToString().TrimEnd();
    }

    private static string Format(TaskRow row, double value) =>
        row.Metric.StartsWith("MAE", StringComparison.Ordinal)
            ? value.ToString("F2", CultureInfo.InvariantCulture) + "°"
            : row.Metric.StartsWith("IoU", StringComparison.Ordinal)
                ? value.ToString("F3", CultureInfo.InvariantCulture)
                : value.ToString("P2", CultureInfo.InvariantCulture);
}

/// <summary>
/// Family 4 (task tokens): one model with four task tokens decoded over a small ViT, a head and a
/// loss per task, trained against each task's single-task model with the same backbone and budget.
/// </summary>
public static class Experiment
{
    /// <summary>The embedded subset's default: about 5 minutes for the five runs on one CPU thread here.</summary>
    public const int DefaultEpochs = 6;

    /// <summary>The default with the full 60,000 training images (7.5 times the subset).</summary>
    public const int DefaultFullEpochs = 3;

    public static ExperimentResults Run(ExampleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var log = options.Log;
        var folder = options.Folder;
        var (plainTrain, plainTest) = FashionMnist.Load(folder);
        TensorDataset train, test;
        using (plainTrain)
        using (plainTest)
            (train, test) = TaskData.Create(plainTrain, plainTest, options.Seed);
        using var _train = train;
        using var _test = test;
        var device = options.Device ?? Devices.Default;
        var labelled = train["coarse_present"].to_type(ScalarType.Float32).mean().item<float>();
        log.WriteLine($"Data: {folder ?? "embedded subset"}: {train.Count:N0} train, {test.Count:N0} test images, coarse labels on {labelled:P1}; device {device}");

        var models = new List<ModelRun>();
        var multi = Train("four task tokens", MultiTaskVit.Summary, () => new MultiTaskVit(device), train, test, options, device, models);
        var category = Train("category only", CategoryVit.Summary, () => new CategoryVit(device), train, test, options, device, models);
        var coarse = Train("coarse only", CoarseVit.Summary, () => new CoarseVit(device), train, test, options, device, models);
        var angle = Train("angle only", AngleVit.Summary, () => new AngleVit(device), train, test, options, device, models);
        var mask = Train("mask only", MaskVit.Summary, () => new MaskVit(device), train, test, options, device, models);

        var rows = new List<TaskRow>
        {
            new("Category (10 classes)", "accuracy", true, multi["category_accuracy"], category["category_accuracy"], nameof(CategoryVit)),
            new("Coarse (3 groups, labels on half)", "accuracy", true, multi["coarse_accuracy"], coarse["coarse_accuracy"], nameof(CoarseVit)),
            new("Rotation angle", "MAE in degrees", false, multi["angle_mae"] * TaskData.MaxAngle, angle["angle_mae"] * TaskData.MaxAngle, nameof(AngleVit)),
            new("Foreground mask", "IoU", true, multi["mask_iou"], mask["mask_iou"], nameof(MaskVit)),
        };
        return new ExperimentResults(folder ?? "embedded subset", train.Count, test.Count, labelled, rows, models);
    }

    private static IReadOnlyDictionary<string, double> Train<TBatch>(string name, ModelSummary summary, Func<TrainableModule<TBatch>> create,
        TensorDataset train, TensorDataset test, ExampleOptions options, Device device, List<ModelRun> runs)
    {
        var log = options.Log;
        // Nothing is chosen on held-out data (the last epoch is reported): no validation split; the test split is read once, after training.
        IReadOnlyDictionary<string, double> metrics = new Dictionary<string, double>();
        var (report, wallTime) = options.Train(name, summary, create, train, null, options.EpochsOr(DefaultEpochs, DefaultFullEpochs), device,
            model => metrics = model.Evaluate(test, options.TestEvaluation(device)));
        runs.Add(new ModelRun(summary.Model, summary.TotalParameters, report.Epochs.Count, wallTime));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: test {string.Join(", ", metrics.Select(kv => $"{kv.Key} {kv.Value:F4}"))} in {wallTime.TotalSeconds:F0} s"));
        return metrics;
    }
}
