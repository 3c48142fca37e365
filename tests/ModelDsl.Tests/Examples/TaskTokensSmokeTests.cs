// Compiled only when the test project links the task-token example's files (examples/TaskTokens)
// and defines MODELDSL_FAMILY_EXAMPLES.
#if MODELDSL_FAMILY_EXAMPLES
using System.Linq;
using ModelDsl.Data;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Examples;

/// <summary>
/// examples/TaskTokens end to end in smoke mode (2 training and 2 evaluation batches per model),
/// and its data: rotation, coarse groups, the optional coarse labels and the masks.
/// </summary>
public class TaskTokensSmokeTests
{
    [Fact]
    public void TaskTokens_example_trains_the_four_task_model_and_each_baseline()
    {
        var results = TaskTokensExample.Experiment.Run(new ModelDsl.Examples.ExampleOptions { Smoke = true, Device = CPU, OutputDirectory = null });

        Assert.Equal(8_000, results.TrainCount);
        Assert.Equal(2_000, results.TestCount);
        Assert.Equal(["MultiTaskVit", "CategoryVit", "CoarseVit", "AngleVit", "MaskVit"], results.Models.Select(m => m.Model));
        Assert.Equal(
            [TaskTokensExample.MultiTaskVit.Summary.TotalParameters, TaskTokensExample.CategoryVit.Summary.TotalParameters],
            results.Models.Take(2).Select(m => m.Parameters));
        Assert.Equal(4, results.Tasks.Count);
        Assert.All(results.Tasks.Where(t => t.Metric != "MAE in degrees"), t =>
        {
            Assert.InRange(t.MultiTask, 0.0, 1.0);
            Assert.InRange(t.SingleTask, 0.0, 1.0);
        });
        var angle = results.Tasks.Single(t => t.Metric == "MAE in degrees");
        Assert.InRange(angle.MultiTask, 0.0, 90.0);
        Assert.InRange(results.CoarseLabelledFraction, 0.45, 0.55);
        var table = results.ToString();
        Assert.All(results.Tasks, t => Assert.Contains($"| {t.Task} | {t.Metric} |", table));
    }

    [Fact]
    public void Task_data_rotates_every_image_and_keeps_half_the_coarse_labels()
    {
        var (grey, greyTest) = FashionMnist.LoadEmbedded();
        using (grey)
        using (greyTest)
        {
            var (train, test) = TaskTokensExample.TaskData.Create(grey, greyTest, seed: 0);
            using (train)
            using (test)
            {
                Assert.Equal([8_000L, 1, 28, 28], train["image"].shape);
                Assert.Equal([8_000L, 1], train["angle"].shape);
                Assert.Equal([8_000L, 1, 28, 28], train["mask"].shape);
                Assert.True(train["angle"].abs().le(1).all().item<bool>());
                Assert.True(train["angle"].abs().mean().item<float>() > 0.4f, "The angles should spread over [-1, 1].");
                Assert.True(train["category"].eq(grey["label"]).all().item<bool>());
                // Trousers (1) are bottoms (1), bags (8) footwear-and-bags (2), where the label is present.
                var present = train["coarse_present"];
                var coarse = train["coarse"];
                Assert.True(coarse.masked_select(present.logical_and(grey["label"].eq(1))).eq(1).all().item<bool>());
                Assert.True(coarse.masked_select(present.logical_and(grey["label"].eq(8))).eq(2).all().item<bool>());
                Assert.True(coarse.masked_select(present.logical_not()).eq(-1).all().item<bool>());
                Assert.True(test["coarse_present"].all().item<bool>());
                // The mask is the rotated garment: mostly foreground in the centre, none in the corners.
                var mask = train["mask"];
                Assert.Equal(0f, mask[TensorIndex.Colon, 0, 0, 0].sum().item<float>());
                Assert.InRange(mask.mean().item<float>(), 0.2f, 0.7f);
            }
        }
    }

    [Fact]
    public void Rotating_by_zero_keeps_the_image_and_by_ninety_degrees_turns_it()
    {
        var image = arange(16, dtype: ScalarType.Float32).reshape(1, 1, 4, 4);
        var same = TaskTokensExample.TaskData.Rotate(image, zeros(1));
        var turned = TaskTokensExample.TaskData.Rotate(image, full(1, 90f));

        Assert.True(same.allclose(image, 1e-4, 1e-4));
        Assert.True(turned.allclose(image.rot90(1, (2, 3)), 1e-4, 1e-4) || turned.allclose(image.rot90(-1, (2, 3)), 1e-4, 1e-4),
            "A 90° rotation should be an exact quarter turn.");
    }
}
#endif
