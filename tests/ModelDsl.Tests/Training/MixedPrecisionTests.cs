using System.IO;
using System.Linq;
using ModelDsl.Blocks;
using ModelDsl.Tests.Data;
using ModelDsl.Tests.Generated;
using ModelDsl.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Training;

public class MixedPrecisionTests : SingleThreadedTorch
{
    [Fact]
    public void Under_autocast_the_blocks_compute_in_bf16_and_return_fp32_with_fp32_gradients()
    {
        torch.manual_seed(51);
        using var model = new TinyVit(CPU);
        using var images = TestData.EmbeddedTest["image"].narrow(0, 0, 8).clone();
        using var labels = TestData.EmbeddedTest["label"].narrow(0, 0, 8).clone();
        var batch = new TinyVitBatch(images, labels);

        Tensor reference;
        using (no_grad()) reference = model.Forward(images).Logits;

        StepOutput output;
        using (Autocast.Enable(ScalarType.BFloat16))
        {
            Assert.Equal(ScalarType.BFloat16, Autocast.ComputeType);
            output = model.TrainingStep(batch);
            var forward = model.Forward(images);
            Assert.Equal(ScalarType.Float32, forward.Logits.dtype);    // logits leave the head in fp32
            Assert.Equal(ScalarType.Float32, forward.Tokens.dtype);    // the residual stream stays fp32
        }
        Assert.Null(Autocast.ComputeType);
        Assert.Equal(ScalarType.Float32, output.Loss.dtype);

        output.Loss.backward();
        Assert.All(model.parameters(), p =>
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            Assert.Equal(ScalarType.Float32, p.grad!.dtype);
        });

        using (Autocast.Enable(ScalarType.BFloat16))
        using (no_grad())
        {
            var mixed = model.Forward(images).Logits;
            // bf16 has 8 bits of mantissa: close to fp32, not equal.
            Assert.False(mixed.equal(reference).all().item<bool>());
            Assert.True(mixed.allclose(reference, rtol: 0.05, atol: 0.05), $"max difference {(mixed - reference).abs().max().item<float>()}");
        }
    }

    [Fact]
    public void The_blocks_are_unchanged_without_autocast()
    {
        torch.manual_seed(52);
        using var block = new EncoderBlock(16, 2, 2.0);
        using var x = randn(2, 5, 16);

        using (Autocast.Disable())
        {
            var y = block.forward(x);
            Assert.Equal(ScalarType.Float32, y.dtype);
        }
        using (Autocast.Enable(ScalarType.Float32))
            Assert.False(Autocast.IsEnabled);
        Assert.Throws<System.ArgumentOutOfRangeException>(() => Autocast.Enable(ScalarType.Int32));
    }

    [Fact]
    public void BFloat16_training_on_the_cpu_lowers_the_loss_and_keeps_fp32_master_weights()
    {
        using var dir = new TempDir();
        // Small: a CPU without native bf16 instructions emulates bf16 products slowly.
        using var train = TestData.EmbeddedTrain.Take(256);
        using var validation = TestData.EmbeddedTest.Take(16);
        torch.manual_seed(53);
        using var model = new TinyVit(CPU);

        var report = model.Fit(train, validation, new TrainOptions
        {
            Epochs = 3, BatchSize = 32, MaxStepsPerEpoch = 3, LearningRate = 5e-3, WarmupSteps = 1, Precision = Precision.BFloat16, Device = CPU,
            OutputDirectory = dir.Path, ShowProgress = false, Log = TextWriter.Null, WriteCurves = false,
        });

        Assert.Equal(ScalarType.BFloat16, report.ComputeType);
        Assert.True(report.Epochs[^1].TrainLoss < report.Epochs[0].TrainLoss,
            $"train loss {report.Epochs[0].TrainLoss:F3} -> {report.Epochs[^1].TrainLoss:F3}");
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.All(Checkpoint.ReadInfo(report.CheckpointPath!).ModelTensors, t => Assert.Equal("Float32", t.DType));
    }

    [Fact]
    public void Auto_precision_is_fp32_on_the_cpu()
    {
        Assert.Equal(ScalarType.Float32, Trainer.ResolveComputeType(Precision.Auto, CPU, TextWriter.Null));
        Assert.Equal(ScalarType.BFloat16, Trainer.ResolveComputeType(Precision.BFloat16, CPU, TextWriter.Null));
    }
}
