using System;
using System.IO;
using ModelDsl.Examples;
using ModelDsl.Tests.Generated;
using UserStageExample;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Examples;

/// <summary>examples/UserStage: a stage kind declared outside the library, against the built-in it re-implements.</summary>
public sealed class UserStageSmokeTests
{
    [Fact]
    public void The_user_stage_loads_the_built_in_weights_and_gives_the_same_outputs_and_summary_rows()
    {
        var folder = Path.Combine(Path.GetTempPath(), "modeldsl-user-stage-tests", Guid.NewGuid().ToString("N"));
        try
        {
            var results = UserStageExperiment.Run(new ExampleOptions { Smoke = true, OutputDirectory = folder, Device = CPU });

            Assert.True(results.MaxLogitDifference <= 1e-6, $"logits differ by {results.MaxLogitDifference}");
            Assert.True(results.MaxTokenDifference <= 1e-6, $"tokens differ by {results.MaxTokenDifference}");
            Assert.Empty(results.SummaryDifferences);
            Assert.Contains("Loaded 45 of 45", results.LoadReport);
            Assert.True(results.Equivalent);
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public void The_summary_kind_column_names_the_users_type_and_the_counts_are_the_built_ins()
    {
        Assert.Equal("ChannelPatches", UserChannelVit.Summary.Rows[1].Kind);
        Assert.Equal(BuiltInChannelVit.Summary.TotalParameters, UserChannelVit.Summary.TotalParameters);
        Assert.Equal(4_416, UserChannelVit.Summary.Rows[1].Parameters);
    }

    [Fact]
    public void A_module_registering_other_parameters_than_its_type_declares_is_refused_when_the_model_is_built()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new MisdeclaredStageVit(CPU));

        Assert.Contains("Stage 'Widen' (MisdeclaredWiden) registers the parameters weight [32,48], but its type declares weight [48,32]", error.Message);
    }
}
