using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ModelDsl.Tests.Generated;
using ModelDsl.Weights;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Weights;

/// <summary>
/// Saving and loading the token-family stages (VPT-deep prompts, VQT query tokens with a head that
/// reads them, a resampler over the encoder, ChannelViT's patch embedding) and a user's custom
/// module, in both formats; the names they register, as docs/weights.md lists them.
/// </summary>
public sealed class TokenFamilyWeightsTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "modeldsl-weights-tests", Guid.NewGuid().ToString("N"));

    public TokenFamilyWeightsTests() => Directory.CreateDirectory(folder);

    public void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }

    private string File(string name) => Path.Combine(folder, name);

    private static readonly string[] Models = [nameof(VptDeepVit), nameof(VqtVit), nameof(ResampledVit), nameof(ChannelVit), nameof(CustomStageVit)];

    public static TheoryData<string, WeightsFormat> ModelsAndFormats()
    {
        var data = new TheoryData<string, WeightsFormat>();
        foreach (var model in Models)
        foreach (var format in new[] { WeightsFormat.Safetensors, WeightsFormat.PyTorch })
            data.Add(model, format);
        return data;
    }

    public static TheoryData<string> ModelNames() => [.. Models];

    private static nn.Module Create(string model, int seed)
    {
        manual_seed(seed);
        nn.Module module = model switch
        {
            nameof(VptDeepVit) => new VptDeepVit(CPU),
            nameof(VqtVit) => new VqtVit(CPU),
            nameof(ResampledVit) => new ResampledVit(CPU),
            nameof(ChannelVit) => new ChannelVit(CPU),
            nameof(CustomStageVit) => new CustomStageVit(CPU),
            nameof(PlainVit) => new PlainVit(CPU),
            _ => throw new ArgumentOutOfRangeException(nameof(model)),
        };
        // ChannelVit samples channels at random in training mode; outputs are compared in evaluation mode.
        module.eval();
        return module;
    }

    private static Tensor Logits(nn.Module model, Tensor image) => model switch
    {
        VptDeepVit m => m.Forward(image).Logits,
        VqtVit m => m.Forward(image).Logits,
        ResampledVit m => m.Forward(image).Logits,
        ChannelVit m => m.Forward(image).Logits,
        CustomStageVit m => m.Forward(image).Logits,
        _ => throw new ArgumentOutOfRangeException(nameof(model)),
    };

    private static Tensor Image(nn.Module model) => model is ChannelVit ? randn(3, 3, 28, 28) : randn(3, 1, 28, 28);

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    private static string Extension(WeightsFormat format) => format == WeightsFormat.Safetensors ? ".safetensors" : ".pt";

    /// <summary>
    /// The registered names and shapes, written from the declarations in Generated/TokenFamilyModels.cs and
    /// CustomStageModels.cs and the table in docs/weights.md, in <c>named_parameters()</c> order.
    /// </summary>
    internal static IReadOnlyList<(string Name, long[] Shape)> Expected(string model)
    {
        static IEnumerable<(string, long[])> Blocks(int depth, long dim)
        {
            for (var i = 0; i < depth; i++)
            {
                var b = $"blocks.{i}.";
                yield return (b + "norm1.weight", [dim]);
                yield return (b + "norm1.bias", [dim]);
                yield return (b + "attn.qkv.weight", [3 * dim, dim]);
                yield return (b + "attn.qkv.bias", [3 * dim]);
                yield return (b + "attn.proj.weight", [dim, dim]);
                yield return (b + "attn.proj.bias", [dim]);
                yield return (b + "norm2.weight", [dim]);
                yield return (b + "norm2.bias", [dim]);
                yield return (b + "mlp.fc1.weight", [4 * dim, dim]);
                yield return (b + "mlp.fc1.bias", [4 * dim]);
                yield return (b + "mlp.fc2.weight", [dim, 4 * dim]);
                yield return (b + "mlp.fc2.bias", [dim]);
            }
        }
        static IEnumerable<(string, long[])> Layers(string prefix, long dim, long source)
        {
            var l = prefix + ".layers.0.";
            yield return (l + "norm_q.weight", [dim]);
            yield return (l + "norm_q.bias", [dim]);
            yield return (l + "norm_kv.weight", [source]);
            yield return (l + "norm_kv.bias", [source]);
            yield return (l + "attn.q.weight", [dim, dim]);
            yield return (l + "attn.q.bias", [dim]);
            yield return (l + "attn.kv.weight", [2 * dim, source]);
            yield return (l + "attn.kv.bias", [2 * dim]);
            yield return (l + "attn.proj.weight", [dim, dim]);
            yield return (l + "attn.proj.bias", [dim]);
            yield return (l + "norm2.weight", [dim]);
            yield return (l + "norm2.bias", [dim]);
            yield return (l + "mlp.fc1.weight", [4 * dim, dim]);
            yield return (l + "mlp.fc1.bias", [4 * dim]);
            yield return (l + "mlp.fc2.weight", [dim, 4 * dim]);
            yield return (l + "mlp.fc2.bias", [dim]);
        }
        (string, long[])[] Patch(long dim) => [("patch_embed.proj.weight", [dim, 1, 7, 7]), ("patch_embed.proj.bias", [dim])];
        (string, long[])[] Norm(string name, long dim) => [(name + ".weight", [dim]), (name + ".bias", [dim])];
        (string, long[])[] Head(long classes, long inFeatures) => [("head.weight", [classes, inFeatures]), ("head.bias", [classes])];

        return model switch
        {
            // Depth 2, 3 prompts per block, width 32; the model's own parameters first, in stage order.
            nameof(VptDeepVit) => [("cls_token", [1, 1, 32]), ("pos_embed", [1, 17, 32]), ("prompts", [2, 3, 32]),
                                   .. Patch(32), .. Blocks(2, 32), .. Norm("norm", 32), .. Head(5, 32)],
            // Depth 2, 2 queries per block; the head reads CLS and the 2x2 query outputs: 5 * 32 features.
            nameof(VqtVit) => [("cls_token", [1, 1, 32]), ("pos_embed", [1, 17, 32]), ("queries", [2, 2, 32]),
                               .. Patch(32), .. Blocks(2, 32), .. Norm("norm", 32), .. Head(5, 160)],
            // The resampler reads the encoder's 32-wide tokens into 4 queries of width 16; the encoder has no
            // final norm (the resampler normalises its source itself), the avg head's fc_norm is 16 wide.
            nameof(ResampledVit) => [("cls_token", [1, 1, 32]), ("pos_embed", [1, 17, 32]), .. Patch(32), .. Blocks(1, 32),
                                     ("compress.latents", [1, 4, 16]), .. Layers("compress", 16, 32),
                                     .. Norm("fc_norm", 16), .. Head(10, 16)],
            // 3 channels, 16 patches per channel; the position table lives in the patch embedding.
            nameof(ChannelVit) => [("cls_token", [1, 1, 32]), ("patch_embed.channel_embed", [1, 3, 32]), ("patch_embed.pos_embed", [1, 16, 32]),
                                   .. Patch(32), .. Blocks(1, 32), .. Norm("norm", 32), .. Head(10, 32)],
            // The user's WidthDoubler registers its Linear as "proj", under the member's snake_case name.
            nameof(CustomStageVit) => [("cls_token", [1, 1, 32]), .. Patch(32), ("widen.proj.weight", [64, 32]), ("widen.proj.bias", [64]),
                                       .. Blocks(1, 64), .. Norm("norm", 64), .. Head(10, 64)],
            _ => throw new ArgumentOutOfRangeException(nameof(model)),
        };
    }

    [Theory]
    [MemberData(nameof(ModelsAndFormats))]
    public void Save_then_load_into_a_differently_seeded_instance_gives_identical_outputs(string model, WeightsFormat format)
    {
        using var scope = NewDisposeScope();
        using var source = Create(model, seed: 21);
        using var target = Create(model, seed: 22);
        var image = Image(source);
        var expected = Logits(source, image);
        Assert.False(Same(Logits(target, image), expected), "the two instances should start different");
        var path = File(model + Extension(format));

        source.Save(path, format);
        var report = target.Load(path);

        Assert.True(Same(Logits(target, image), expected), "outputs differ after loading");
        foreach (var (name, parameter) in source.named_parameters())
            Assert.True(Same(parameter, target.get_parameter(name)!), name);
        Assert.True(report.IsComplete, report.ToString());
        Assert.Equal(source.named_parameters().Select(p => p.name), report.Loaded);
        Assert.Equal(format, report.Format);
        // Frozen stages stay frozen and the trainable tokens trainable: a load never changes requires_grad.
        Assert.Equal(source.named_parameters().Select(p => p.parameter.requires_grad), target.named_parameters().Select(p => p.parameter.requires_grad));
    }

    [Theory]
    [MemberData(nameof(ModelNames))]
    public void Registered_names_and_shapes_are_the_documented_ones(string model)
    {
        using var instance = Create(model, seed: 1);
        var expected = Expected(model);

        Assert.Equal(expected.Select(e => e.Name), instance.named_parameters().Select(p => p.name));
        foreach (var (name, parameter) in instance.named_parameters())
            Assert.True(parameter.shape.SequenceEqual(expected.Single(e => e.Name == name).Shape),
                $"{name}: documented [{string.Join(",", expected.Single(e => e.Name == name).Shape)}], registered [{string.Join(",", parameter.shape)}]");

        // The file holds the same table, whatever order its header has.
        var path = File(model + ".safetensors");
        instance.SaveSafetensors(path);
        var entries = ModelDsl.Weights.Weights.ReadEntries(path);
        Assert.Equal(expected.Select(e => e.Name).Order(StringComparer.Ordinal), entries.Select(e => e.Name).Order(StringComparer.Ordinal));
        Assert.All(entries, e => Assert.Equal(expected.Single(x => x.Name == e.Name).Shape, e.Shape));
    }

    [Theory]
    [InlineData(WeightsFormat.Safetensors)]
    [InlineData(WeightsFormat.PyTorch)]
    public void A_vpt_deep_file_is_refused_by_the_vqt_declaration_with_every_difference_and_nothing_changes(WeightsFormat format)
    {
        using var vpt = Create(nameof(VptDeepVit), seed: 23);
        using var vqt = Create(nameof(VqtVit), seed: 24);
        var path = File("vpt" + Extension(format));
        vpt.Save(path, format);
        var before = vqt.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());

        var error = Assert.Throws<WeightsMismatchException>(() => vqt.Load(path));

        Assert.Equal(["queries"], error.Missing.Select(e => e.Name));
        Assert.Equal([2L, 2, 32], error.Missing.Single().Shape);
        Assert.Equal(["prompts"], error.Unexpected.Select(e => e.Name));
        Assert.Equal([2L, 3, 32], error.Unexpected.Single().Shape);
        var head = Assert.Single(error.ShapeMismatches);
        Assert.Equal("head.weight", head.Name);
        Assert.Equal([5L, 160], head.Expected);
        Assert.Equal([5L, 32], head.Found);

        var message = error.Message;
        Assert.Contains("1 missing, 1 unexpected, 1 with another shape. Nothing was loaded.", message);
        Assert.Contains("  queries [2,2,32]", message);
        Assert.Contains("  prompts [2,3,32]", message);
        Assert.Contains("  head.weight: expected [5,160], found [5,32]", message);
        foreach (var (name, parameter) in vqt.named_parameters())
            Assert.True(Same(parameter, before[name]), $"{name} changed although the load was refused");
    }

    [Fact]
    public void A_plain_vit_checkpoint_starts_vpt_deep_with_the_prompts_and_the_head_new()
    {
        // The prompt-tuning workflow: a pretrained ViT of the same backbone, a strict check of everything
        // but the new prompts and head, which keep their initialisation.
        using var scope = NewDisposeScope();
        using var pretrained = Create(nameof(PlainVit), seed: 25);
        var path = File("plain.safetensors");
        pretrained.SaveSafetensors(path);
        using var model = (VptDeepVit)Create(nameof(VptDeepVit), seed: 26);
        var prompts = model.Prompts.detach().clone();

        var report = model.Load(path, LoadOptions.Strict with { Exclude = ["prompts", "head"] });

        Assert.Equal(["prompts", "head.weight", "head.bias"], report.New);
        Assert.Equal(30, report.Loaded.Count);
        Assert.Equal(["head.bias", "head.weight"], report.Ignored.Order(StringComparer.Ordinal));
        Assert.True(Same(model.Prompts, prompts));
        Assert.True(Same(model.get_parameter("blocks.1.attn.qkv.weight")!, pretrained.get_parameter("blocks.1.attn.qkv.weight")!));
        // The declaration froze the backbone; only the prompts and the head train.
        Assert.Equal(["prompts", "head.weight", "head.bias"], model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name));
    }
}
