using System;
using System.Linq;
using ModelDsl.Data;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Generated;

/// <summary>CSP's learned vocabulary in a generated text tower: what trains, what it changes, where it is saved.</summary>
public class VocabularyTokensModelTests
{
    // <start> a photo of <attribute> <object> <end> <pad>: ids 31 and 35 are learned, the rest frozen words.
    private static Tensor Prompts() => tensor(new long[] { 1, 5, 6, 7, 31, 35, 2, 0, 1, 5, 6, 7, 32, 35, 2, 0 }, new long[] { 2, 8 });

    [Fact]
    public void Only_the_vocabulary_is_trainable_and_it_is_saved_under_the_member_name()
    {
        using var model = new TinyCspText(CPU);

        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        Assert.Equal(["concepts.weight"], trainable);
        Assert.Equal([10L, 32], model.state_dict()["concepts.weight"].shape);
        Assert.Equal(10 * 32, TinyCspText.Summary.TrainableParameters);
        using var csp = new TinyCsp(CPU);
        Assert.Contains("text.concepts.weight", csp.NoWeightDecayNames);
    }

    [Fact]
    public void Learned_ids_read_the_vocabulary_and_the_gradient_reaches_only_their_rows()
    {
        manual_seed(3);
        using var model = new TinyCspText(CPU);
        using var prompts = Prompts();

        var features = model.Forward(prompts).Features;
        features.pow(2).sum().backward();

        Assert.Equal([2L, 32], features.shape);
        using var grad = model.Concepts.Weight.grad!;
        var touched = Enumerable.Range(0, 10).Where(r => grad[r].abs().sum().item<float>() > 0).ToArray();
        // Rows 1, 2 and 5 are ids 31, 32 and 35, the only learned ids in the prompts.
        Assert.Equal([1, 2, 5], touched);
        Assert.All(model.Embed.parameters(), p => Assert.Null(p.grad));
    }

    [Fact]
    public void Changing_a_learned_vector_changes_only_the_prompts_that_use_it()
    {
        manual_seed(4);
        using var model = new TinyCspText(CPU);
        using var prompts = Prompts();
        using var _ = no_grad();
        using var before = model.Forward(prompts).Features.clone();

        // Row 1 is id 31, which only the first prompt holds.
        model.Concepts.Weight[1].add_(1.0);
        using var after = model.Forward(prompts).Features;

        Assert.False(after[0].equal(before[0]).all().item<bool>());
        Assert.True(after[1].equal(before[1]).all().item<bool>());
    }

    [Fact]
    public void Training_moves_only_the_vocabulary_and_lowers_the_loss()
    {
        var (train, _) = FashionMnist.LoadEmbedded();
        using var small = train.Take(512);
        manual_seed(6);
        using var model = new TinyCsp(CPU);
        // Class c's prompt is <start> <id 30+c> <end>: only the learned vectors tell the classes apart.
        model.PairPromptsInput = tensor(Enumerable.Range(0, 10).SelectMany(c => new long[] { 1, 30 + c, 2, 0, 0, 0, 0, 0 }).ToArray(), new long[] { 10, 8 });
        var frozenBefore = model.state_dict().Where(kv => kv.Key != "text.concepts.weight").ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var output = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "modeldsl-tests", Guid.NewGuid().ToString("N"));

        var report = model.Fit(small, null, new TrainOptions
        {
            Epochs = 3, BatchSize = 64, LearningRate = 1e-2, Seed = 6, Device = CPU, OutputDirectory = output, ShowProgress = false,
        });

        Assert.True(report.Epochs[^1].TrainLoss < report.Epochs[0].TrainLoss - 0.05, $"train loss {report.Epochs[0].TrainLoss:F3} -> {report.Epochs[^1].TrainLoss:F3}");
        foreach (var (name, value) in model.state_dict().Where(kv => frozenBefore.ContainsKey(kv.Key)))
            Assert.True(value.equal(frozenBefore[name]).all().item<bool>(), $"frozen parameter '{name}' changed");
    }
}
