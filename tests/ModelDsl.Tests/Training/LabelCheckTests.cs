using System;
using System.IO;
using System.Runtime.InteropServices;
using ModelDsl.Blocks;
using ModelDsl.Data;
using ModelDsl.Tests.Data;
using ModelDsl.Tests.Generated;
using ModelDsl.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Training;

/// <summary>
/// Issue 16: labels the losses and metrics cannot read are refused in ModelDsl's words (the expected dtype, shape
/// or range, the row and value, the column and step when the trainer ran it, and the fix), never in libtorch's;
/// integer labels of other widths are converted, not refused.
/// </summary>
public class LabelCheckTests : SingleThreadedTorch
{
    private static Tensor Logits(long rows = 4, long classes = 10)
    {
        torch.manual_seed(3);
        return randn(rows, classes);
    }

    private static void NoNativeText(Exception e)
    {
        Assert.DoesNotContain("frame #", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception raised from", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("c10::", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ScalarType.Int32)]
    [InlineData(ScalarType.Int16)]
    [InlineData(ScalarType.Int8)]
    [InlineData(ScalarType.Byte)]
    public void Integer_labels_of_another_width_are_converted_and_give_the_int64_loss_and_accuracy(ScalarType type)
    {
        using var scope = NewDisposeScope();
        var logits = Logits();
        var labels = tensor(new long[] { 0, 3, 9, 3 });
        var loss = new CrossEntropyLoss(0.1);

        var expected = loss.Compute(logits, labels).item<float>();
        Assert.Equal(expected, loss.Compute(logits, labels.to(type)).item<float>(), 6);
        Assert.Equal(expected, loss.Compute(logits, labels.to(type), ones(4, dtype: ScalarType.Bool)).item<float>(), 5);
        Assert.Equal(Metrics.Accuracy(logits, labels).item<float>(), Metrics.Accuracy(logits, labels.to(type)).item<float>());
        Assert.Equal(TaskMetrics.Accuracy(logits, labels).item<float>(), TaskMetrics.Accuracy(logits, labels.to(type)).item<float>());
        Assert.Equal(type, labels.to(type).dtype); // the caller's tensor is not changed
    }

    [Fact]
    public void Float_labels_are_refused_naming_the_dtype_the_range_and_the_conversion()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<LabelException>(() => new CrossEntropyLoss().Compute(Logits(), tensor(new float[] { 1, 2, 3, 4 })));
        Assert.Contains("float32", e.Message, StringComparison.Ordinal);
        Assert.Contains("int64", e.Message, StringComparison.Ordinal);
        Assert.Contains("[0, 9]", e.Message, StringComparison.Ordinal);
        Assert.Contains("label.to(ScalarType.Int64)", e.Message, StringComparison.Ordinal);
        Assert.Equal("CrossEntropyLoss", e.Owner);
        NoNativeText(e);
        Assert.Throws<LabelException>(() => Metrics.Accuracy(Logits(), tensor(new double[] { 1, 2, 3, 4 })));
        Assert.Throws<LabelException>(() => TaskMetrics.Accuracy(Logits(), tensor(new double[] { 1, 2, 3, 4 })));
    }

    [Fact]
    public void One_hot_labels_are_refused_with_argmax_as_the_fix()
    {
        using var scope = NewDisposeScope();
        var oneHot = nn.functional.one_hot(tensor(new long[] { 0, 3, 9, 3 }), 10);
        foreach (var labels in new[] { oneHot, oneHot.to(ScalarType.Float32) })
        {
            var e = Assert.Throws<LabelException>(() => new CrossEntropyLoss().Compute(Logits(), labels));
            Assert.Contains("[4,10]", e.Message, StringComparison.Ordinal);
            Assert.Contains("one-hot", e.Message, StringComparison.Ordinal);
            Assert.Contains("label.argmax(1)", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Labels_out_of_range_are_refused_with_the_row_the_value_and_the_class_count()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<LabelException>(() => new CrossEntropyLoss().Compute(Logits(), tensor(new long[] { 0, 10, 3, 12 })));
        Assert.Equal(1, e.Row);
        Assert.Equal("10", e.Value);
        Assert.Contains("row 1 has class index 10, outside [0, 9] for the head's 10 classes (2 of the batch's 4 labels are out of range)", e.Message, StringComparison.Ordinal);
        Assert.Contains("Classes = 13", e.Message, StringComparison.Ordinal);
        NoNativeText(e);

        var negative = Assert.Throws<LabelException>(() => new CrossEntropyLoss().Compute(Logits(), tensor(new int[] { 0, 1, -1, 2 })));
        Assert.Equal(2, negative.Row);
        Assert.Contains("Optional = true", negative.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void With_a_presence_mask_only_present_labels_are_range_checked()
    {
        using var scope = NewDisposeScope();
        var loss = new CrossEntropyLoss();
        var labels = tensor(new long[] { 0, -1, 3, 99 });
        var present = tensor(new[] { true, false, true, false });
        Assert.True(double.IsFinite(loss.Compute(Logits(), labels, present).item<float>()));

        var e = Assert.Throws<LabelException>(() => loss.Compute(Logits(), labels, tensor(new[] { true, false, true, true })));
        Assert.Equal(3, e.Row);
        Assert.Equal("99", e.Value);
    }

    [Fact]
    public void Labels_of_another_shape_or_bool_are_refused()
    {
        using var scope = NewDisposeScope();
        var column = Assert.Throws<LabelException>(() => new CrossEntropyLoss().Compute(Logits(), tensor(new long[] { 0, 1, 2, 3 }).reshape(4, 1)));
        Assert.Contains("[4,1]", column.Message, StringComparison.Ordinal);
        Assert.Contains("label.reshape(-1)", column.Message, StringComparison.Ordinal);

        var rows = Assert.Throws<LabelException>(() => new CrossEntropyLoss().Compute(Logits(), tensor(new long[] { 0, 1, 2 })));
        Assert.Contains("4 rows of logits but 3 labels", rows.Message, StringComparison.Ordinal);

        var flags = Assert.Throws<LabelException>(() => new CrossEntropyLoss().Compute(Logits(4, 2), tensor(new[] { true, false, true, true })));
        Assert.Contains("bool", flags.Message, StringComparison.Ordinal);
        Assert.Contains("label.to(ScalarType.Int64)", flags.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_batch_of_zero_rows_is_refused_by_every_loss_and_metric()
    {
        using var scope = NewDisposeScope();
        var none = zeros(0, 10);
        var labels = zeros(0, dtype: ScalarType.Int64);
        Assert.Contains("0 rows", Assert.Throws<EmptyBatchException>(() => new CrossEntropyLoss().Compute(none, labels)).Message, StringComparison.Ordinal);
        Assert.Throws<EmptyBatchException>(() => new CrossEntropyLoss().Compute(none, labels, zeros(0, dtype: ScalarType.Bool)));
        Assert.Throws<EmptyBatchException>(() => Metrics.Accuracy(none, labels));
        Assert.Throws<EmptyBatchException>(() => TaskMetrics.Accuracy(none, labels));
        Assert.Throws<EmptyBatchException>(() => new MseLoss().Compute(zeros(0, 1), zeros(0, 1)));
        Assert.Throws<EmptyBatchException>(() => new BinaryCrossEntropyLoss().Compute(zeros(0, 1, 4, 4), zeros(0, 1, 4, 4)));
        Assert.Throws<EmptyBatchException>(() => TaskMetrics.MeanAbsoluteError(zeros(0, 1), zeros(0, 1)));
        Assert.Throws<EmptyBatchException>(() => new ContrastiveLoss().Compute(zeros(0, 0)));
    }

    [Fact]
    public void The_trainer_names_the_step_and_the_column_of_labels_out_of_range()
    {
        using var dir = new TempDir();
        using var images = TestData.EmbeddedTrain["image"].narrow(0, 0, 64).clone();
        using var labels = TestData.EmbeddedTrain["label"].narrow(0, 0, 64).clone();
        labels[40] = tensor(10L);
        using var train = new TensorDataset(("image", images), ("label", labels));
        torch.manual_seed(1);
        using var model = new TinyVit(CPU);

        var options = Options(dir.Path, batchSize: 16);
        // Where row 40 lands in the trainer's first (seeded) epoch.
        long position = Array.IndexOf(new DataLoader(train, 16, shuffle: true, seed: options.Seed).Order(0), 40L);
        long step = position / 16 + 1, row = position % 16;

        var e = Assert.Throws<LabelException>(() => model.Fit(train, null, options));

        Assert.Equal("label", e.Column);
        Assert.Equal(row, e.Row);
        Assert.StartsWith($"Training step {step} (epoch 1, batch {step} of 4), column 'label': CrossEntropyLoss: row {row} has class index 10, outside [0, 9]", e.Message, StringComparison.Ordinal);
        Assert.IsType<LabelException>(e.InnerException);
        NoNativeText(e);
    }

    [Fact]
    public void The_trainer_names_the_validation_batch_of_float_labels_before_training()
    {
        using var train = TestData.EmbeddedTrain.Take(32);
        using var validation = new TensorDataset(("image", TestData.EmbeddedTest["image"].narrow(0, 0, 8).clone()),
            ("label", TestData.EmbeddedTest["label"].narrow(0, 0, 8).to(ScalarType.Float32)));
        torch.manual_seed(1);
        using var model = new TinyVit(CPU);

        var e = Assert.Throws<LabelException>(() => model.Fit(train, validation, Options(null, batchSize: 16)));

        Assert.StartsWith("Before training, validation batch 1 of 1, column 'label': CrossEntropyLoss: the labels are float32", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dataset_of_int32_labels_trains_as_int64_does()
    {
        using var train64 = TestData.EmbeddedTrain.Take(64);
        using var labels32 = train64["label"].to(ScalarType.Int32);
        using var train32 = new TensorDataset(("image", train64["image"].alias()), ("label", labels32.alias()));
        torch.manual_seed(1);
        using var a = new TinyVit(CPU);
        torch.manual_seed(1);
        using var b = new TinyVit(CPU);

        var with64 = a.Fit(train64, null, Options(null, batchSize: 16));
        var with32 = b.Fit(train32, null, Options(null, batchSize: 16));

        Assert.Equal(with64.Epochs[0].TrainLoss, with32.Epochs[0].TrainLoss, 6);
    }

    [Theory]
    [InlineData(ScalarType.Float64, "float64")]
    [InlineData(ScalarType.Byte, "uint8")]
    public void An_image_of_another_dtype_is_refused_by_name_before_libtorch_sees_it(ScalarType imageType, string typeName)
    {
        using var train64 = TestData.EmbeddedTrain.Take(32);
        using var images = imageType == ScalarType.Byte ? train64["image"].mul(255).to(imageType) : train64["image"].to(imageType);
        using var train = new TensorDataset(("image", images.alias()), ("label", train64["label"].alias()));
        torch.manual_seed(1);
        using var model = new TinyVit(CPU);

        // The generated Forward checks each input's dtype next to its shape (what used to reach libtorch and
        // come back as a native error, which the trainer's TrainingStepException then explained).
        var e = Assert.Throws<DtypeMismatchException>(() => model.Fit(train, null, Options(null, batchSize: 16)));

        Assert.StartsWith($"Input 'image' has dtype {typeName}", e.Message, StringComparison.Ordinal);
        Assert.Contains("image.to(ScalarType.Float32)", e.Message, StringComparison.Ordinal);
        NoNativeText(e);
    }

    [Fact]
    public void A_native_error_inside_a_training_step_is_rethrown_with_the_step_and_without_native_frames()
    {
        using var train = TestData.EmbeddedTrain.Take(32);
        torch.manual_seed(1);
        using var model = new ModelDsl.Tests.Generated.NativeFailureVit(CPU);

        // A user module whose view fails inside libtorch: the shape and dtype checks pass, the step does not.
        var e = Assert.Throws<TrainingStepException>(() => model.Fit(train, null, Options(null, batchSize: 16)));

        Assert.StartsWith("Training step 1 (epoch 1, batch 1 of 2) failed inside libtorch: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("'image' float32 [16,1,28,28]", e.Message, StringComparison.Ordinal);
        NoNativeText(e);
        Assert.IsAssignableFrom<System.Runtime.InteropServices.ExternalException>(e.InnerException);
        Assert.Equal("training step 1 (epoch 1, batch 1 of 2)", e.Where);
    }

    [Fact]
    public void The_cause_of_a_native_message_is_its_first_lines_without_the_frames()
    {
        using var scope = NewDisposeScope();
        var native = Assert.ThrowsAny<ExternalException>(() => nn.functional.nll_loss(zeros(2, 3), tensor(new long[] { 0, 5 })));
        Assert.Contains("frame #", native.Message + "frame #", StringComparison.Ordinal); // the raw text may carry frames

        var cause = StepFailures.Cause(native.Message);

        Assert.Contains("Target 5 is out of bounds", cause, StringComparison.Ordinal);
        Assert.DoesNotContain("frame #", cause, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception raised from", cause, StringComparison.Ordinal);
        Assert.Equal("Input type (double) and bias type (float) should be the same",
            StepFailures.Cause("Input type (double) and bias type (float) should be the same\nException raised from _convolution at aten/src/ATen/native/Convolution.cpp:1101 (most recent call first):\nframe #0: c10::Error::Error(...) + 0x98 (0x7f in libc10.so)"));
    }

    internal static TrainOptions Options(string? output, int batchSize) => new()
    {
        Epochs = 1,
        BatchSize = batchSize,
        LearningRate = 1e-3,
        Device = CPU,
        OutputDirectory = output,
        ShowProgress = false,
        Log = TextWriter.Null,
    };
}
