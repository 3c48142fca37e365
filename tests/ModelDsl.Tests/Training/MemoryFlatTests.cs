using System;
using System.IO;
using ModelDsl.Tests.Data;
using ModelDsl.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Training;

/// <summary>
/// Resident memory over a long run. It reads the whole process, so it runs first in the assembly
/// (<see cref="MemoryTestsFirst"/>): after other tests the allocator's and the GC's leftovers move the
/// resident set by 2-4 % between two probes, which would hide or fake the growth this test bounds.
/// </summary>
[Collection(MemoryTestsFirst.Collection)]
public class MemoryFlatTests : SingleThreadedTorch
{
    private static readonly TrainOptions Options = new()
    {
        LearningRate = 3e-3,
        Device = CPU,
        OutputDirectory = null,
        ShowProgress = false,
        Log = TextWriter.Null,
    };

    [Fact]
    public void Resident_memory_stays_flat_over_a_thousand_steps()
    {
        using var train = TestData.EmbeddedTrain.Take(800);
        // A warm-up run first: when this test runs early in the process, the JIT's tier-1 code and the
        // first touch of libtorch's code pages would otherwise land between step 100 and step 1000
        // (5-6 MiB, once) and read as growth of the run under test.
        using (var warmUp = new MemoryProbeMlp())
            warmUp.Fit(train, null, Options with { Epochs = 3, BatchSize = 8, SyncEveryNSteps = 10 });
        torch.manual_seed(12);
        using var model = new MemoryProbeMlp(100, 1000);
        // The earlier tests' undisposed tensors are freed by finalizers; let that happen now rather than
        // between step 100 and step 1000, where it would read as this run's memory shrinking.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        // 100 batches of 8 per epoch, 10 epochs: 1,000 steps, an evaluation and a record each epoch.
        var report = model.Fit(train, null, Options with { Epochs = 10, BatchSize = 8, SyncEveryNSteps = 10 });

        Assert.Equal(1000, report.Steps);
        // Resident memory is native memory plus the GC's committed heap; the GC's free committed memory
        // swings by several MiB between probes without any leak, so each part is held to the bound.
        long native100 = model.NativeResidentBytes[100], native1000 = model.NativeResidentBytes[1000];
        double growth = (native1000 - native100) / (double)native100;
        Assert.True(Math.Abs(growth) <= 0.02,
            $"native resident memory went from {native100 / 1048576.0:F1} MiB at step 100 to {native1000 / 1048576.0:F1} MiB at step 1000 ({growth:P2}); " +
            $"resident set {model.ResidentBytes[100] / 1048576.0:F1} -> {model.ResidentBytes[1000] / 1048576.0:F1} MiB");
        long managed100 = model.LiveManagedBytes[100], managed1000 = model.LiveManagedBytes[1000];
        Assert.True(managed1000 - managed100 <= 0.02 * model.ResidentBytes[100],
            $"live managed objects grew from {managed100 / 1048576.0:F1} MiB at step 100 to {managed1000 / 1048576.0:F1} MiB at step 1000");
    }

}
