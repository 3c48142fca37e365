using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using ModelDsl.Tests.Data;
using ModelDsl.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Training;

public class ResumeTests : SingleThreadedTorch
{
    // 600 rows in batches of 40: 15 batches per epoch, accumulated 2 at a time: 8 steps per epoch
    // (the last of one batch), 24 steps in 3 epochs, evaluated every 5 steps and at the end. The
    // model has dropout, so the RNG state matters.
    private static TrainOptions Options(string output, CancellationToken token = default) => new()
    {
        Epochs = 3,
        BatchSize = 40,
        GradientAccumulationSteps = 2,
        EvaluateEveryNSteps = 5,
        LearningRate = 3e-3,
        WarmupSteps = 3,
        Schedule = ScheduleKind.Linear,
        Seed = 5,
        Device = CPU,
        OutputDirectory = output,
        ShowProgress = false,
        Log = TextWriter.Null,
        WriteCurves = false,
        CancellationToken = token,
        SyncEveryNSteps = 3,
    };

    [Theory]
    [InlineData(13)]   // step 7: mid-epoch, between evaluations (running means and accumulation state saved)
    [InlineData(15)]   // step 8: the last batch of epoch 1
    [InlineData(19)]   // step 10: right after an evaluation
    public void A_resumed_run_reproduces_the_uninterrupted_run_bit_for_bit(int cancelOnCall)
    {
        using var train = TestData.EmbeddedTrain.Take(600);
        using var validation = TestData.EmbeddedTest.Take(100);

        using var referenceDir = new TempDir();
        torch.manual_seed(31);
        using var reference = new InterruptingMlp(-1, new CancellationTokenSource());
        var uninterrupted = reference.Fit(train, validation, Options(referenceDir.Path));
        Assert.Equal(24, uninterrupted.Steps);

        using var dir = new TempDir();
        using var source = new CancellationTokenSource();
        torch.manual_seed(31);
        List<float> lossesBeforeInterruption;
        using (var first = new InterruptingMlp(cancelOnCall, source))
        {
            var interrupted = first.Fit(train, validation, Options(dir.Path, source.Token));
            Assert.Equal(TrainStop.Interrupted, interrupted.Stop);
            Assert.Equal((cancelOnCall + 1) / 2, interrupted.Steps);
            lossesBeforeInterruption = first.Losses;
        }

        torch.manual_seed(999);   // a different initialisation: everything must come from the checkpoint
        using var resumed = new InterruptingMlp(-1, new CancellationTokenSource());
        var continued = resumed.Fit(train, validation, Options(dir.Path) with { ResumeFrom = Path.Combine(dir.Path, "last.ckpt") });

        Assert.Equal((cancelOnCall + 1) / 2, continued.ResumedFromStep);
        Assert.Equal(TrainStop.Completed, continued.Stop);
        Assert.Equal(uninterrupted.Steps, continued.Steps);
        Assert.Equal(uninterrupted.Epochs.Select(r => r.Step), continued.Epochs.Select(r => r.Step));
        // Bit for bit: every batch's loss (the interrupted part, then the resumed part) equals the
        // uninterrupted run's exactly, and so does every logged loss, metric and rate.
        Assert.Equal(15 * 3, reference.Losses.Count);
        Assert.Equal(reference.Losses, lossesBeforeInterruption.Concat(resumed.Losses));
        Assert.Equal(uninterrupted.Epochs.Select(r => r.TrainLoss), continued.Epochs.Select(r => r.TrainLoss));
        Assert.Equal(uninterrupted.Epochs.Select(r => r.ValidationLoss), continued.Epochs.Select(r => r.ValidationLoss));
        Assert.Equal(uninterrupted.Epochs.Select(r => r.TrainMetrics["accuracy"]), continued.Epochs.Select(r => r.TrainMetrics["accuracy"]));
        Assert.Equal(uninterrupted.Epochs.Select(r => r.ValidationMetrics["accuracy"]), continued.Epochs.Select(r => r.ValidationMetrics["accuracy"]));
        Assert.Equal(uninterrupted.Epochs.Select(r => r.LearningRate), continued.Epochs.Select(r => r.LearningRate));
        Assert.Equal(uninterrupted.BestStep, continued.BestStep);
        foreach (var ((name, p), (_, q)) in reference.named_parameters().Zip(resumed.named_parameters()))
            Assert.True(p.equal(q).all().item<bool>(), $"{name} differs after resuming");

        // The resumed run's metrics files hold the whole history, as the uninterrupted run's do.
        Assert.Equal(File.ReadAllLines(Path.Combine(referenceDir.Path, "metrics.jsonl")).Length, File.ReadAllLines(continued.MetricsPath!).Length);
        Assert.Equal(
            File.ReadAllLines(Path.Combine(referenceDir.Path, "metrics.csv")).Select(StripTimings),
            File.ReadAllLines(continued.MetricsCsvPath!).Select(StripTimings));
    }

    private static string StripTimings(string csvLine) => string.Join(",", csvLine.Split(',').SkipLast(2));

    [Fact]
    public void Resuming_with_options_that_change_the_data_order_is_refused_naming_them()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(200);
        torch.manual_seed(32);
        using var model = new TinyMlp(hidden: 4);
        var options = Options(dir.Path) with { Epochs = 1, GradientAccumulationSteps = 1 };
        model.Fit(train, null, options);

        var e = Assert.Throws<InvalidOperationException>(() =>
            model.Fit(train, null, options with { BatchSize = 20, Seed = 6, ResumeFrom = dir.Path }));

        Assert.Contains("BatchSize: checkpoint 40, now 20", e.Message);
        Assert.Contains("Seed: checkpoint 5, now 6", e.Message);
    }

    [Fact]
    public void Resuming_a_finished_run_trains_nothing_and_returns_its_records()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(120);
        torch.manual_seed(33);
        using var model = new TinyMlp(hidden: 4);
        var options = Options(dir.Path) with { Epochs = 2, EvaluateEveryNSteps = null };
        var first = model.Fit(train, null, options);
        var before = model.parameters().Select(p => p.detach().clone()).ToList();

        var again = model.Fit(train, null, options with { ResumeFrom = dir.Path });

        Assert.Equal(first.Steps, again.Steps);
        Assert.Equal(first.Epochs.Select(r => r.TrainLoss), again.Epochs.Select(r => r.TrainLoss));
        Assert.All(model.parameters().Zip(before), pair => Assert.True(pair.First.equal(pair.Second).all().item<bool>()));
    }

    [Fact]
    public void A_model_only_checkpoint_cannot_be_resumed()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(100);
        using var model = new TinyMlp(hidden: 4);
        Checkpoint.Save(model, dir.File("weights.ckpt"));

        var e = Assert.Throws<InvalidOperationException>(() =>
            model.Fit(train, null, Options(dir.Path) with { ResumeFrom = dir.File("weights.ckpt") }));

        Assert.Contains("model-only checkpoint", e.Message);
    }
}
