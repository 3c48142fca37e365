#if MODELDSL_FAMILY_EXAMPLES
using System.IO;

namespace ModelDsl.Tests.Examples;

/// <summary>examples/Distillation end to end in smoke mode: 2 teacher steps, 4 steps of each student, 200 test images.</summary>
public class DistillationSmokeTests
{
    [Fact]
    public void Distillation_example_reports_both_students()
    {
        var report = DistillationExample.Experiment.Run(teacherEpochs: 1, shots: 2, steps: 4, evalEvery: 2, seed: 0, smoke: true, plotPath: null, TextWriter.Null);

        Assert.Contains("| Step | student alone | student + teacher |", report);
        Assert.Contains("| 4 |", report);
        Assert.Contains("on 20 labelled images (2 per class)", report);
    }
}
#endif
