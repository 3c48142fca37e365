using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using ModelDsl.Data;
using ModelDsl.Examples;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace ChannelVitExample;

/// <summary>Test accuracy (in [0,1]) of both models with one set of channels present.</summary>
public sealed record ChannelRow(string Channels, double ChannelVitAccuracy, double PlainVitAccuracy);

/// <summary>One trained model: its parameters (from the generated <c>Summary</c>), epochs and wall time (training and the four evaluations).</summary>
public sealed record ModelRun(string Model, long Parameters, int Epochs, TimeSpan WallTime);

/// <summary>The results table of <see cref="Experiment.Run"/>.</summary>
public sealed record ExperimentResults(string Data, long TrainCount, long TestCount, IReadOnlyList<ChannelRow> Rows, IReadOnlyList<ModelRun> Models)
{
    /// <summary>The tables as Markdown.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Fashion-MNIST as 3 channels ({Data}: {TrainCount:N0} train, {TestCount:N0} test), test accuracy with the channels present:");
        text.AppendLine();
        text.AppendLine("| Channels at test time | ChannelViT | Plain ViT (missing channels = 0) |");
        text.AppendLine("|---|---:|---:|");
        foreach (var r in Rows)
            text.AppendLine(CultureInfo.InvariantCulture, $"| {r.Channels} | {r.ChannelVitAccuracy:P2} | {r.PlainVitAccuracy:P2} |");
        text.AppendLine();
        text.AppendLine("| Model | Parameters | Epochs | Wall time |");
        text.AppendLine("|---|---:|---:|---:|");
        foreach (var m in Models)
            text.AppendLine(CultureInfo.InvariantCulture, $"| {m.Model} | {m.Parameters:N0} | {m.Epochs} | {m.WallTime.TotalSeconds:F0} s |");
        return text.ToString().TrimEnd();
    }
}

/// <summary>
/// Turns grey Fashion-MNIST images into 3 channels that each carry the class on their own: the raw
/// image, its edge magnitude (Sobel) and a Gaussian blur (sigma 1.5); each channel is normalised to
/// mean 0 and standard deviation 1 with the training split's statistics.
/// </summary>
public static class ThreeChannels
{
    /// <summary>The channel names, by index.</summary>
    public static IReadOnlyList<string> Names { get; } = ["raw", "edge", "blur"];

    /// <summary>The Gaussian's standard deviation in pixels.</summary>
    public const double BlurSigma = 1.5;

    /// <summary>
    /// Both splits as 3-channel datasets (columns <c>image</c> float32 <c>[N,3,28,28]</c> and <c>label</c>),
    /// normalised with the statistics of <paramref name="train"/>; the inputs are not changed.
    /// </summary>
    public static (TensorDataset Train, TensorDataset Test) Create(TensorDataset train, TensorDataset test)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        using var scope = NewDisposeScope();
        var trainFeatures = Features(train[FashionMnist.ImageColumn]);
        var dims = new long[] { 0, 2, 3 };
        var mean = trainFeatures.mean(dims, keepdim: true);
        var std = trainFeatures.std(dims, keepdim: true);
        TensorDataset Build(Tensor features, TensorDataset source) => new(
            (FashionMnist.ImageColumn, ((features - mean) / std).MoveToOuterDisposeScope()),
            (FashionMnist.LabelColumn, source[FashionMnist.LabelColumn].clone().MoveToOuterDisposeScope()));
        var trainSet = Build(trainFeatures, train);
        try
        {
            return (trainSet, Build(Features(test[FashionMnist.ImageColumn]), test));
        }
        catch
        {
            trainSet.Dispose();
            throw;
        }
    }

    /// <summary>A copy of <paramref name="data"/> whose image channels other than <paramref name="keep"/> are 0 (the training mean).</summary>
    public static TensorDataset KeepOnly(TensorDataset data, IReadOnlyCollection<int> keep)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(keep);
        using var scope = NewDisposeScope();
        var image = data[FashionMnist.ImageColumn].clone();
        var drop = Enumerable.Range(0, (int)image.shape[1]).Where(c => !keep.Contains(c)).Select(c => (long)c).ToArray();
        if (drop.Length > 0)
            image.index_fill_(1, tensor(drop, device: image.device), 0.0);
        return new TensorDataset(
            (FashionMnist.ImageColumn, image.MoveToOuterDisposeScope()),
            (FashionMnist.LabelColumn, data[FashionMnist.LabelColumn].clone().MoveToOuterDisposeScope()));
    }

    /// <summary><c>[N,1,28,28]</c> normalised grey images to unnormalised <c>[N,3,28,28]</c> raw, edge, blur (pixel scale 0..1).</summary>
    public static Tensor Features(Tensor image)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var scope = NewDisposeScope();
        var raw = image * FashionMnist.Std + FashionMnist.Mean;          // back to 0..1
        var sobelX = tensor(new float[] { -1, 0, 1, -2, 0, 2, -1, 0, 1 }, new long[] { 1, 1, 3, 3 }, device: image.device);
        var sobelY = sobelX.transpose(2, 3).contiguous();
        var gx = nn.functional.conv2d(raw, sobelX, padding: new long[] { 1, 1 });
        var gy = nn.functional.conv2d(raw, sobelY, padding: new long[] { 1, 1 });
        var edge = (gx * gx + gy * gy).sqrt();

        const int radius = 3;
        var offsets = arange(-radius, radius + 1, dtype: ScalarType.Float32, device: image.device);
        var g = (-(offsets * offsets) / (2 * BlurSigma * BlurSigma)).exp();
        g = g / g.sum();
        var kernel = g.unsqueeze(1).matmul(g.unsqueeze(0)).reshape(1, 1, 2 * radius + 1, 2 * radius + 1);
        var blur = nn.functional.conv2d(raw, kernel, padding: new long[] { radius, radius });
        return cat(new[] { raw, edge, blur }, 1).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Family 10 (structural embeddings): a ChannelViT and a plain ViT trained on the same 3-channel
/// images, then tested with all channels and with each channel alone. The ChannelViT embeds only the
/// channels present (<see cref="ModelDsl.Blocks.ChannelPatchEmbedding.ActiveChannels"/>); the plain
/// ViT must be given something for the missing ones, here 0, the training mean.
/// </summary>
public static class Experiment
{
    /// <summary>The embedded subset's default: about 5 minutes for both runs on a quiet 2-core CPU.</summary>
    public const int DefaultEpochs = 12;

    /// <summary>The default with the full 60,000 training images (7.5 times the subset).</summary>
    public const int DefaultFullEpochs = 4;

    /// <summary>The rows of the table: the channels present at test time.</summary>
    public static IReadOnlyList<(string Name, int[] Channels)> ChannelSets { get; } =
    [
        ("all (raw, edge, blur)", [0, 1, 2]),
        ("raw only", [0]),
        ("edge only", [1]),
        ("blur only", [2]),
    ];

    public static ExperimentResults Run(ExampleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var log = options.Log;
        var folder = options.Folder;
        TensorDataset train, test;
        {
            var (grey, greyTest) = FashionMnist.Load(folder);
            using (grey)
            using (greyTest)
                (train, test) = ThreeChannels.Create(grey, greyTest);
        }
        using var _train = train;
        using var _test = test;
        var device = options.Device ?? Devices.Default;
        log.WriteLine($"Data: {folder ?? "embedded subset"} as channels raw, edge, blur: {train}; {test.Count:N0} test images; device {device}");

        // Nothing is chosen on held-out data (the last epoch is reported): no validation split; the test split is read after training only.
        var evaluate = options.TestEvaluation(device);

        // ChannelViT: the channels that are missing are simply not embedded.
        var channelVitAccuracy = new double[ChannelSets.Count];
        var channelRun = Train("ChannelViT", ChannelVit.Summary, () => new ChannelVit(device), train, test, options, device, model =>
        {
            var vit = (ChannelVit)model;
            for (var i = 0; i < ChannelSets.Count; i++)
            {
                var channels = ChannelSets[i].Channels;
                vit.Patches.ActiveChannels = channels.Length == vit.Patches.Channels ? null : channels;
                channelVitAccuracy[i] = vit.Evaluate(test, evaluate)["accuracy"];
            }
            vit.Patches.ActiveChannels = null;
        });

        // Plain ViT: the missing channels are set to 0.
        var plainVitAccuracy = new double[ChannelSets.Count];
        var plainRun = Train("Plain ViT", PlainVit.Summary, () => new PlainVit(device), train, test, options, device, model =>
        {
            for (var i = 0; i < ChannelSets.Count; i++)
            {
                using var partial = ThreeChannels.KeepOnly(test, ChannelSets[i].Channels);
                plainVitAccuracy[i] = ((PlainVit)model).Evaluate(partial, evaluate)["accuracy"];
            }
        });

        var rows = ChannelSets.Select((set, i) => new ChannelRow(set.Name, channelVitAccuracy[i], plainVitAccuracy[i])).ToList();
        foreach (var row in rows)
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{row.Channels}: ChannelViT {row.ChannelVitAccuracy:P2}, plain ViT {row.PlainVitAccuracy:P2}"));
        return new ExperimentResults(folder ?? "embedded subset", train.Count, test.Count, rows, [channelRun, plainRun]);
    }

    private static ModelRun Train<TBatch>(string name, ModelDsl.ModelSummary summary, Func<TrainableModule<TBatch>> create,
        TensorDataset train, TensorDataset test, ExampleOptions options, Device device, Action<TrainableModule<TBatch>> evaluate)
    {
        var (report, wallTime) = options.Train(name, summary, create, train, null, options.EpochsOr(DefaultEpochs, DefaultFullEpochs), device, evaluate);
        return new ModelRun(name, summary.TotalParameters, report.Epochs.Count, wallTime);
    }
}
