#if MODELDSL_FAMILY_EXAMPLES
using System.Linq;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Examples;

/// <summary>examples/PromptLearning end to end in smoke mode: 2 batches of pretraining, CoOp and PRE, 2 evaluation batches each.</summary>
public class PromptLearningSmokeTests
{
    [Fact]
    public void Prompt_learning_example_reports_every_method()
    {
        var results = PromptLearningExample.Experiment.Run(new PromptLearningExample.ExampleOptions { Smoke = true, Device = CPU, OutputDirectory = null });

        Assert.Equal(["Hand-written prompt", "CoOp (learned context)", "PRE (BiLSTM-reparameterised context)"], results.Rows.Select(r => r.Method));
        Assert.All(results.Rows, r =>
        {
            Assert.InRange(r.Base, 0.0, 1.0);
            Assert.InRange(r.New, 0.0, 1.0);
            Assert.InRange(r.Harmonic, 0.0, 1.0);
        });
        // Only the context (and PRE's encoder) is trained: 4 vectors of width 64 for CoOp.
        Assert.Equal(4 * 64, results.Rows[1].TrainableParameters);
        Assert.True(results.Rows[2].TrainableParameters > results.Rows[1].TrainableParameters);
        // Folding the BiLSTM into plain tokens leaves the class features unchanged.
        Assert.True(results.FoldDifference < 1e-5, $"fold changed a feature by {results.FoldDifference}");
        Assert.Contains("| CoOp (learned context) |", results.ToString());
    }
}
#endif
