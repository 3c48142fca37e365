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

public class TrainerTests : SingleThreadedTorch
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

        // last.ckpt and best.ckpt (no leftover temporary files) load into a fresh module and reproduce the outputs.
        Assert.Equal(Path.Combine(dir.Path, "last.ckpt"), report.CheckpointPath);
        Assert.Equal(Path.Combine(dir.Path, "best.ckpt"), report.BestCheckpointPath);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
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

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_NaN_loss_stops_training_naming_the_step_and_leaves_the_last_checkpoint_intact(double poison)
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(200);
        torch.manual_seed(2);
        using var model = new NaNAtStepMlp(nanStep: 6, poison);

        var e = Assert.Throws<NonFiniteLossException>(() =>
            model.Fit(train, null, Quick(dir.Path) with { Epochs = 3, MaxStepsPerEpoch = 4 }));

        Assert.Equal(6, e.Step);
        Assert.Equal(2, e.Epoch);
        Assert.Equal(2, e.BatchInEpoch);
        Assert.False(double.IsFinite(e.Loss));
        Assert.Contains("at step 6 (epoch 2, batch 2)", e.Message);
        Assert.Contains("is intact", e.Message);
        Assert.Contains("last.ckpt", e.Message);

        // Only epoch 1 completed; its checkpoint is still there and finite, while the model is not.
        Assert.Single(File.ReadAllLines(Path.Combine(dir.Path, "metrics.jsonl")));
        Assert.Equal(Path.Combine(dir.Path, "last.ckpt"), e.CheckpointPath);
        Assert.Equal(4, Checkpoint.ReadInfo(e.CheckpointPath!).Step);   // epoch 1's, hash verified: nothing overwrote it
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

public class TrainerFeatureTests : SingleThreadedTorch
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
    public void A_smoke_run_trains_two_steps_evaluates_two_batches_and_writes_every_file()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(1000);
        using var validation = TestData.EmbeddedTest.Take(500);
        torch.manual_seed(6);
        using var model = new TinyMlp(hidden: 8);
        var log = new StringWriter();

        var report = model.Fit(train, validation, Quick(dir.Path) with { Epochs = 20, Smoke = true, EvalBatchSize = 10, Log = log });

        Assert.Equal(2, report.Steps);
        Assert.Single(report.Epochs);
        Assert.Equal(TrainStop.Completed, report.Stop);
        foreach (var file in new[] { "metrics.jsonl", "metrics.csv", "last.ckpt", "best.ckpt", "curves.png" })
            Assert.True(File.Exists(Path.Combine(dir.Path, file)), $"{file} missing");
        Assert.Contains("(smoke run)", log.ToString());
        Assert.Contains("params: 6,370 trainable", log.ToString());   // the parameter report at start
        // The PNG is a PNG.
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(report.CurvesPath!).Take(4).ToArray());
    }

    [Fact]
    public void The_csv_log_has_a_header_and_one_row_per_evaluation_with_the_json_numbers()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(300);
        using var validation = TestData.EmbeddedTest.Take(100);
        torch.manual_seed(7);
        using var model = new TinyMlp(hidden: 8);

        var report = model.Fit(train, validation, Quick(dir.Path) with { Epochs = 1, EvaluateEveryNSteps = 2, WriteCurves = false });

        // 6 steps, evaluated every 2 steps: 3 records (the last at the end of the run).
        Assert.Equal([2L, 4, 6], report.Epochs.Select(r => r.Step));
        Assert.Null(report.CurvesPath);
        var csv = File.ReadAllLines(report.MetricsCsvPath!);
        Assert.Equal("epoch,step,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,samples_per_second", csv[0]);
        Assert.Equal(4, csv.Length);
        var cells = csv[3].Split(',');
        Assert.Equal("6", cells[1]);
        Assert.Equal(report.Epochs[2].TrainLoss, double.Parse(cells[2], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(report.Epochs[2].ValidationLoss, double.Parse(cells[4], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Gradient_accumulation_takes_the_same_steps_as_one_big_batch()
    {
        // 130 rows: batches of 20 accumulated 3 at a time give the rows of batches of 60 in the same
        // order ([60, 60, 10]); each batch's loss is weighted by its share of the step's rows.
        using var train = TestData.EmbeddedTrain.Take(130);
        var options = Quick(null) with { Epochs = 2, GradientClipNorm = 0.5, WarmupSteps = 1, Seed = 11 };

        torch.manual_seed(8);
        using var big = new TinyMlp(hidden: 16);
        torch.manual_seed(8);
        using var accumulated = new TinyMlp(hidden: 16);

        var a = big.Fit(train, null, options with { BatchSize = 60 });
        var b = accumulated.Fit(train, null, options with { BatchSize = 20, GradientAccumulationSteps = 3 });

        Assert.Equal(6, a.Steps);
        Assert.Equal(6, b.Steps);
        Assert.Equal(a.Epochs[1].TrainLoss, b.Epochs[1].TrainLoss, 5);
        foreach (var ((name, p), (_, q)) in big.named_parameters().Zip(accumulated.named_parameters()))
            Assert.True(p.allclose(q, rtol: 1e-4, atol: 1e-5), $"{name} differs");
    }

    [Fact]
    public void Early_stopping_stops_when_the_monitored_metric_stops_improving()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(200);
        using var validation = TestData.EmbeddedTest.Take(100);
        torch.manual_seed(9);
        using var model = new TinyMlp(hidden: 8);
        var log = new StringWriter();

        // A rate so small that val_loss cannot move by the minimum delta.
        var report = model.Fit(train, validation, Quick(dir.Path) with
        {
            Epochs = 10, LearningRate = 1e-7, EarlyStoppingPatience = 2, EarlyStoppingMinDelta = 0.05, Log = log, WriteCurves = false,
        });

        Assert.Equal(TrainStop.EarlyStopped, report.Stop);
        Assert.Equal(3, report.Epochs.Count);   // the first sets the best, two more without improvement
        Assert.Equal("val_loss", report.Monitor);
        Assert.Contains("Early stopping at step 12", log.ToString());
        Assert.True(CheckpointInfoOf(report.CheckpointPath!).Finished);
        Assert.True(File.Exists(report.BestCheckpointPath));
    }

    [Fact]
    public void The_best_checkpoint_follows_a_metric_where_higher_is_better()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(400);
        using var validation = TestData.EmbeddedTest.Take(200);
        torch.manual_seed(10);
        using var model = new TinyMlp(hidden: 16);

        var report = model.Fit(train, validation, Quick(dir.Path) with { Epochs = 3, Monitor = "val_accuracy", WriteCurves = false });

        var best = report.Epochs.MaxBy(r => r.ValidationMetrics["accuracy"])!;
        Assert.Equal(best.ValidationMetrics["accuracy"], report.BestValue);
        Assert.Equal(best.Step, report.BestStep);
        var info = CheckpointInfoOf(report.BestCheckpointPath!);
        Assert.Equal(best.Step, info.Step);
        Assert.Equal("val_accuracy", info.Monitor);
    }

    [Fact]
    public void A_training_batch_of_the_wrong_shape_is_reported_with_the_expected_and_actual_shapes()
    {
        using var dir = new TempDir();
        using var images = TestData.EmbeddedTrain["image"].narrow(0, 0, 100).narrow(2, 0, 21).narrow(3, 0, 21).clone();
        using var labels = TestData.EmbeddedTrain["label"].narrow(0, 0, 100).clone();
        using var data = new TensorDataset(("image", images.alias()), ("label", labels.alias()));
        using var model = new ModelDsl.Tests.Generated.TinyVit(CPU);

        var e = Assert.Throws<ShapeMismatchException>(() => model.Fit(data, null, Quick(dir.Path)));

        Assert.Contains("'image'", e.Message);
        Assert.Contains("[B,1,28,28]", e.Message);
        Assert.Equal([50L, 1, 21, 21], e.Actual);
        Assert.False(File.Exists(Path.Combine(dir.Path, "last.ckpt")));   // nothing was trained, nothing written
    }

    [Fact]
    public void A_validation_set_of_the_wrong_shape_fails_before_training_starts()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(100);
        using var images = TestData.EmbeddedTest["image"].narrow(0, 0, 20).narrow(2, 0, 14).clone();
        using var labels = TestData.EmbeddedTest["label"].narrow(0, 0, 20).clone();
        using var validation = new TensorDataset(("image", images.alias()), ("label", labels.alias()));
        using var model = new ModelDsl.Tests.Generated.TinyVit(CPU);
        var before = model.parameters().Select(p => p.detach().clone()).ToList();

        var e = Assert.Throws<ShapeMismatchException>(() => model.Fit(train, validation, Quick(dir.Path)));

        Assert.Contains("[B,1,28,28]", e.Message);
        Assert.Equal([2L, 1, 14, 28], e.Actual);
        Assert.All(model.parameters().Zip(before), pair => Assert.True(pair.First.equal(pair.Second).all().item<bool>()));
    }

    [Fact]
    public void Two_runs_with_the_same_seed_are_identical_and_another_seed_differs()
    {
        using var train = TestData.EmbeddedTrain.Take(200);
        TrainReport Run(long seed)
        {
            torch.manual_seed(seed);   // the model's initialisation
            using var model = new TinyMlp(hidden: 8, dropout: 0.3);
            return model.Fit(train, null, Quick(null) with { Epochs = 2, Seed = seed });
        }

        var a = Run(13);
        var b = Run(13);
        var c = Run(14);

        Assert.Equal(a.Epochs.Select(r => r.TrainLoss), b.Epochs.Select(r => r.TrainLoss));
        Assert.NotEqual(a.Epochs.Select(r => r.TrainLoss), c.Epochs.Select(r => r.TrainLoss));
    }

    internal static CheckpointInfo CheckpointInfoOf(string path) => Checkpoint.ReadInfo(path);
}
