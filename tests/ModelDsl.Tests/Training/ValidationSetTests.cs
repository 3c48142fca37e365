using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using ModelDsl.Data;
using ModelDsl.Tests.Data;
using ModelDsl.Tests.Generated;
using ModelDsl.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Training;

/// <summary>
/// Issue 16: an empty validation set, one with NaN values, or one whose loss stops being finite is an error
/// before training or a named warning (log, metrics.jsonl, report), never a silent <c>val_loss: null</c>;
/// an empty training set and a zero-row batch are refused with a message.
/// </summary>
public class ValidationSetTests : SingleThreadedTorch
{
    private static TrainOptions Quick(string? output, TextWriter? log = null) => new()
    {
        Epochs = 2,
        BatchSize = 50,
        LearningRate = 3e-3,
        Device = CPU,
        OutputDirectory = output,
        ShowProgress = false,
        Log = log ?? TextWriter.Null,
    };

    [Fact]
    public void An_empty_validation_set_is_refused_before_training()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(100);
        using var validation = TestData.EmbeddedTest.Take(0);
        using var model = new TinyMlp();

        var e = Assert.Throws<ArgumentException>(() => model.Fit(train, validation, Quick(dir.Path)));

        Assert.Equal("validation", e.ParamName);
        Assert.Contains("The validation set has 0 rows", e.Message, StringComparison.Ordinal);
        Assert.Contains("pass null to train without validation", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(dir.Path)); // nothing was trained or written
    }

    [Fact]
    public void An_empty_training_set_or_evaluation_set_is_refused_with_its_own_message()
    {
        using var empty = TestData.EmbeddedTrain.Take(0);
        using var model = new TinyMlp();

        var train = Assert.Throws<ArgumentException>(() => model.Fit(empty, null, Quick(null)));
        Assert.Contains("The training set has 0 rows", train.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("DropLast", train.Message, StringComparison.Ordinal);

        var evaluate = Assert.Throws<ArgumentException>(() => model.Evaluate(empty, Quick(null)));
        Assert.Contains("0 rows", evaluate.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_validation_set_with_NaN_values_is_refused_before_training_naming_the_column_and_row()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(100);
        using var images = TestData.EmbeddedTest["image"].narrow(0, 0, 40).clone();
        images[17, 0, 3, 4] = tensor(float.NaN);
        images[30, 0, 0, 0] = tensor(float.PositiveInfinity);
        using var validation = new TensorDataset(("image", images), ("label", TestData.EmbeddedTest["label"].narrow(0, 0, 40).clone()));
        using var model = new TinyMlp();

        var e = Assert.Throws<ArgumentException>(() => model.Fit(train, validation, Quick(dir.Path)));

        Assert.Contains("column 'image' has NaN at row 17 (2 of its 40 rows hold NaN or infinite values)", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dir.Path, "last.ckpt")));
    }

    [Fact]
    public void A_NaN_placeholder_of_an_absent_optional_target_is_not_refused()
    {
        using var train = TestData.EmbeddedTrain.Take(100);
        using var angle = zeros(40, 1);
        angle[5, 0] = tensor(float.NaN);
        using var present = ones(40, dtype: ScalarType.Bool);
        present[5] = tensor(false);
        using var validation = new TensorDataset(("image", TestData.EmbeddedTest["image"].narrow(0, 0, 40).clone()),
            ("label", TestData.EmbeddedTest["label"].narrow(0, 0, 40).clone()), ("angle", angle.alias()), ("angle_present", present.alias()));
        using var model = new TinyMlp();

        var report = model.Fit(train, validation, Quick(null) with { Epochs = 1 });

        Assert.True(double.IsFinite(report.FinalValidation["loss"]));
        Assert.Empty(report.Warnings);
    }

    [Fact]
    public void A_validation_loss_that_is_NaN_before_training_is_an_error()
    {
        using var train = TestData.EmbeddedTrain.Take(100);
        using var validation = TestData.EmbeddedTest.Take(40);
        using var model = new NaNValidationMlp(fromCall: 1);

        var e = Assert.Throws<InvalidOperationException>(() => model.Fit(train, validation, Quick(null)));

        Assert.StartsWith("Before training: the validation loss of the first 2 validation rows is NaN", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, model.TrainingCalls);
    }

    [Fact]
    public void A_validation_loss_that_becomes_NaN_is_a_named_warning_in_the_log_the_metrics_file_and_the_report()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(100);
        using var validation = TestData.EmbeddedTest.Take(40);
        using var model = new NaNValidationMlp(fromCall: 2); // call 1 is the check before training
        var log = new StringWriter();

        var report = model.Fit(train, validation, Quick(dir.Path, log));

        var expected = "Warning (validation): val_loss is NaN at step 2 (epoch 1); this evaluation cannot choose a best checkpoint by val_loss.";
        Assert.Contains(expected, log.ToString(), StringComparison.Ordinal);
        Assert.Contains("val_loss was never finite in 2 evaluation(s), so no best checkpoint was chosen", log.ToString(), StringComparison.Ordinal);
        Assert.Contains(report.Epochs[0].Warnings, w => w.StartsWith(expected, StringComparison.Ordinal));
        Assert.Equal(3, report.Warnings.Count);
        Assert.Null(report.BestValue);
        Assert.Null(report.BestCheckpointPath);

        var line = File.ReadAllLines(Path.Combine(dir.Path, "metrics.jsonl"))[0];
        using var json = JsonDocument.Parse(line);
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("val_loss").ValueKind);
        Assert.StartsWith(expected, json.RootElement.GetProperty("warnings")[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_finite_run_has_no_warnings_and_no_warnings_key()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(100);
        using var validation = TestData.EmbeddedTest.Take(40);
        using var model = new TinyMlp();

        var report = model.Fit(train, validation, Quick(dir.Path));

        Assert.Empty(report.Warnings);
        Assert.All(File.ReadAllLines(Path.Combine(dir.Path, "metrics.jsonl")), l => Assert.DoesNotContain("warnings", l, StringComparison.Ordinal));
        Assert.NotNull(report.BestCheckpointPath);
    }

    [Fact]
    public void A_zero_row_batch_in_a_generated_training_step_is_refused_not_a_NaN_loss()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(1);
        using var model = new TinyVit(CPU);
        using var batch = new NamedBatch([new("image", zeros(0, 1, 28, 28)), new("label", zeros(0, dtype: ScalarType.Int64))]);

        var e = Assert.Throws<EmptyBatchException>(() => model.TrainingStep(model.CreateBatch(batch)));

        Assert.Contains("0 rows", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A TinyMlp whose validation loss is NaN from its n-th validation call on.</summary>
    private sealed class NaNValidationMlp(int fromCall) : TinyMlp
    {
        private int validationCalls;

        public int TrainingCalls { get; private set; }

        public override StepOutput TrainingStep(ImageBatch batch)
        {
            TrainingCalls++;
            return base.TrainingStep(batch);
        }

        public override StepOutput ValidationStep(ImageBatch batch)
        {
            var output = base.ValidationStep(batch);
            return ++validationCalls >= fromCall ? output with { Loss = output.Loss * double.NaN } : output;
        }
    }
}
