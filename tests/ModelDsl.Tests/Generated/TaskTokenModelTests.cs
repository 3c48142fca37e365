using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Blocks;
using ModelDsl.Data;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Generated;

/// <summary>Generated task-token models and the task blocks at run time.</summary>
public class TaskTokenModelTests
{
    private static FourTaskVitBatch Batch(long b, Tensor? coarsePresent = null)
    {
        var image = randn(b, 1, 28, 28);
        var mask = image.gt(0.5).to_type(ScalarType.Float32);
        return new FourTaskVitBatch(image, randint(0, 10, [b]), randint(0, 3, [b]), coarsePresent ?? ones(b, dtype: ScalarType.Bool),
            rand(b, 1), mask);
    }

    [Fact]
    public void Each_head_reads_its_task_token_and_outputs_have_the_declared_shapes()
    {
        manual_seed(1);
        using var model = new FourTaskVit(CPU);
        var output = model.Forward(randn(3, 1, 28, 28));

        Assert.Equal([3L, 10], output.Category.shape);
        Assert.Equal([3L, 3], output.Coarse.shape);
        Assert.Equal([3L, 1], output.Angle.shape);
        Assert.Equal([3L, 1, 28, 28], output.Mask.shape);
        Assert.Equal([3L, 4, 32], output.Decoder.shape);
        Assert.Equal([1L, 4, 32], model.Tasks.shape);
        // The category head is a linear map of row 0 of the decoded tokens, the angle head of row 2.
        using (no_grad())
        {
            Assert.True(output.Category.allclose(model.Category.forward(output.Decoder.select(1, 0)), 1e-5, 1e-6));
            Assert.True(output.Angle.allclose(model.Angle.forward(output.Decoder.select(1, 2)), 1e-5, 1e-6));
        }
    }

    [Fact]
    public void Compile_time_parameter_counts_match_the_built_modules()
    {
        using var model = new FourTaskVit(CPU);
        using var single = new AngleOnlyVit(CPU);

        Assert.Equal(FourTaskVit.Summary.TotalParameters, model.parameters().Sum(p => p.numel()));
        Assert.Equal(AngleOnlyVit.Summary.TotalParameters, single.parameters().Sum(p => p.numel()));
        foreach (var row in FourTaskVit.Summary.Rows.Where(r => r.Kind is "TaskDecoder" or "MaskHead" or "RegressionHead"))
        {
            var prefix = row.Stage.ToLowerInvariant() + ".";
            Assert.Equal(row.Parameters, model.named_parameters().Where(p => p.name.StartsWith(prefix, StringComparison.Ordinal)).Sum(p => p.parameter.numel()));
        }
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("tasks", names);
        Assert.Contains("decoder.layers.1.attn.qkv.weight", names);
        Assert.Contains("decoder.layers.0.cross.attn.kv.weight", names);
        Assert.Contains("decoder.norm.weight", names);
        Assert.Contains("category.weight", names);
        Assert.Contains("mask.pixels.weight", names);
        Assert.DoesNotContain("head.weight", names);
        Assert.Contains("tasks", model.NoWeightDecayNames);
    }

    [Fact]
    public void Objective_is_the_weighted_sum_of_the_task_losses_and_every_task_is_logged()
    {
        manual_seed(2);
        using var model = new FourTaskVit(CPU);
        var step = model.TrainingStep(Batch(8));

        Assert.Equal(
            new[] { "category_loss", "category_accuracy", "coarse_loss", "coarse_accuracy", "angle_loss", "angle_mae", "mask_loss", "mask_iou" },
            step.Metrics.Keys);
        var m = step.Metrics.ToDictionary(kv => kv.Key, kv => kv.Value.item<float>());
        Assert.Equal(m["category_loss"] + m["coarse_loss"] + 0.5f * m["angle_loss"] + m["mask_loss"], step.Loss.item<float>(), 4);
        Assert.InRange(m["mask_iou"], 0f, 1f);
        Assert.InRange(m["category_accuracy"], 0f, 1f);
    }

    [Fact]
    public void An_optional_target_counts_only_where_present_and_is_zero_without_nan_when_absent()
    {
        manual_seed(3);
        using var model = new FourTaskVit(CPU);
        var all = Batch(6);
        var none = all with { CoarsePresent = zeros(6, dtype: ScalarType.Bool), Coarse = full(6, -1L) };

        var step = model.TrainingStep(none);
        Assert.Equal(0f, step.Metrics["coarse_loss"].item<float>());
        Assert.Equal(0f, step.Metrics["coarse_accuracy"].item<float>());
        Assert.True(float.IsFinite(step.Loss.item<float>()));
        step.Loss.backward();
        // No label, no gradient into the coarse head; the category head still learns.
        Assert.Equal(0f, model.Coarse.parameters().Sum(p => p.grad!.abs().sum().item<float>()));
        Assert.True(model.Category.parameters().Sum(p => p.grad!.abs().sum().item<float>()) > 0);

        // With half the samples present, the loss is the mean over those samples alone.
        var half = all with { CoarsePresent = tensor(new[] { true, false, true, false, true, false }) };
        using (no_grad())
        {
            var output = model.Forward(half.Image);
            var present = tensor(new long[] { 0, 2, 4 });
            var expected = nn.functional.cross_entropy(output.Coarse.index_select(0, present), half.Coarse.index_select(0, present)).item<float>();
            Assert.Equal(expected, model.TrainingStep(half).Metrics["coarse_loss"].item<float>(), 5);
        }
    }

    [Fact]
    public void A_multi_task_model_trains_with_the_runtime_trainer_and_reports_each_task()
    {
        manual_seed(4);
        var images = randn(64, 1, 28, 28);
        using var data = new TensorDataset(
            ("image", images), ("category", randint(0, 10, [64])), ("coarse", randint(0, 3, [64])),
            ("coarse_present", arange(64).remainder(2).eq(0)), ("angle", rand(64, 1)), ("mask", images.gt(0).to_type(ScalarType.Float32)));
        using var model = new FourTaskVit(CPU);

        var report = model.Fit(data, data, new TrainOptions { Epochs = 3, BatchSize = 16, LearningRate = 2e-3, Seed = 4, Device = CPU, ShowProgress = false, WriteCurves = false });

        foreach (var name in new[] { "loss", "category_accuracy", "coarse_accuracy", "angle_mae", "mask_iou", "mask_loss" })
            Assert.True(report.FinalValidation.ContainsKey(name), $"No '{name}' in {string.Join(", ", report.FinalValidation.Keys)}");
        Assert.True(report.Epochs[^1].TrainMetrics.ContainsKey("coarse_loss"));
        // The mask (pixel > 0) is learnable from the image; the labels here are noise.
        Assert.True(report.Epochs[^1].TrainMetrics["mask_loss"] < report.Epochs[0].TrainMetrics["mask_loss"],
            $"mask_loss {report.Epochs[0].TrainMetrics["mask_loss"]} -> {report.Epochs[^1].TrainMetrics["mask_loss"]}");
        Assert.All(report.FinalValidation.Values, v => Assert.True(double.IsFinite(v)));
    }

    [Fact]
    public void Logged_means_of_an_optional_task_are_over_the_samples_that_carry_its_target()
    {
        manual_seed(6);
        var images = randn(8, 1, 28, 28);
        // One coarse label in the first batch of 4, three in the second: weighting the two batch
        // means by rows (4 and 4) would give another value than weighting by labels (1 and 3).
        var present = tensor(new[] { true, false, false, false, true, true, true, false });
        using var data = new TensorDataset(
            ("image", images), ("category", randint(0, 10, [8])), ("coarse", randint(0, 3, [8])),
            ("coarse_present", present), ("angle", rand(8, 1)), ("mask", images.gt(0).to_type(ScalarType.Float32)));
        using var model = new FourTaskVit(CPU);

        var logged = Trainer.Evaluate(model, data, new TrainOptions { BatchSize = 4, Device = CPU });

        using var _ = no_grad();
        model.eval();
        var coarse = model.Forward(images).Coarse;
        var rows = present.nonzero().squeeze(1);
        var target = data["coarse"].index_select(0, rows);
        var accuracy = coarse.index_select(0, rows).argmax(1).eq(target).to_type(ScalarType.Float64).mean().item<double>();
        var loss = nn.functional.cross_entropy(coarse.index_select(0, rows), target).item<float>();
        var correct = coarse.argmax(1).eq(data["coarse"]).logical_and(present).to_type(ScalarType.Float64);
        var firstBatch = correct.narrow(0, 0, 4).sum().item<double>() / 1;
        var secondBatch = correct.narrow(0, 4, 4).sum().item<double>() / 3;
        Assert.NotEqual(firstBatch, secondBatch); // else both weightings would agree and the case would prove nothing
        Assert.Equal(accuracy, logged["coarse_accuracy"], 6);
        Assert.Equal(loss, logged["coarse_loss"], 4);
        // A task without a presence mask still counts every row.
        var category = nn.functional.cross_entropy(model.Forward(images).Category, data["category"]).item<float>();
        Assert.Equal(category, logged["category_loss"], 4);
    }

    [Fact]
    public void A_dataset_without_the_presence_mask_fails_naming_it()
    {
        using var data = new TensorDataset(("image", randn(4, 1, 28, 28)), ("angle", rand(4, 2)));
        using var model = new AngleOnlyVit(CPU);

        var error = Assert.ThrowsAny<Exception>(() => model.Fit(data, null, new TrainOptions { Epochs = 1, BatchSize = 4, Device = CPU, ShowProgress = false, WriteCurves = false }));
        Assert.Contains("angle_present", error.Message);
    }

    [Fact]
    public void Mask_head_pixels_depend_only_on_their_own_patch()
    {
        manual_seed(5);
        using var head = new MaskHead(dim: 8, sourceDim: 12, pixelDim: 5, patchSize: 4, gridHeight: 2, gridWidth: 3, prefixTokens: 1);
        var task = randn(2, 8);
        var tokens = randn(2, 1 + 6, 12);
        using var _ = no_grad();
        var before = head.forward(task, tokens);
        var changed = tokens.clone();
        changed[TensorIndex.Colon, 1 + 4] = randn(2, 12);    // patch row 1, column 1
        changed[TensorIndex.Colon, 0] = randn(2, 12);        // the prefix token is skipped
        var after = head.forward(task, changed);

        Assert.Equal([2L, 1, 8, 12], before.shape);
        var differs = before.ne(after).any(0).squeeze(0);     // [8,12]
        var expected = zeros(8, 12, dtype: ScalarType.Bool);
        expected[TensorIndex.Slice(4, 8), TensorIndex.Slice(4, 8)] = tensor(true);
        Assert.True(differs.eq(expected).all().item<bool>(), "Only the 4x4 pixels of patch (1,1) may change.");
        Assert.Throws<ArgumentException>(() => head.forward(task, randn(2, 6, 12)));
    }

    [Fact]
    public void Task_decoder_expands_the_tokens_to_the_batch_and_checks_widths()
    {
        using var decoder = new TaskDecoder(dim: 16, sourceDim: 24, depth: 2, heads: 4);
        var output = decoder.forward(randn(1, 3, 16), randn(5, 10, 24));

        Assert.Equal([5L, 3, 16], output.shape);
        var error = Assert.Throws<ArgumentException>(() => decoder.forward(randn(1, 3, 16), randn(5, 10, 16)));
        Assert.Contains("[B,N,24]", error.Message);
    }

    [Fact]
    public void Task_metrics_and_losses_average_over_present_samples()
    {
        var logits = tensor(new float[,] { { 2, 0 }, { 0, 2 }, { 2, 0 }, { 0, 2 } });
        var target = tensor(new long[] { 0, 0, 0, 1 });
        var present = tensor(new[] { true, true, false, false });
        Assert.Equal(0.5f, TaskMetrics.Accuracy(logits, target, present).item<float>());
        Assert.Equal(0.75f, TaskMetrics.Accuracy(logits, target).item<float>());

        var prediction = tensor(new float[,] { { 1 }, { 2 }, { 3 }, { 4 } }).requires_grad_();
        var truth = tensor(new float[,] { { 0 }, { 2 }, { float.NaN }, { 0 } });
        var mostly = tensor(new[] { 1, 1, 0, 1 });
        Assert.Equal((1f + 0f + 4f) / 3f, TaskMetrics.MeanAbsoluteError(prediction, truth, mostly).item<float>(), 5);
        var mse = new MseLoss().Compute(prediction, truth, mostly);
        Assert.Equal((1f + 0f + 16f) / 3f, mse.item<float>(), 5);
        mse.backward();
        Assert.True(prediction.grad!.isfinite().all().item<bool>(), "A NaN placeholder of an absent sample reached the gradient.");
        Assert.Equal(0f, prediction.grad![2, 0].item<float>());
        Assert.Equal(0f, new MseLoss().Compute(prediction, truth, zeros(4)).item<float>());

        var maskLogits = tensor(new float[] { 1, 1, -1, -1, -1, -1, -1, -1 }).reshape(2, 1, 2, 2);
        var maskTarget = tensor(new float[] { 1, 0, 0, 0, 0, 0, 0, 0 }).reshape(2, 1, 2, 2);
        // Sample 0: 1 of 2 predicted pixels right -> 0.5; sample 1: both empty -> 1.
        Assert.Equal(0.75f, TaskMetrics.MaskIou(maskLogits, maskTarget).item<float>(), 5);
        Assert.Throws<ArgumentException>(() => TaskMetrics.MaskIou(maskLogits, maskTarget.reshape(2, 4)));
        Assert.Throws<ArgumentException>(() => new BinaryCrossEntropyLoss().Compute(maskLogits, maskTarget, ones(3)));
    }
}
