#if MODELDSL_FAMILY_EXAMPLES
using System;
using System.IO;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Examples;

/// <summary>
/// Issue 16: no example validates on its test split. The family examples report their last epoch and choose
/// nothing, so they train without a validation set (no val_ column in any record) and read the test split once,
/// after training; the main example's split is checked by <see cref="MainExampleSmokeTests"/>.
/// </summary>
public class ExampleSplitTests
{
    [Fact]
    public void The_resampler_and_task_token_examples_never_validate_on_the_test_split()
    {
        var log = new StringWriter();

        var resampler = ResamplerExample.Experiment.Run(new ModelDsl.Examples.ExampleOptions { Smoke = true, Device = CPU, Log = log });
        var tasks = TaskTokensExample.Experiment.Run(new ModelDsl.Examples.ExampleOptions { Smoke = true, Device = CPU, OutputDirectory = null, Log = log });

        var text = log.ToString();
        Assert.Contains("\"train_loss\"", text, StringComparison.Ordinal);   // the trainer's records are in the log ...
        Assert.DoesNotContain("\"val_", text, StringComparison.Ordinal);     // ... and none has a validation column
        Assert.All(resampler.Rows, r => Assert.InRange(r.Accuracy, 0.0, 1.0)); // the test split, read after training
        Assert.Contains("category only: test loss ", text, StringComparison.Ordinal);
        Assert.NotNull(tasks);
    }
}
#endif
