using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using ModelDsl.Data;
using ModelDsl.Tests.Data;
using ModelDsl.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Training;

public class TrainerTests
{
    private static TrainOptions Quick(string? output) => new()
    {
        Epochs = 2,
        BatchSize = 50,
        LearningRate = 3e-3,
        Device = CPU,
        OutputDirectory = output,
        ShowProgress = false,
        Log = TextWriter.Null,
    };

    [Fact]
    public void A_short_run_lowers_the_loss_and_writes_metrics_and_a_checkpoint_that_loads_back()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(1000);
        using var validation = TestData.EmbeddedTest.Take(500);
        torch.manual_seed(1);
        using var model = new TinyMlp();
        var log = new StringWriter();

        var report = model.Fit(train, validation, Quick(dir.Path) with { Log = log });

        // Loss goes down and the model learns something.
        Assert.Equal(2, report.Epochs.Count);
        Assert.True(report.Epochs[1].TrainLoss < report.Epochs[0].TrainLoss,
            $"train loss {report.Epochs[0].TrainLoss} -> {report.Epochs[1].TrainLoss}");
        Assert.True(report.Epochs[1].TrainLoss < 1.5, $"train loss {report.Epochs[1].TrainLoss}");
        Assert.True(report.FinalValidation["accuracy"] > 0.6, $"val accuracy {report.FinalValidation["accuracy"]}");
        Assert.Equal(40, report.Steps);
        Assert.Equal(20, report.Epochs[0].Step);

        // metrics.jsonl: one object per epoch with the documented keys; the same lines go to the log.
        var lines = File.ReadAllLines(Path.Combine(dir.Path, "metrics.jsonl"));
        Assert.Equal(2, lines.Length);
        using (var json = JsonDocument.Parse(lines[1]))
        {
            var root = json.RootElement;
            foreach (var key in new[] { "epoch", "step", "train_loss", "val_loss", "val_accuracy", "lr", "seconds" })
                Assert.True(root.TryGetProperty(key, out _), $"missing {key} in {lines[1]}");
            Assert.Equal(2, root.GetProperty("epoch").GetInt32());
            Assert.Equal(40, root.GetProperty("step").GetInt64());
            Assert.Equal(report.Epochs[1].TrainLoss, root.GetProperty("train_loss").GetDouble(), 12);
        }
        Assert.Contains(lines[0], log.ToString());
        Assert.Contains("params: 25,450 trainable", log.ToString());

        // last.ckpt (no leftover .tmp) loads into a fresh module and reproduces the outputs.
        Assert.Equal(Path.Combine(dir.Path, "last.ckpt"), report.CheckpointPath);
        Assert.False(File.Exists(report.CheckpointPath + ".tmp"));
        torch.manual_seed(99);
        using var fresh = new TinyMlp();
        using var scope = NewDisposeScope();
        var images = validation["image"].narrow(0, 0, 8);
        model.eval();
        fresh.eval();
        Assert.False(fresh.Forward(images).allclose(model.Forward(images)));
        Checkpoint.Load(fresh, report.CheckpointPath!);
        Assert.True(fresh.Forward(images).allclose(model.Forward(images)));
    }

    [Fact]
    public void Training_and_evaluation_leave_no_live_tensors_behind()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(300);
        using var validation = TestData.EmbeddedTest.Take(130);
        torch.manual_seed(5);
        using var model = new TinyMlp(hidden: 8);
        static long Live() => DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;

        model.Fit(train, validation, Quick(dir.Path) with { Epochs = 1 }); // warm-up: lazily created state
        long before = Live();
        model.Fit(train, validation, Quick(dir.Path) with { Epochs = 3, EvalBatchSize = 40 });
        model.Evaluate(validation, new TrainOptions { Device = CPU });

        Assert.Equal(before, Live()); // every per-step tensor was freed: memory stays flat
    }

    [Fact]
    public void A_NaN_loss_stops_training_naming_the_step_and_leaves_the_last_checkpoint_intact()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(200);
        torch.manual_seed(2);
        using var model = new NaNAtStepMlp(nanStep: 6);

        var e = Assert.Throws<NonFiniteLossException>(() =>
            model.Fit(train, null, Quick(dir.Path) with { Epochs = 3, MaxStepsPerEpoch = 4 }));

        Assert.Equal(6, e.Step);
        Assert.Equal(2, e.Epoch);
        Assert.Equal(2, e.BatchInEpoch);
        Assert.True(double.IsNaN(e.Loss));
        Assert.Contains("at step 6 (epoch 2, batch 2)", e.Message);
        Assert.Contains("is intact", e.Message);

        // Only epoch 1 completed; its checkpoint is still there and finite, while the model is not.
        Assert.Single(File.ReadAllLines(Path.Combine(dir.Path, "metrics.jsonl")));
        Assert.Equal(Path.Combine(dir.Path, "last.ckpt"), e.CheckpointPath);
        Assert.Contains(model.parameters(), p => p.isnan().any().item<bool>());
        using var restored = new TinyMlp();
        Checkpoint.Load(restored, e.CheckpointPath!);
        Assert.All(restored.parameters(), p => Assert.False(p.isnan().any().item<bool>()));
    }

    [Fact]
    public void MaxStepsPerEpoch_limits_the_steps_and_the_schedule_spans_the_run()
    {
        using var train = TestData.EmbeddedTrain.Take(400);
        torch.manual_seed(3);
        using var model = new TinyMlp(hidden: 8);

        var report = model.Fit(train, null, Quick(null) with { Epochs = 2, MaxStepsPerEpoch = 3, MinLearningRateRatio = 0.1, WarmupSteps = 0 });

        Assert.Equal(6, report.Steps);
        Assert.Null(report.CheckpointPath);
        Assert.Null(report.MetricsPath);
        Assert.Empty(report.FinalValidation);
        Assert.Null(report.Epochs[0].ValidationLoss);
        // Last step (index 5) of a 6-step cosine reaches the minimum ratio.
        Assert.Equal(3e-3 * 0.1, report.Epochs[1].LearningRate, 12);
    }

    [Fact]
    public void A_dataset_without_the_model_inputs_fails_with_the_names_it_has()
    {
        using var data = new TensorDataset(("pixels", zeros(4, 1, 28, 28)), ("label", zeros(4, dtype: ScalarType.Int64)));
        using var model = new TinyMlp(hidden: 4);

        var e = Assert.Throws<System.Collections.Generic.KeyNotFoundException>(() => model.Fit(data, null, Quick(null)));

        Assert.Contains("'image'", e.Message);
        Assert.Contains("pixels, label", e.Message);
    }

    [Fact]
    public void Invalid_options_name_the_setting()
    {
        using var data = TestData.EmbeddedTrain.Take(10);
        using var model = new TinyMlp(hidden: 4);

        var e = Assert.Throws<ArgumentException>(() => model.Fit(data, null, Quick(null) with { BatchSize = 0 }));

        Assert.Contains("TrainOptions.BatchSize", e.Message);
    }

    [Fact]
    public void Evaluate_returns_sample_weighted_means_over_uneven_batches()
    {
        using var data = TestData.EmbeddedTest.Take(130);
        torch.manual_seed(4);
        using var model = new TinyMlp(hidden: 4);

        var byBatches = model.Evaluate(data, new TrainOptions { Device = CPU, EvalBatchSize = 40 });
        var whole = model.Evaluate(data, new TrainOptions { Device = CPU, EvalBatchSize = 130 });

        Assert.Equal(whole["loss"], byBatches["loss"], 5);
        Assert.Equal(whole["accuracy"], byBatches["accuracy"], 6);
    }
}
