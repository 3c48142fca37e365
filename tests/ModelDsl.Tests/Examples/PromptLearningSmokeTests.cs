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

    [Fact]
    public void Prompt_learning_runs_with_shifted_downstream_images()
    {
        var options = PromptLearningExample.ExampleOptions.Parse(["--smoke", "--shift", "blurred", "--prompt-lr", "0.01"], System.IO.TextWriter.Null)!;
        Assert.Equal(2, options.Shift);
        Assert.Equal(0.01, options.PromptLearningRate);

        var results = PromptLearningExample.Experiment.Run(options with { Device = CPU, OutputDirectory = null });

        Assert.Equal(3, results.Rows.Count);
        Assert.Contains("downstream images blurred", results.Data);
        Assert.Throws<System.ArgumentException>(() => PromptLearningExample.ExampleOptions.Parse(["--shift", "sideways"], System.IO.TextWriter.Null));
    }

    [Fact]
    public void Shifting_a_dataset_transforms_the_images_and_keeps_the_labels()
    {
        using var data = new ModelDsl.Data.TensorDataset(("image", randn(3, 1, 28, 28)), ("label", tensor(new long[] { 4, 5, 6 })));
        var image = data["image"].clone();

        using var shifted = PromptLearningExample.Experiment.Shifted(data, 0);

        Assert.True(shifted["image"].equal(image.rot90(1, (2, 3))).all().item<bool>());
        Assert.Equal([4L, 5, 6], shifted["label"].data<long>().ToArray());
        Assert.Same(data, PromptLearningExample.Experiment.Shifted(data, null));
    }

    [Fact]
    public void Compositional_example_reports_seen_and_unseen_pairs_for_every_method()
    {
        var results = PromptLearningExample.Compositional.Run(new PromptLearningExample.ExampleOptions { Smoke = true, Compositional = true, Device = CPU, OutputDirectory = null });

        Assert.Equal(["Hand-written prompt", "Hand-written prompt in the captions' words", "CoOp (learned context)", "CSP (learned attribute and object vectors)"], results.Rows.Select(r => r.Method));
        Assert.All(results.Rows, r =>
        {
            Assert.InRange(r.Seen, 0.0, 1.0);
            Assert.InRange(r.Unseen, 0.0, 1.0);
        });
        // CSP trains one vector of width 64 per attribute (3) and per class (10), nothing else.
        Assert.Equal(13 * 64, results.Rows[3].TrainableParameters);
        Assert.Contains("| CSP (learned attribute and object vectors) |", results.ToString());
    }

    [Fact]
    public void Hidden_unseen_pairs_leave_pretraining_without_their_images()
    {
        // Classes 0, 1 and 2 hold out attributes 0, 1 and 2: one image of each attribute goes.
        using var data = new ModelDsl.Data.TensorDataset(("image", randn(3, 1, 28, 28)), ("label", tensor(new long[] { 0, 1, 2 })));

        using var all = PromptLearningExample.Compositional.CaptionPairs(data, mentionRate: 1, seed: 0);
        using var seenOnly = PromptLearningExample.Compositional.CaptionPairs(data, mentionRate: 1, seed: 0, hideUnseen: true);

        Assert.Equal(9, all.Count);
        Assert.Equal(6, seenOnly.Count);
        Assert.Equal(6, seenOnly["text"].shape[0]);
    }

    [Fact]
    public void Compositional_pairs_hold_out_one_attribute_per_class_and_the_data_follows_them()
    {
        using var images = randn(4, 1, 28, 28);
        var pairs = PromptLearningExample.Compositional.Pairs;

        Assert.Equal(30, pairs.Length);
        Assert.Equal(20, PromptLearningExample.Compositional.SeenPairs.Length);
        Assert.All(Enumerable.Range(0, 10), c => Assert.Single(pairs, p => p.Label == c && PromptLearningExample.Compositional.IsUnseen(p)));
        // A quarter turn four times, and inversion twice, give the image back.
        var turned = images;
        for (var i = 0; i < 4; i++) turned = PromptLearningExample.Compositional.Apply(turned, 0);
        Assert.True(turned.allclose(images));
        Assert.True(PromptLearningExample.Compositional.Apply(PromptLearningExample.Compositional.Apply(images, 1), 1).allclose(images, rtol: 1e-5, atol: 1e-5));
        // A box blur keeps the mean of an image away from its border.
        using var dot = zeros(1, 1, 28, 28) - (float)(ModelDsl.Data.FashionMnist.Mean / ModelDsl.Data.FashionMnist.Std);
        dot[0, 0, 14, 14] = tensor((float)((1 - ModelDsl.Data.FashionMnist.Mean) / ModelDsl.Data.FashionMnist.Std));
        using var blurred = PromptLearningExample.Compositional.Apply(dot, 2) * (float)ModelDsl.Data.FashionMnist.Std + (float)ModelDsl.Data.FashionMnist.Mean;
        Assert.Equal(1.0, blurred.sum().item<float>(), 3);
        Assert.Equal(1.0 / 25, blurred[0, 0, 13, 13].item<float>(), 4);
    }
}
#endif
