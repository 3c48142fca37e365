using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelDsl.Tests.Training;
using ModelDsl.Weights;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Weights;

/// <summary>
/// Every generated model still computes what the landed generator's code computed: each fixture of
/// <see cref="LandedFixtures"/> is loaded into a freshly built model by the registered (timm) names, strictly, and
/// the forward pass on the stored inputs must give the stored outputs to <see cref="LandedFixtures.Tolerance"/>.
/// Nothing here depends on how the model initialises its parameters or in which order it builds them.
/// </summary>
/// <remarks><c>MODELDSL_WRITE_FIXTURES=1</c> (re)writes each fixture before checking it: see <see cref="LandedFixtures"/>.</remarks>
public sealed class LandedFixtureTests : SingleThreadedTorch
{
    public static TheoryData<string> Models => new(LandedFixtures.All.Select(m => m.Name));

    [Theory]
    [MemberData(nameof(Models))]
    public void Model_computes_the_landed_outputs_from_the_landed_weights(string name)
    {
        var spec = LandedFixtures.Find(name);
        var path = LandedFixtures.PathOf(name);
        if (LandedFixtures.Writing)
            LandedFixtures.Write(spec, path);
        Assert.True(File.Exists(path), $"No fixture for {name}: {path}");

        using var scope = NewDisposeScope();
        var stored = Safetensors.LoadStateDict(path);
        var weights = Section(stored, LandedFixtures.WeightsPrefix);
        var inputs = Section(stored, LandedFixtures.InputPrefix);
        var expected = Section(stored, LandedFixtures.OutputPrefix);
        Assert.Equal(stored.Count, weights.Count + inputs.Count + expected.Count);
        Assert.NotEmpty(weights);
        Assert.NotEmpty(expected);

        // A seed unlike the writer's: the values must all come from the file.
        manual_seed(987_654);
        using var model = spec.Create();
        var report = model.Load(path, LoadOptions.Strict with { Prefix = LandedFixtures.WeightsPrefix });
        Assert.Empty(report.New);
        Assert.Empty(report.ShapeMismatches);
        Assert.Empty(report.DTypeConversions);
        Assert.Equal(weights.Keys.Order(StringComparer.Ordinal), report.Loaded.Order(StringComparer.Ordinal));
        Assert.Equal(global::ModelDsl.Weights.Weights.EntriesOf(model).Select(e => e.Name).Order(StringComparer.Ordinal), weights.Keys.Order(StringComparer.Ordinal));

        var forward = LandedFixtures.ForwardOf(spec.Type);
        Assert.Equal(forward.GetParameters().Select(p => p.Name!).Order(StringComparer.Ordinal), inputs.Keys.Order(StringComparer.Ordinal));

        var actual = LandedFixtures.Run(model, inputs);

        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        var failures = new List<string>();
        foreach (var (output, want) in expected.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var got = actual[output];
            if (got.dtype != want.dtype || !got.shape.SequenceEqual(want.shape))
            {
                failures.Add($"{output}: {got.dtype} [{string.Join(",", got.shape)}], stored {want.dtype} [{string.Join(",", want.shape)}]");
                continue;
            }
            var difference = want.numel() == 0 ? 0.0 : (got.detach().cpu().to_type(ScalarType.Float64) - want.to_type(ScalarType.Float64)).abs().max().item<double>();
            if (!(difference <= LandedFixtures.Tolerance))
                failures.Add($"{output}: max |difference| {difference:G3} > {LandedFixtures.Tolerance:G3}");
        }
        Assert.True(failures.Count == 0, $"{name} computes other outputs than the landed code:\n  " + string.Join("\n  ", failures));
    }

    [Fact]
    public void Fixture_folder_holds_one_file_per_landed_model_and_nothing_else()
    {
        var names = LandedFixtures.All.Select(m => m.Name).ToList();
        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(names.Count, LandedFixtures.All.Select(m => m.Type).Distinct().Count());

        var files = Directory.Exists(LandedFixtures.Folder)
            ? Directory.GetFiles(LandedFixtures.Folder).Select(Path.GetFileName).ToList()
            : [];
        Assert.Equal(names.Select(n => n + ".safetensors").Order(StringComparer.Ordinal), files.Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// The generator's snapshot tests (tests/ModelDsl.Generators.Tests/Snapshots) and the runtime model of each:
    /// the source files whose generated code is the snapshot, the generated file, and the landed fixture.
    /// </summary>
    public static TheoryData<string, string, string, string> Snapshots => new()
    {
        { "FashionVit", "examples/FashionVit/FashionVit.cs", "FashionVitExample.FashionVit.g.cs", "FashionVitExample.FashionVit" },
        { "AvgVit", "tests/ModelDsl.Tests/Weights/SnapshotModels/AvgVit.cs", "Samples.Avg.AvgVit.g.cs", "Samples.Avg.AvgVit" },
        { "MapVit", "tests/ModelDsl.Tests/Weights/SnapshotModels/MapVit.cs", "Samples.Map.Zoo.MapVit.g.cs", "Samples.Map.Zoo.MapVit" },
        { "TaskVit", "tests/ModelDsl.Tests/Weights/SnapshotModels/TaskVit.cs", "Samples.Tasks.TaskVit.g.cs", "Samples.Tasks.TaskVit" },
        { "Matcher", "tests/ModelDsl.Tests/Weights/SnapshotModels/Matcher.cs", "Samples.Towers.Matcher.g.cs", "Samples.Towers.Matcher" },
        { "PromptLearning.Clip", PromptLearningSources, "PromptLearningExample.Clip.g.cs", "PromptLearningExample.Clip" },
        { "PromptLearning.CoOp", PromptLearningSources, "PromptLearningExample.CoOp.g.cs", "PromptLearningExample.CoOp" },
        { "PromptLearning.CoOpText", PromptLearningSources, "PromptLearningExample.CoOpText.g.cs", "PromptLearningExample.CoOpText" },
        { "PromptLearning.CspText", PromptLearningSources, "PromptLearningExample.CspText.g.cs", "PromptLearningExample.CspText" },
        { "PromptLearning.PreText", PromptLearningSources, "PromptLearningExample.PreText.g.cs", "PromptLearningExample.PreText" },
    };

    private const string PromptLearningSources = "examples/PromptLearning/Models.cs;examples/PromptLearning/Vocabulary.cs";

    [Theory]
    [MemberData(nameof(Snapshots))]
    public void Snapshot_declaration_is_a_landed_model_of_this_project(string snapshot, string sources, string hintName, string fixture)
    {
        Assert.Contains(fixture, LandedFixtures.All.Select(m => m.Name));
        var root = LandedFixtures.RepositoryRoot() ?? throw new DirectoryNotFoundException("The repository (ModelDsl.sln) is not above the tests.");
        var verified = Path.Combine(root, "tests", "ModelDsl.Generators.Tests", "Snapshots", snapshot + ".verified.cs");
        Assert.True(File.Exists(verified), $"No snapshot {verified}");

        // The generator over the source the test project compiles must give the snapshot: the runtime model is the snapshot's declaration.
        var parse = new CSharpParseOptions(LanguageVersion.CSharp13, DocumentationMode.Parse);
        var trees = sources.Split(';').Select(s => CSharpSyntaxTree.ParseText(File.ReadAllText(Path.Combine(root, s)).Replace("\r\n", "\n"), parse, s));
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat([typeof(ModelAttribute).Assembly.Location, typeof(TorchSharp.torch).Assembly.Location])
            .Where(p => !string.Equals(Path.GetFileName(p), Path.GetFileName(typeof(LandedFixtureTests).Assembly.Location), StringComparison.OrdinalIgnoreCase))
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create("LandedSnapshot", trees, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary).WithNullableContextOptions(NullableContextOptions.Enable));
        var driver = CSharpGeneratorDriver.Create([new ModelDsl.Generators.ModelGenerator().AsSourceGenerator()], parseOptions: parse)
            .RunGenerators(compilation);
        var generated = driver.GetRunResult().Results.Single().GeneratedSources.Single(s => s.HintName == hintName);

        Assert.Equal(Normalize(File.ReadAllText(verified)), Normalize(generated.SourceText.ToString()));
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n").Replace("\r", "\n");

    private static Dictionary<string, Tensor> Section(Dictionary<string, Tensor> stored, string prefix) =>
        stored.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);
}
