using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using ModelDsl.Tests.Generated;
using ModelDsl.Weights;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Weights;

public sealed class WeightsTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "modeldsl-weights-tests", Guid.NewGuid().ToString("N"));

    public WeightsTests() => Directory.CreateDirectory(folder);

    public void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }

    private string File(string name) => Path.Combine(folder, name);

    public static TheoryData<string, WeightsFormat> ModelsAndFormats()
    {
        var data = new TheoryData<string, WeightsFormat>();
        foreach (var model in new[] { nameof(TinyVit), nameof(FrozenEncoderVit), nameof(MapPooledVit) })
        foreach (var format in new[] { WeightsFormat.Safetensors, WeightsFormat.PyTorch })
            data.Add(model, format);
        return data;
    }

    private static nn.Module Create(string model, int seed)
    {
        manual_seed(seed);
        return model switch
        {
            nameof(TinyVit) => new TinyVit(CPU),
            nameof(FrozenEncoderVit) => new FrozenEncoderVit(CPU),
            nameof(MapPooledVit) => new MapPooledVit(CPU),
            nameof(TinyVitFiveClasses) => new TinyVitFiveClasses(CPU),
            _ => throw new ArgumentOutOfRangeException(nameof(model)),
        };
    }

    private static Tensor Logits(nn.Module model, Tensor image) => model switch
    {
        TinyVit m => m.Forward(image).Logits,
        FrozenEncoderVit m => m.Forward(image).Logits,
        MapPooledVit m => m.Forward(image).Logits,
        TinyVitFiveClasses m => m.Forward(image).Logits,
        _ => throw new ArgumentOutOfRangeException(nameof(model)),
    };

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    private static TorchSharp.Modules.Parameter Param(nn.Module model, string name) =>
        model.get_parameter(name) ?? throw new ArgumentException($"no parameter '{name}'", nameof(name));

    private static Tensor Image(nn.Module model) => model is MapPooledVit ? randn(3, 3, 32, 32) : randn(3, 1, 28, 28);

    private static Dictionary<string, Tensor> Snapshot(nn.Module model) =>
        model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());

    private static IReadOnlyList<(string Name, long[] Shape)> Timm(string model) => model switch
    {
        nameof(TinyVit) => TimmNames.TinyVit,
        nameof(FrozenEncoderVit) => TimmNames.FrozenEncoderVit,
        _ => TimmNames.MapPooledVit,
    };

    [Theory]
    [MemberData(nameof(ModelsAndFormats))]
    public void Save_then_load_into_a_differently_seeded_instance_gives_identical_outputs(string model, WeightsFormat format)
    {
        using var scope = NewDisposeScope();
        using var source = Create(model, seed: 11);
        using var target = Create(model, seed: 12);
        var image = Image(source);
        var expected = Logits(source, image);
        Assert.False(Same(Logits(target, image), expected), "the two instances should start different");
        var path = File(model + (format == WeightsFormat.Safetensors ? ".safetensors" : ".pt"));

        source.Save(path, format);
        var report = target.Load(path);

        Assert.True(Same(Logits(target, image), expected), "outputs differ after loading");
        foreach (var (name, parameter) in source.named_parameters())
            Assert.True(Same(parameter, Param(target, name)), name);
        Assert.True(report.IsComplete, report.ToString());
        Assert.Equal(source.named_parameters().Select(p => p.name), report.Loaded);
        Assert.Empty(report.New);
        Assert.Empty(report.Ignored);
        Assert.Equal(format, report.Format);
        Assert.Equal(format, ModelDsl.Weights.Weights.DetectFormat(path));
    }

    [Theory]
    [MemberData(nameof(ModelsAndFormats))]
    public void Files_hold_exactly_timm_names_and_shapes(string model, WeightsFormat format)
    {
        using var instance = Create(model, seed: 1);
        var path = File(model + (format == WeightsFormat.Safetensors ? ".safetensors" : ".pth"));
        instance.Save(path, format);

        var entries = ModelDsl.Weights.Weights.ReadEntries(path);

        var timm = Timm(model);
        Assert.Equal(timm.Names().OrderBy(n => n, StringComparer.Ordinal), entries.Select(e => e.Name).OrderBy(n => n, StringComparer.Ordinal));
        foreach (var (name, shape) in timm)
            Assert.True(entries.Single(e => e.Name == name).Shape.SequenceEqual(shape), $"{name}: timm {string.Join(",", shape)}, file {string.Join(",", entries.Single(e => e.Name == name).Shape)}");
        Assert.All(entries, e => Assert.Equal("F32", e.DType));
    }

    [Fact]
    public void Safetensors_header_json_has_the_exact_timm_key_set()
    {
        using var model = Create(nameof(TinyVit), seed: 1);
        var path = File("tiny.safetensors");
        model.SaveSafetensors(path);

        // Read the header by hand, as the format defines it: u64 little-endian length, then JSON.
        var bytes = System.IO.File.ReadAllBytes(path);
        var length = (int)BitConverter.ToUInt64(bytes, 0);
        using var json = JsonDocument.Parse(bytes.AsMemory(8, length));
        var keys = json.RootElement.EnumerateObject().Select(p => p.Name).Where(n => n != "__metadata__").ToHashSet();

        Assert.Equal(TimmNames.TinyVit.Names().ToHashSet(), keys);
        Assert.Equal([1L, 19, 32], json.RootElement.GetProperty("pos_embed").GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal("F32", json.RootElement.GetProperty("blocks.1.attn.qkv.weight").GetProperty("dtype").GetString());
        Assert.Equal(System.Text.Encoding.UTF8.GetString(bytes, 8, length), ModelDsl.Weights.Weights.ReadSafetensorsHeader(path));
    }

    [Theory]
    [InlineData(WeightsFormat.Safetensors)]
    [InlineData(WeightsFormat.PyTorch)]
    public void A_file_of_another_architecture_is_refused_with_every_difference_and_nothing_changes(WeightsFormat format)
    {
        using var tiny = Create(nameof(TinyVit), seed: 1);
        using var map = Create(nameof(MapPooledVit), seed: 2);
        var path = File("tiny" + (format == WeightsFormat.Safetensors ? ".safetensors" : ".pt"));
        tiny.Save(path, format);
        var before = Snapshot(map);

        var error = Assert.Throws<WeightsMismatchException>(() => map.Load(path));

        // Missing: what MapPooledVit has and TinyVit lacks.
        Assert.Contains("attn_pool.latent", error.Missing.Select(e => e.Name));
        Assert.Contains("attn_pool.mlp.fc2.bias", error.Missing.Select(e => e.Name));
        Assert.DoesNotContain("blocks.0.norm1.weight", error.Missing.Select(e => e.Name));
        // Unexpected: what TinyVit has and MapPooledVit lacks.
        Assert.Equal(["blocks.1.attn.proj.bias", "blocks.1.attn.proj.weight", "blocks.1.attn.qkv.bias", "blocks.1.attn.qkv.weight",
                      "blocks.1.mlp.fc1.bias", "blocks.1.mlp.fc1.weight", "blocks.1.mlp.fc2.bias", "blocks.1.mlp.fc2.weight",
                      "blocks.1.norm1.bias", "blocks.1.norm1.weight", "blocks.1.norm2.bias", "blocks.1.norm2.weight", "cls_token"],
            error.Unexpected.Select(e => e.Name).OrderBy(n => n, StringComparer.Ordinal));
        // Shapes: both have them, with other sizes.
        var mismatch = error.ShapeMismatches.Single(m => m.Name == "patch_embed.proj.weight");
        Assert.Equal([48L, 3, 8, 8], mismatch.Expected);
        Assert.Equal([32L, 1, 7, 7], mismatch.Found);
        Assert.Contains("reg_token", error.ShapeMismatches.Select(m => m.Name));
        Assert.Contains("head.weight", error.ShapeMismatches.Select(m => m.Name));

        var message = error.Message;
        Assert.Contains("Missing (", message);
        Assert.Contains("  attn_pool.latent [1,1,48]", message);
        Assert.Contains("Unexpected (13)", message);
        Assert.Contains("  cls_token [1,1,32]", message);
        Assert.Contains("  patch_embed.proj.weight: expected [48,3,8,8], found [32,1,7,7]", message);
        Assert.Contains("  pos_embed: expected [1,20,48], found [1,19,32]", message);
        Assert.Contains("Nothing was loaded", message);
        Assert.Contains("LoadOptions.Partial", message);

        foreach (var (name, parameter) in map.named_parameters())
            Assert.True(Same(parameter, before[name]), $"{name} changed although the load was refused");
    }

    [Fact]
    public void Partial_load_of_a_backbone_reports_loaded_new_ignored_and_shape_mismatches()
    {
        using var scope = NewDisposeScope();
        using var host = new BackboneHost(Create(nameof(TinyVit), seed: 3));
        var path = File("host.safetensors");
        host.SaveSafetensors(path);
        using var model = Create(nameof(TinyVitFiveClasses), seed: 4);
        var headBefore = Snapshot(model)["head.weight"];

        var report = model.Load(path, LoadOptions.Partial with { Prefix = "backbone." });

        var backbone = TimmNames.TinyVit.Names().Where(n => !n.StartsWith("head.", StringComparison.Ordinal)).ToList();
        Assert.Equal(backbone.OrderBy(n => n, StringComparer.Ordinal), report.Loaded.OrderBy(n => n, StringComparer.Ordinal));
        Assert.Empty(report.New);
        Assert.Equal(["head.weight", "head.bias"], report.NotLoaded);
        Assert.Equal(["head.weight: expected [5,32], found [10,32]", "head.bias: expected [5], found [10]"], report.ShapeMismatches.Select(m => m.ToString()));
        Assert.Equal(["backbone.head.weight", "backbone.head.bias", "head.weight", "head.bias"], report.Ignored);
        Assert.False(report.IsComplete);
        Assert.True(Same(Param(model, "head.weight"), headBefore), "the new head must keep its initialisation");
        Assert.True(Same(Param(model, "blocks.1.mlp.fc2.weight"), Param(host, "backbone.blocks.1.mlp.fc2.weight")));

        var text = report.ToString();
        Assert.StartsWith($"Loaded {backbone.Count} of {backbone.Count + 2} model tensors from '{path}' (safetensors, partial, prefix 'backbone.').", text);
        Assert.Contains("loaded (31): cls_token, reg_token, pos_embed, patch_embed.* (2), blocks.* (24), norm.* (2)", text);
        Assert.Contains("shape mismatches (2), kept as initialised:\n    head.weight: expected [5,32], found [10,32]", text.ReplaceLineEndings("\n"));
        Assert.Contains("ignored (4), in the file but not loaded:", text);
        Assert.Contains("ignored (4), in the file but not loaded:\n    backbone.head.weight [10,32]\n    backbone.head.bias [10]\n    head.weight [3,32]\n    head.bias [3]", text.ReplaceLineEndings("\n"));
    }

    [Theory]
    [InlineData(WeightsFormat.Safetensors)]
    [InlineData(WeightsFormat.PyTorch)]
    public void Strict_load_excluding_the_head_loads_the_backbone_and_reports_the_head_as_new(WeightsFormat format)
    {
        using var source = Create(nameof(TinyVit), seed: 5);
        var path = File("tiny" + (format == WeightsFormat.Safetensors ? ".safetensors" : ".pt"));
        source.Save(path, format);
        using var model = Create(nameof(TinyVitFiveClasses), seed: 6);

        var report = model.Load(path, LoadOptions.Strict with { Exclude = ["head"] });

        Assert.Equal(["head.weight", "head.bias"], report.New);
        Assert.Equal(["head.bias", "head.weight"], report.Ignored.OrderBy(n => n, StringComparer.Ordinal));
        Assert.Empty(report.ShapeMismatches);
        Assert.Equal(31, report.Loaded.Count);
    }

    [Fact]
    public void Freeze_after_a_backbone_load_leaves_only_the_new_head_trainable()
    {
        using var source = Create(nameof(TinyVit), seed: 7);
        var path = File("tiny.safetensors");
        source.SaveSafetensors(path);
        using var model = (TinyVitFiveClasses)Create(nameof(TinyVitFiveClasses), seed: 8);

        var report = model.Load(path, LoadOptions.Partial with { Freeze = true });

        Assert.Equal(["head.weight", "head.bias"], model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name));
        Assert.Equal(report.Loaded, report.Frozen);
        Assert.Contains("frozen (31): cls_token, reg_token, pos_embed, patch_embed.* (2), blocks.* (24), norm.* (2)", report.ToString());

        // The optimizer path sees exactly the head, and training leaves the frozen backbone untouched.
        var groups = ModelDsl.Training.ParameterGroups.Create(model, model.NoWeightDecayNames, weightDecay: 0.05);
        Assert.Equal(["head.bias", "head.weight"], groups.Decay.Concat(groups.NoDecay).Select(p => p.Name).OrderBy(n => n, StringComparer.Ordinal));
        var batch = new TinyVitFiveClassesBatch(randn(4, 1, 28, 28), tensor(new long[] { 0, 1, 2, 3 }));
        model.TrainingStep(batch).Loss.backward();
        Assert.Null(Param(model, "blocks.0.attn.qkv.weight").grad);
        Assert.NotNull(Param(model, "head.weight").grad);
    }

    [Fact]
    public void Loading_copies_in_place_so_parameter_objects_and_optimizers_stay_valid()
    {
        using var source = Create(nameof(TinyVit), seed: 9);
        var path = File("tiny.pt");
        source.SavePyTorch(path);
        using var model = (TinyVit)Create(nameof(TinyVit), seed: 10);
        var before = model.named_parameters().Select(p => p.parameter).ToList();
        var clsField = model.Cls;
        using var optimizer = optim.SGD(model.parameters(), 0.1);

        model.Load(path);

        var after = model.named_parameters().Select(p => p.parameter).ToList();
        Assert.Equal(before.Count, after.Count);
        for (var i = 0; i < before.Count; i++) Assert.Same(before[i], after[i]);
        Assert.Same(clsField, model.Cls);
        Assert.True(Same(model.Cls, Param(source, "cls_token")));
        Assert.True(model.Cls.requires_grad);

        // One optimizer step moves the loaded values: the optimizer holds the same tensors.
        var batch = new TinyVitBatch(randn(4, 1, 28, 28), tensor(new long[] { 0, 1, 2, 3 }));
        optimizer.zero_grad();
        model.TrainingStep(batch).Loss.backward();
        optimizer.step();
        Assert.False(Same(Param(model, "head.weight"), Param(source, "head.weight")));
    }

    [Fact]
    public void A_prefixed_file_loaded_without_the_prefix_is_refused_with_a_suggestion()
    {
        using var host = new BackboneHost(Create(nameof(TinyVit), seed: 1));
        var path = File("host.safetensors");
        host.SaveSafetensors(path);
        using var model = Create(nameof(TinyVit), seed: 2);

        var strict = Assert.Throws<WeightsMismatchException>(() => model.Load(path));
        Assert.Equal("backbone.", strict.SuggestedPrefix);
        Assert.Contains("Prefix = \"backbone.\"", strict.Message);

        var partial = Assert.Throws<WeightsMismatchException>(() => model.Load(path, LoadOptions.Partial));
        Assert.Contains("nothing was loaded", partial.Message);

        var report = model.Load(path, LoadOptions.Strict with { Prefix = "backbone." });
        Assert.Equal(["head.bias", "head.weight"], report.Ignored.OrderBy(n => n, StringComparer.Ordinal));
        Assert.Equal(33, report.Loaded.Count);
    }

    [Fact]
    public void Half_precision_files_are_converted_to_the_model_dtype_and_reported()
    {
        using var scope = NewDisposeScope();
        using var source = Create(nameof(TinyVit), seed: 13);
        var half = source.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().to(ScalarType.Float16));
        var path = File("half.safetensors");
        Safetensors.SaveStateDict(path, half);
        using var model = Create(nameof(TinyVit), seed: 14);

        var report = model.Load(path);

        Assert.Equal(33, report.DTypeConversions.Count);
        Assert.Equal("cls_token: F16 -> F32", report.DTypeConversions[0].ToString());
        Assert.Equal(ScalarType.Float32, Param(model, "pos_embed").dtype);
        Assert.True(Same(Param(model, "pos_embed"), half["pos_embed"].to(ScalarType.Float32)));
    }

    [Fact]
    public void A_wrapped_training_checkpoint_is_unwrapped_and_its_other_entries_reported()
    {
        using var scope = NewDisposeScope();
        using var source = Create(nameof(TinyVit), seed: 15);
        var state = new Hashtable();
        foreach (var (name, parameter) in source.named_parameters()) state[name] = parameter.detach();
        var checkpoint = new Hashtable { ["state_dict"] = state, ["epoch"] = 3 };
        var path = File("checkpoint.pth");
        PyTorchPickler.PickleStateDict(path, checkpoint);
        using var model = Create(nameof(TinyVit), seed: 16);

        var report = model.Load(path);

        Assert.Equal(33, report.Loaded.Count);
        Assert.True(Same(Param(model, "blocks.0.attn.qkv.weight"), Param(source, "blocks.0.attn.qkv.weight")));
    }

    [Fact]
    public void Malformed_files_are_refused_with_a_reason()
    {
        using var model = Create(nameof(TinyVit), seed: 1);
        var garbage = File("garbage.safetensors");
        System.IO.File.WriteAllBytes(garbage, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        Assert.Contains("neither a safetensors file nor a PyTorch", Assert.Throws<InvalidDataException>(() => model.Load(garbage)).Message);

        var good = File("good.safetensors");
        model.SaveSafetensors(good);
        var bytes = System.IO.File.ReadAllBytes(good);
        var truncated = File("truncated.safetensors");
        System.IO.File.WriteAllBytes(truncated, bytes[..(bytes.Length - 100)]);
        Assert.Contains("truncated file", Assert.Throws<InvalidDataException>(() => model.Load(truncated)).Message);

        var badJson = File("badjson.safetensors");
        var header = System.Text.Encoding.ASCII.GetBytes("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]");
        System.IO.File.WriteAllBytes(badJson, [.. BitConverter.GetBytes((ulong)header.Length), .. header, .. new byte[8]]);
        Assert.Contains("not valid JSON", Assert.Throws<InvalidDataException>(() => model.Load(badJson, LoadOptions.Strict with { Format = WeightsFormat.Safetensors })).Message);

        var legacy = File("legacy.pt");
        System.IO.File.WriteAllBytes(legacy, [0x80, 0x02, 0x8a, 0x0a]);
        Assert.Contains("legacy", Assert.Throws<InvalidDataException>(() => model.Load(legacy)).Message);

        Assert.Throws<FileNotFoundException>(() => model.Load(File("absent.safetensors")));
    }

    [Fact]
    public void Saving_is_atomic_and_a_failed_save_keeps_the_previous_file()
    {
        using var model = Create(nameof(TinyVit), seed: 1);
        var path = File(Path.Combine("nested", "tiny.safetensors"));
        model.SaveSafetensors(path);
        var first = System.IO.File.ReadAllBytes(path);

        using var broken = new ComplexBufferModule();
        Assert.ThrowsAny<Exception>(() => broken.SaveSafetensors(path));

        Assert.Equal(first, System.IO.File.ReadAllBytes(path));
        Assert.Equal(["tiny.safetensors"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
        Assert.Throws<ArgumentException>(() => model.Save(File("tiny.weights")));
    }

    private sealed class ComplexBufferModule : nn.Module
    {
        public ComplexBufferModule() : base(nameof(ComplexBufferModule)) =>
            register_buffer("spectrum", zeros(4, ScalarType.ComplexFloat32));
    }
}
