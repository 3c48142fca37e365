#if MODELDSL_FAMILY_EXAMPLES
using System.IO;

namespace ModelDsl.Tests.Examples;

/// <summary>examples/Codebook end to end in smoke mode: 2 steps of each CLIP, measured on 200 test images.</summary>
public class CodebookSmokeTests
{
    [Fact]
    public void Codebook_example_reports_both_models()
    {
        var report = CodebookExample.Experiment.Run(epochs: 1, seed: 0, smoke: true, TextWriter.Null);

        Assert.Contains("| CLIP (CLS / end token projected) |", report);
        Assert.Contains("| FDT (256 shared codes, sparsemax, T = 1) |", report);
        Assert.Contains("codes used by at least one test image", report);
    }
}
#endif
