using System;
using System.IO;
using System.Linq;
using ModelDsl.Tests.Generated;
using ModelDsl.Weights;
using PromptLearningExample;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Weights;

/// <summary>
/// Save -> load -> identical outputs for the stage kinds of task-token models (task tokens, task decoder,
/// classifier/regression/mask task heads) and of composed models (towers, token embedding, prompt tokens,
/// feature projection, cosine logits), in both file formats; the names carry the tower's prefix.
/// </summary>
public sealed class ComposedStageWeightsTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "modeldsl-composed-weights-tests", Guid.NewGuid().ToString("N"));

    public ComposedStageWeightsTests() => Directory.CreateDirectory(folder);

    public void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }

    public static TheoryData<string, WeightsFormat> Cases()
    {
        var data = new TheoryData<string, WeightsFormat>();
        foreach (var model in new[] { nameof(FourTaskVit), nameof(ExemplarMatcher), nameof(Clip), nameof(CoOp), nameof(Csp) })
        foreach (var format in new[] { WeightsFormat.Safetensors, WeightsFormat.PyTorch })
            data.Add(model, format);
        return data;
    }

    private static nn.Module Create(string model, int seed)
    {
        manual_seed(seed);
        nn.Module module = model switch
        {
            nameof(FourTaskVit) => new FourTaskVit(CPU),
            nameof(ExemplarMatcher) => new ExemplarMatcher(CPU),
            nameof(Clip) => new Clip(CPU),
            nameof(CoOp) => new CoOp(CPU),
            nameof(Csp) => new Csp(CPU),
            _ => throw new ArgumentOutOfRangeException(nameof(model)),
        };
        module.eval();
        return module;
    }

    // Rows of word ids as the example writes them: a start token, words, an end token.
    private static Tensor Text(long rows)
    {
        var ids = randint(Vocabulary.End + 1, Vocabulary.Size, [rows, Vocabulary.Length]);
        ids[TensorIndex.Colon, 0] = Vocabulary.Start;
        ids[TensorIndex.Colon, Vocabulary.Length - 1] = Vocabulary.End;
        return ids;
    }

    // Every output of the forward pass, on fixed inputs.
    private static Tensor[] Outputs(nn.Module model)
    {
        manual_seed(5);
        var image = randn(3, 1, 28, 28);
        var text = Text(3);
        switch (model)
        {
            case FourTaskVit m:
                var tasks = m.Forward(image);
                return [tasks.Category, tasks.Coarse, tasks.Angle, tasks.Mask];
            case ExemplarMatcher m:
                return [m.Forward(image, randn(4, 1, 28, 28)).Logits];
            case Clip m:
                var clip = m.Forward(image, text);
                return [clip.Logits, clip.Image, clip.Text];
            case CoOp m:
                var coop = m.Forward(image, Text(5));
                return [coop.Logits, coop.Image, coop.Text];
            // Random ids include CSP's learned ones (23..35), so the loaded vocabulary is read.
            case Csp m:
                var csp = m.Forward(image, Text(5));
                return [csp.Logits, csp.Image, csp.Text];
            default:
                throw new ArgumentOutOfRangeException(nameof(model));
        }
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Save_then_load_into_a_differently_seeded_instance_gives_identical_outputs(string model, WeightsFormat format)
    {
        using var scope = NewDisposeScope();
        using var source = Create(model, seed: 31);
        using var target = Create(model, seed: 32);
        var expected = Outputs(source);
        Assert.False(Outputs(target).Zip(expected).All(p => Same(p.First, p.Second)), "the two instances should start different");
        var path = Path.Combine(folder, model + (format == WeightsFormat.Safetensors ? ".safetensors" : ".pt"));

        source.Save(path, format);
        var report = target.Load(path);

        Assert.True(report.IsComplete, report.ToString());
        Assert.Equal(source.named_parameters().Select(p => p.name), report.Loaded);
        var actual = Outputs(target);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Same(actual[i], expected[i]), $"output {i} differs after loading");
        Assert.Equal(source.named_parameters().Select(p => p.parameter.requires_grad), target.named_parameters().Select(p => p.parameter.requires_grad));
    }

    [Fact]
    public void A_tower_is_saved_under_its_member_name_and_a_frozen_tower_stays_frozen()
    {
        using var model = Create(nameof(ExemplarMatcher), seed: 1);
        var names = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.requires_grad);

        Assert.Contains("image.cls_token", names.Keys);
        Assert.Contains("exemplar.blocks.0.attn.qkv.weight", names.Keys);
        Assert.All(names.Where(n => n.Key.StartsWith("image.", StringComparison.Ordinal)), n => Assert.False(n.Value, n.Key));
        Assert.All(names.Where(n => n.Key.StartsWith("exemplar.", StringComparison.Ordinal)), n => Assert.True(n.Value, n.Key));
    }
}
