// Compiled only when the test project links the family examples' models and experiments
// (examples/Resampler, examples/ChannelVit) and defines MODELDSL_FAMILY_EXAMPLES; the csproj lines
// are in examples/Resampler/README.md.
#if MODELDSL_FAMILY_EXAMPLES
using System.Linq;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Examples;

/// <summary>
/// The family examples (examples/Resampler, examples/ChannelVit) end to end in smoke mode: every
/// configuration trains for 2 batches on the embedded subset and is evaluated on 2 batches. The
/// examples' Models.cs and Experiment.cs are compiled into this project (linked in the csproj).
/// </summary>
public class FamilyExampleSmokeTests
{
    [Fact]
    public void Resampler_example_trains_and_reports_every_configuration()
    {
        var results = ResamplerExample.Experiment.Run(new ModelDsl.Examples.ExampleOptions { Smoke = true, Device = CPU });

        Assert.Equal(8_000, results.TrainCount);
        Assert.Equal(2_000, results.TestCount);
        Assert.Equal(ResamplerExample.Experiment.Configurations, results.Rows.Select(r => r.Configuration));
        Assert.Equal([16, 8, 4], results.Rows.Select(r => r.TokensIntoHead));
        Assert.Equal(
            [ResamplerExample.AllTokensVit.Summary.TotalParameters, ResamplerExample.Resampled8Vit.Summary.TotalParameters, ResamplerExample.Resampled4Vit.Summary.TotalParameters],
            results.Rows.Select(r => r.Parameters));
        Assert.Equal(0, results.Rows[0].ResamplerParameters);
        Assert.All(results.Rows.Skip(1), r => Assert.True(r.ResamplerParameters > 0));
        Assert.All(results.Rows, r =>
        {
            Assert.InRange(r.Accuracy, 0.0, 1.0);
            Assert.Equal(1, r.Epochs);
        });
        var table = results.ToString();
        Assert.All(results.Rows, r => Assert.Contains($"| {r.Configuration} | {r.TokensIntoHead} |", table));
    }

    [Fact]
    public void ChannelVit_example_trains_both_models_and_reports_every_channel_set()
    {
        var results = ChannelVitExample.Experiment.Run(new ModelDsl.Examples.ExampleOptions { Smoke = true, Device = CPU });

        Assert.Equal(8_000, results.TrainCount);
        Assert.Equal(2_000, results.TestCount);
        Assert.Equal(["all (raw, edge, blur)", "raw only", "edge only", "blur only"], results.Rows.Select(r => r.Channels));
        Assert.All(results.Rows, r =>
        {
            Assert.InRange(r.ChannelVitAccuracy, 0.0, 1.0);
            Assert.InRange(r.PlainVitAccuracy, 0.0, 1.0);
        });
        Assert.Equal(["ChannelViT", "Plain ViT"], results.Models.Select(m => m.Model));
        Assert.Equal(
            [ChannelVitExample.ChannelVit.Summary.TotalParameters, ChannelVitExample.PlainVit.Summary.TotalParameters],
            results.Models.Select(m => m.Parameters));
        var table = results.ToString();
        Assert.All(results.Rows, r => Assert.Contains($"| {r.Channels} |", table));
    }

    [Fact]
    public void Three_channel_data_are_normalised_per_channel_and_missing_channels_are_zero()
    {
        var (grey, greyTest) = ModelDsl.Data.FashionMnist.LoadEmbedded();
        using (grey)
        using (greyTest)
        {
            var (train, test) = ChannelVitExample.ThreeChannels.Create(grey, greyTest);
            using (train)
            using (test)
            {
                var image = train["image"];
                Assert.Equal([8_000L, 3, 28, 28], image.shape);
                Assert.Equal([2_000L, 3, 28, 28], test["image"].shape);
                var dims = new long[] { 0, 2, 3 };
                Assert.All(image.mean(dims).data<float>().ToArray(), m => Assert.InRange(m, -1e-3, 1e-3));
                Assert.All(image.std(dims).data<float>().ToArray(), s => Assert.InRange(s, 0.999, 1.001));

                using var edgeOnly = ChannelVitExample.ThreeChannels.KeepOnly(test, [1]);
                Assert.Equal(0.0, edgeOnly["image"].index_select(1, tensor(new long[] { 0, 2 })).abs().sum().item<float>());
                Assert.True(edgeOnly["image"].select(1, 1).eq(test["image"].select(1, 1)).all().item<bool>());
                Assert.True(edgeOnly["label"].eq(test["label"]).all().item<bool>());
            }
        }
    }
}
#endif
