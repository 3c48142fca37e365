using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Weights;

/// <summary>
/// One generated model of the test project with a landed fixture: its fixture name (the type's namespace and
/// name, less <c>ModelDsl.Tests.</c>), how to build it on the CPU, and, for models that read token ids, the
/// ids their inputs may hold.
/// </summary>
internal sealed record LandedModel(string Name, Type Type, Func<nn.Module> Create, TokenIds? Tokens = null)
{
    public override string ToString() => Name;
}

/// <summary>
/// Token-id inputs <c>[rows,length]</c>: each row is <c>start, words..., end, pad...</c> with 2 to 5 words drawn,
/// by a fixed pattern, from ids <see cref="FirstWord"/> to <see cref="Vocab"/> - 1 (so the models with learned
/// vocabulary entries read some of them).
/// </summary>
internal sealed record TokenIds(int Vocab, int FirstWord = 3, int Start = 1, int End = 2, int Pad = 0)
{
    public Tensor Ids(long rows, long length, int salt)
    {
        var ids = new long[rows * length];
        for (var r = 0; r < rows; r++)
        {
            var row = ids.AsSpan((int)(r * length), (int)length);
            row.Fill(Pad);
            var words = (int)Math.Min(2 + (r * 3 + salt) % 4, length - 2);
            row[0] = Start;
            for (var j = 0; j < words; j++)
                row[1 + j] = FirstWord + (r * 7 + j * 5 + salt * 3) % (Vocab - FirstWord);
            row[1 + words] = End;
        }
        return tensor(ids, [rows, length], ScalarType.Int64);
    }
}

/// <summary>
/// The landed fixtures: for every generated model the test project can build, one safetensors file under
/// <c>tests/ModelDsl.Tests/Fixtures/Landed/&lt;Name&gt;.safetensors</c> that holds the model's parameters and
/// persistent buffers (<c>weights.&lt;state_dict name&gt;</c>), the inputs of one forward pass
/// (<c>input.&lt;parameter&gt;</c>) and every tensor of its output record (<c>output.&lt;Property&gt;</c>), as the
/// landed generator's code computed them. <see cref="LandedFixtureTests"/> proves that a later generator
/// still computes the same from the same weights (loaded by their registered, timm, names).
/// </summary>
/// <remarks>
/// The files are written by <see cref="LandedFixtureTests"/> when <c>MODELDSL_WRITE_FIXTURES=1</c> is set, and
/// only that way: <c>MODELDSL_WRITE_FIXTURES=1 dotnet test tests/ModelDsl.Tests -c Release --filter
/// FullyQualifiedName~LandedFixture</c>. Write them from the landed code only: written from a changed
/// generator they would prove nothing.
/// </remarks>
internal static class LandedFixtures
{
    public const string WriteVariable = "MODELDSL_WRITE_FIXTURES";

    /// <summary>The largest absolute difference allowed between a stored output and the recomputed one.</summary>
    public const double Tolerance = 1e-6;

    public const string WeightsPrefix = "weights.";
    public const string InputPrefix = "input.";
    public const string OutputPrefix = "output.";

    private const int ModelSeed = 1234;
    private const int WeightNoiseSeed = 5678;
    private const int InputSeed = 4321;

    /// <summary>
    /// Noise added to every parameter after construction (std), so that no parameter keeps its initial zeros or
    /// ones (biases, LayerNorm, heads): every path of the forward pass changes the outputs.
    /// </summary>
    private const double WeightNoise = 0.05;

    public static bool Writing => Environment.GetEnvironmentVariable(WriteVariable) == "1";

    private static readonly TokenIds Tiny = new(Vocab: 40);
    private static readonly TokenIds TinyCsp = new(Vocab: 40, FirstWord: 24);          // learned ids 30..39
    private static readonly TokenIds Prompt = new(Vocab: PromptLearningExample.Vocabulary.Size);
    private static readonly TokenIds Csp = new(Vocab: PromptLearningExample.Vocabulary.Size, FirstWord: 20);   // learned ids 23..35

    /// <summary>Every model with a landed fixture.</summary>
    public static IReadOnlyList<LandedModel> All { get; } =
    [
        // tests/ModelDsl.Tests/Generated
        Model(() => new Generated.TinyVit(CPU)),
        Model(() => new Generated.FrozenEncoderVit(CPU)),
        Model(() => new Generated.MapPooledVit(CPU)),
        Model(() => new Generated.CustomStageVit(CPU)),
        Model(() => new Generated.TowerImageEncoder(CPU)),
        Model(() => new Generated.ExemplarMatcher(CPU)),
        Model(() => new Generated.TinyTextEncoder(CPU), Tiny),
        Model(() => new Generated.TinyCspText(CPU), TinyCsp),
        Model(() => new Generated.TinyCsp(CPU), TinyCsp),
        Model(() => new Generated.FourTaskVit(CPU)),
        Model(() => new Generated.AngleOnlyVit(CPU)),
        Model(() => new Generated.VptDeepVit(CPU)),
        Model(() => new Generated.VqtVit(CPU)),
        Model(() => new Generated.ResampledVit(CPU)),
        Model(() => new Generated.ChannelVit(CPU)),
        // tests/ModelDsl.Tests/Weights/WeightsTestModels.cs
        Model(() => new TinyVitFiveClasses(CPU)),
        Model(() => new PlainVit(CPU)),
        // tests/ModelDsl.Tests/Examples/DeepTokensSmokeTests.cs (the DeepTokens example's models in small)
        Model(() => new Examples.TinyDeepTokensPretrain(CPU)),
        Model(() => new Examples.TinyDeepTokensProbe(CPU)),
        Model(() => new Examples.TinyDeepTokensVpt(CPU)),
        Model(() => new Examples.TinyDeepTokensVqt(CPU)),
        // examples/*/Models.cs linked into the test project
        Model(() => new global::ChannelVitExample.ChannelVit(CPU)),
        Model(() => new global::ChannelVitExample.PlainVit(CPU)),
        Model(() => new global::ResamplerExample.AllTokensVit(CPU)),
        Model(() => new global::ResamplerExample.Resampled8Vit(CPU)),
        Model(() => new global::ResamplerExample.Resampled4Vit(CPU)),
        Model(() => new global::TaskTokensExample.MultiTaskVit(CPU)),
        Model(() => new global::TaskTokensExample.CategoryVit(CPU)),
        Model(() => new global::TaskTokensExample.CoarseVit(CPU)),
        Model(() => new global::TaskTokensExample.AngleVit(CPU)),
        Model(() => new global::TaskTokensExample.MaskVit(CPU)),
        Model(() => new global::PromptLearningExample.ImageEncoder(CPU)),
        Model(() => new global::PromptLearningExample.TextEncoder(CPU), Prompt),
        Model(() => new global::PromptLearningExample.Clip(CPU), Prompt),
        Model(() => new global::PromptLearningExample.ZeroShot(CPU), Prompt),
        Model(() => new global::PromptLearningExample.CoOpText(CPU), Prompt),
        Model(() => new global::PromptLearningExample.PreText(CPU), Prompt),
        Model(() => new global::PromptLearningExample.CoOp(CPU), Prompt),
        Model(() => new global::PromptLearningExample.Pre(CPU), Prompt),
        Model(() => new global::PromptLearningExample.CspText(CPU), Csp),
        Model(() => new global::PromptLearningExample.Csp(CPU), Csp),
        // examples/FashionVit/FashionVit.cs (linked): the FashionVit snapshot's declaration itself
        Model(() => new global::FashionVitExample.FashionVit(CPU)),
        // Weights/SnapshotModels: runtime copies of the generator snapshot tests' declarations
        Model(() => new global::Samples.Avg.AvgVit(CPU)),
        Model(() => new global::Samples.Map.Zoo.MapVit(CPU)),
        Model(() => new global::Samples.Tasks.TaskVit(CPU)),
        Model(() => new global::Samples.Towers.ImageEncoder(CPU)),
        Model(() => new global::Samples.Towers.SketchEncoder(CPU)),
        Model(() => new global::Samples.Towers.Matcher(CPU)),
    ];

    public static LandedModel Find(string name) =>
        All.SingleOrDefault(m => m.Name == name) ?? throw new ArgumentException($"No landed model '{name}'.", nameof(name));

    private static LandedModel Model<T>(Func<T> create, TokenIds? tokens = null) where T : nn.Module =>
        new(NameOf(typeof(T)), typeof(T), () => create(), tokens);

    /// <summary>The type's full name less <c>ModelDsl.Tests.</c>, nested types joined by '.': unique across the test project.</summary>
    public static string NameOf(Type type)
    {
        var name = type.FullName!.Replace('+', '.');
        const string Tests = "ModelDsl.Tests.";
        return name.StartsWith(Tests, StringComparison.Ordinal) ? name[Tests.Length..] : name;
    }

    // --- files --------------------------------------------------------------------------------------

    /// <summary>
    /// The folder of the fixtures: in the source tree (found from this file's compile-time path or above the test
    /// binaries) where it exists, so a deleted or rewritten fixture counts at once; else the copy beside the binaries.
    /// </summary>
    public static string Folder => SourceFolder() ?? Path.Combine(AppContext.BaseDirectory, "Fixtures", "Landed");

    public static string PathOf(string name) => Path.Combine(Folder, name + ".safetensors");

    /// <summary>The repository root (the folder of ModelDsl.sln), or null when the tests run without the source tree.</summary>
    public static string? RepositoryRoot([CallerFilePath] string source = "")
    {
        foreach (var start in new[] { Path.GetDirectoryName(source), AppContext.BaseDirectory })
        {
            for (var directory = string.IsNullOrEmpty(start) ? null : new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "ModelDsl.sln")) && Directory.Exists(Path.Combine(directory.FullName, "tests", "ModelDsl.Tests")))
                    return directory.FullName;
            }
        }
        return null;
    }

    private static string? SourceFolder()
    {
        var root = RepositoryRoot();
        return root is null ? null : Path.Combine(root, "tests", "ModelDsl.Tests", "Fixtures", "Landed");
    }

    // --- running a model ----------------------------------------------------------------------------

    /// <summary>The model's one generated <c>Forward</c>: every parameter a tensor, named as declared.</summary>
    public static MethodInfo ForwardOf(Type type)
    {
        var candidates = type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(m => m.Name == "Forward" && m.GetParameters().All(p => p.ParameterType == typeof(Tensor)))
            .ToList();
        return candidates.Count == 1
            ? candidates[0]
            : throw new InvalidOperationException($"{type.FullName} has {candidates.Count} public Forward methods of tensors; expected one.");
    }

    /// <summary>The properties of a Forward's output record: every public one must be a tensor.</summary>
    public static IReadOnlyList<PropertyInfo> OutputsOf(Type record)
    {
        var properties = record.GetProperties(BindingFlags.Public | BindingFlags.Instance);
        var other = properties.Where(p => p.PropertyType != typeof(Tensor)).Select(p => $"{p.Name} ({p.PropertyType.Name})").ToList();
        if (other.Count > 0)
            throw new InvalidOperationException($"{record.FullName} has outputs that are not tensors: {string.Join(", ", other)}; the fixtures hold tensors only.");
        return properties;
    }

    /// <summary>
    /// Runs Forward on <paramref name="inputs"/> (by parameter name), in eval mode without gradients, after setting any
    /// <c>&lt;Name&gt;Input</c> property of the model to its input as the tests do; returns every output by property name.
    /// </summary>
    public static Dictionary<string, Tensor> Run(nn.Module model, IReadOnlyDictionary<string, Tensor> inputs)
    {
        var forward = ForwardOf(model.GetType());
        var arguments = new object[forward.GetParameters().Length];
        foreach (var parameter in forward.GetParameters())
        {
            var input = inputs.TryGetValue(parameter.Name!, out var value)
                ? value
                : throw new InvalidOperationException($"No input '{parameter.Name}' for {model.GetType().Name}.Forward.");
            arguments[parameter.Position] = input;
            var property = model.GetType().GetProperty(char.ToUpperInvariant(parameter.Name![0]) + parameter.Name[1..] + "Input");
            if (property is not null && property.PropertyType == typeof(Tensor) && property.CanWrite)
                property.SetValue(model, input);
        }
        model.eval();
        using var _ = no_grad();
        object output;
        try
        {
            output = forward.Invoke(model, arguments)!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
        return OutputsOf(forward.ReturnType).ToDictionary(p => p.Name, p => (Tensor)p.GetValue(output)!, StringComparer.Ordinal);
    }

    /// <summary>Deterministic inputs of the declared shapes: B and N are 2, C is 3; rank-2 inputs are token ids.</summary>
    public static Dictionary<string, Tensor> InputsFor(LandedModel model)
    {
        manual_seed(InputSeed);
        var inputs = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var parameter in ForwardOf(model.Type).GetParameters())
        {
            var declared = parameter.GetCustomAttribute<ShapeAttribute>()?.Shape
                ?? throw new InvalidOperationException($"{model.Name}.Forward's '{parameter.Name}' has no [Shape].");
            var shape = declared.Split(',').Select(d => d.Trim() switch
            {
                "B" or "N" => 2L,
                "C" => 3L,
                var s when long.TryParse(s, out var size) => size,
                var s => throw new InvalidOperationException($"{model.Name}: no size chosen for dimension '{s}' of '{parameter.Name}' [{declared}]."),
            }).ToArray();
            inputs[parameter.Name!] = shape.Length == 2
                ? (model.Tokens ?? throw new InvalidOperationException($"{model.Name}: '{parameter.Name}' [{declared}] reads token ids; give the model its TokenIds."))
                    .Ids(shape[0], shape[1], salt: parameter.Position)
                : randn(shape);
        }
        return inputs;
    }

    // --- writing ------------------------------------------------------------------------------------

    /// <summary>Builds the model (seeded, CPU), perturbs its parameters, runs it in eval mode and writes its fixture.</summary>
    public static void Write(LandedModel spec, string path)
    {
        using var scope = NewDisposeScope();
        manual_seed(ModelSeed);
        using var model = spec.Create();
        model.eval();
        using (no_grad())
        {
            manual_seed(WeightNoiseSeed);
            foreach (var (_, parameter) in model.named_parameters())
                parameter.add_(randn_like(parameter).mul_(WeightNoise));
        }

        var inputs = InputsFor(spec);
        var outputs = Run(model, inputs);

        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, parameter) in model.named_parameters())
            state[WeightsPrefix + name] = parameter.detach().cpu().contiguous();
        foreach (var (name, buffer) in model.named_buffers(recurse: true, include_nonpersistent: false))
            state[WeightsPrefix + name] = buffer.detach().cpu().contiguous();
        foreach (var (name, input) in inputs)
            state[InputPrefix + name] = input.cpu().contiguous();
        foreach (var (name, output) in outputs)
        {
            if (isnan(output).any().item<bool>())
                throw new InvalidOperationException($"{spec.Name}: output '{name}' has NaNs.");
            state[OutputPrefix + name] = output.detach().cpu().contiguous();
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        Safetensors.SaveStateDict(temporary, state);
        File.Move(temporary, path, overwrite: true);
    }
}
