using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using ModelDsl.Tests.Generated;
using ModelDsl.Weights;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Export;

/// <summary>
/// A model's PyTorch twin (<c>ExportPyTorch</c>) computes what the C# model computes: each model is exported with its
/// random initial weights, Debian's PyTorch (<c>/usr/bin/python3</c> with <c>python3-torch</c>, which the test
/// command installs when missing: tests/ensure-python-torch.sh) builds the twin, loads the weights with a strict
/// <c>load_state_dict</c> and runs the same input, and every named output agrees to 1e-5.
/// </summary>
public sealed class PyTorchTwinTests(Xunit.Abstractions.ITestOutputHelper log) : IDisposable
{
    private readonly string folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "modeldsl-twin", Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }

    // Builds the exported class, loads its weights strictly, runs the saved inputs and saves every output.
    private const string RunTwin = """
        import json, sys
        import torch
        root = sys.argv[1]
        sys.path.insert(0, root)
        from modeldsl_torch import safetensors_io
        import model
        manifest = json.load(open(root + '/export.json'))
        twin = getattr(model, manifest['class'])()
        twin.load_state_dict(safetensors_io.load(root + '/' + manifest['weights']), strict=True)
        twin.eval()
        inputs = safetensors_io.load(sys.argv[2])
        with torch.no_grad():
            outputs = twin(**{i['name']: inputs[i['name']] for i in manifest['inputs']})
        assert sorted(outputs) == sorted(o['name'] for o in manifest['outputs']), (sorted(outputs), manifest['outputs'])
        safetensors_io.save(outputs, sys.argv[3])
        """;

    public static TheoryData<string> Models => new() { "TinyVit", "MapPooledVit", "AvgVit", "MapVit", "VptDeepVit", "VqtVit", "RangedTokensVit" };

    [Theory]
    [MemberData(nameof(Models))]
    public void The_twin_gives_every_named_output_of_the_CSharp_model(string name)
    {
        manual_seed(7);
        var (module, image, outputs, export) = name switch
        {
            "TinyVit" => Run(new TinyVit(CPU), randn(3, 1, 28, 28), (m, x) => m.Forward(x), o => Named(o.Logits, o.Pooled, o.Tokens), (m, d) => m.ExportPyTorch(d)),
            "MapPooledVit" => Run(new MapPooledVit(CPU), randn(2, 3, 32, 32), (m, x) => m.Forward(x), o => Named(o.Logits, o.Pooled, o.Tokens), (m, d) => m.ExportPyTorch(d)),
            "VqtVit" => Run(new VqtVit(CPU), randn(2, 1, 28, 28), (m, x) => m.Forward(x), o => Named(o.Logits, o.Pooled, o.Tokens), (m, d) => m.ExportPyTorch(d)),
            "RangedTokensVit" => Run(new RangedTokensVit(CPU), randn(2, 1, 28, 28), (m, x) => m.Forward(x), o => Named(o.Logits, o.Pooled, o.Tokens), (m, d) => m.ExportPyTorch(d)),
            "VptDeepVit" => Run(new VptDeepVit(CPU), randn(2, 1, 28, 28), (m, x) => m.Forward(x), o => Named(o.Logits, o.Pooled, o.Tokens), (m, d) => m.ExportPyTorch(d)),
            "AvgVit" => Run(new Samples.Avg.AvgVit(CPU), randn(2, 1, 28, 28), (m, x) => m.Forward(x), o => Named(o.Logits, o.Pooled, o.Tokens), (m, d) => m.ExportPyTorch(d)),
            _ => Run(new Samples.Map.Zoo.MapVit(CPU), randn(2, 3, 32, 32), (m, x) => m.Forward(x), o => Named(o.Logits, o.Pooled, o.Tokens), (m, d) => m.ExportPyTorch(d)),
        };
        using var _ = module;
        var directory = Path.Combine(folder, name);
        export(directory);
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "export.json"))).RootElement;
        var inputName = manifest.GetProperty("inputs")[0].GetProperty("name").GetString()!;
        var inputsPath = Path.Combine(folder, name + ".inputs.safetensors");
        Safetensors.SaveStateDict(inputsPath, new Dictionary<string, Tensor> { [inputName] = image });
        var outputsPath = Path.Combine(folder, name + ".outputs.safetensors");

        Python.Run(RunTwin, directory, inputsPath, outputsPath);

        var twin = Safetensors.LoadStateDict(outputsPath);
        Assert.Equal(outputs.Keys.Order(), twin.Keys.Order());
        foreach (var (output, value) in outputs)
        {
            Assert.Equal(value.shape, twin[output].shape);
            var difference = (value - twin[output]).abs().max().item<float>();
            log.WriteLine($"{name}.{output}: largest difference {difference:E2}");
            Assert.True(difference < 1e-5, $"{name}.{output}: the twin differs by {difference}.");
        }
    }

    // Changes every parameter of the twin (as training in PyTorch would), saves them and the outputs they give.
    private const string TrainTwin = """
        import json, sys
        import torch
        root = sys.argv[1]
        sys.path.insert(0, root)
        from modeldsl_torch import safetensors_io
        import model
        twin = model.TinyVit()
        twin.load_state_dict(safetensors_io.load(root + '/weights.safetensors'), strict=True)
        torch.manual_seed(3)
        with torch.no_grad():
            for p in twin.parameters():
                p.add_(0.05 * torch.randn_like(p))
        twin.eval()
        image = safetensors_io.load(sys.argv[2])['image']
        with torch.no_grad():
            outputs = twin(image=image)
        safetensors_io.save(twin.state_dict(), sys.argv[3])
        safetensors_io.save(outputs, sys.argv[4])
        """;

    [Fact]
    public void Weights_the_twin_changed_load_back_strictly_and_give_the_twins_outputs()
    {
        manual_seed(11);
        using var model = new TinyVit(CPU);
        var directory = Path.Combine(folder, "round-trip");
        model.ExportPyTorch(directory);
        var image = randn(2, 1, 28, 28);
        var imagePath = Path.Combine(folder, "round-trip.image.safetensors");
        Safetensors.SaveStateDict(imagePath, new Dictionary<string, Tensor> { ["image"] = image });
        var before = model.Forward(image).Logits.detach().clone();

        Python.Run(TrainTwin, directory, imagePath, Path.Combine(folder, "trained.safetensors"), Path.Combine(folder, "trained.outputs.safetensors"));
        var report = model.Load(Path.Combine(folder, "trained.safetensors"));
        model.eval();
        using var _ = no_grad();
        var after = model.Forward(image);
        var twin = Safetensors.LoadStateDict(Path.Combine(folder, "trained.outputs.safetensors"));

        Assert.Equal(model.state_dict().Count, report.Loaded.Count);
        Assert.True((after.Logits - before).abs().max().item<float>() > 1e-3, "the changed weights should change the logits");
        Assert.True((after.Logits - twin["Logits"]).abs().max().item<float>() < 1e-5);
        Assert.True((after.Tokens - twin["Tokens"]).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void A_model_with_a_stage_that_has_no_twin_says_which_when_exported()
    {
        using var model = new FourTaskVit(CPU);
        var error = Assert.Throws<NotSupportedException>(() => model.ExportPyTorch(Path.Combine(folder, "tasks")));

        Assert.Contains("no PyTorch twin yet", error.Message);
        Assert.Contains("[TaskTokens]", error.Message);
        Assert.False(Directory.Exists(Path.Combine(folder, "tasks")));
    }

    [Fact]
    public void The_export_writes_the_twin_the_package_the_weights_and_a_manifest()
    {
        using var model = new TinyVit(CPU);
        var directory = Path.Combine(folder, "files");
        model.ExportPyTorch(directory);

        Assert.Equal(TinyVit.PyTorchSource + "\n", File.ReadAllText(Path.Combine(directory, "model.py")));
        foreach (var file in new[] { "__init__.py", "layers.py", "safetensors_io.py" })
            Assert.True(File.Exists(Path.Combine(directory, "modeldsl_torch", file)), file);
        var weights = Safetensors.LoadStateDict(Path.Combine(directory, "weights.safetensors"));
        Assert.Equal(model.state_dict().Keys.Order(), weights.Keys.Order());
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "export.json"))).RootElement;
        Assert.Equal("TinyVit", manifest.GetProperty("class").GetString());
        Assert.Equal("[B,1,28,28]", manifest.GetProperty("inputs")[0].GetProperty("shape").GetString());
        Assert.Equal(["Logits", "Pooled", "Tokens"], manifest.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()));

        File.WriteAllText(Path.Combine(folder, "a-file"), "");
        var refused = Assert.Throws<IOException>(() => model.ExportPyTorch(Path.Combine(folder, "a-file")));
        Assert.Contains("is a file", refused.Message);
    }

    private static (nn.Module, Tensor, Dictionary<string, Tensor>, Action<string>) Run<TModel, TOutput>(
        TModel model, Tensor input, Func<TModel, Tensor, TOutput> forward, Func<TOutput, Dictionary<string, Tensor>> named, Action<TModel, string> export)
        where TModel : nn.Module
    {
        model.eval();
        using var _ = no_grad();
        return (model, input, named(forward(model, input)), directory => export(model, directory));
    }

    private static Dictionary<string, Tensor> Named(Tensor logits, Tensor pooled, Tensor tokens) =>
        new() { ["Logits"] = logits, ["Pooled"] = pooled, ["Tokens"] = tokens };
}
