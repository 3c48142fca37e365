using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Tests.Infrastructure;
using static ModelDsl.Generators.Tests.DiagnosticTests;

namespace ModelDsl.Generators.Tests;

/// <summary>The declared regularisers: the generated modules against approved baselines, and MD0087, MD0088.</summary>
public class RegularizerDiagnosticTests
{
    /// <summary>The regularised models with the codebook models they build on (tests/ModelDsl.Tests builds and runs them).</summary>
    internal static string Models => Repo.ReadText("tests/ModelDsl.Tests/Generated/RegularizerModels.cs") + "\n"
        + Repo.ReadText("tests/ModelDsl.Tests/Generated/CodebookModels.cs").Replace("using ModelDsl.Blocks;\nusing static TorchSharp.torch;\nusing Parameter = TorchSharp.Modules.Parameter;\n\nnamespace ModelDsl.Tests.Generated;\n", "", StringComparison.Ordinal);

    [Fact]
    public void Regularized_models_match_the_approved_baselines()
    {
        var run = TestCompilation.RunGenerator(TestCompilation.Create(Models));

        foreach (var name in new[] { "TwoSetVit", "RegularizedCodebookClip" })
        {
            var source = run.Result.GeneratedSources.Single(s => s.HintName == $"ModelDsl.Tests.Generated.{name}.g.cs");
            Snapshot.Verify("Regularizer." + name, source.SourceText.ToString().Replace("\r\n", "\n"));
        }
    }

    [Fact]
    public void Regularized_models_compile_cleanly() => DiagnosticAssert.Clean(Models);

    private const string Apart = "[OrthogonalityPenalty(nameof(Prompts), Other = nameof(Queries), Weight = 0.5)]";

    public static readonly IReadOnlyDictionary<string, Case> Failing = new Dictionary<string, Case>
    {
        ["MD0087 token sets of different widths"] = new("MD0087",
            Edit(Models, ("[OrthogonalityPenalty(nameof(SpaceDict), Weight = 0.1)]", "[OrthogonalityPenalty(nameof(SpaceDict), {|MD0087:Other = nameof(ProbeTokens)|}, Weight = 0.1)]"),
                ("public partial class RegularizedCodebookClip\n{\n", "public partial class RegularizedCodebookClip\n{\n    [Codebook(Codes = 4, Dim = 16)]\n    public partial Parameter ProbeTokens { get; }\n\n")),
            ["'CodeDiversity' keeps 'ProbeTokens' [4,16] orthogonal to 'SpaceDict' [32,24]", "different widths"]),
        ["MD0088 a stage that owns no vectors"] = new("MD0088",
            Edit(Models, (Apart, "[OrthogonalityPenalty(nameof(Prompts), {|MD0088:Other = nameof(Patches)|}, Weight = 0.5)]")),
            ["'Apart' has Other = nameof(Patches), which is a [PatchEmbedding] stage, not a set of learnable vectors"]),
        ["MD0088 one vector and no other set"] = new("MD0088",
            Edit(Models, (Apart, "[OrthogonalityPenalty({|MD0088:nameof(Cls)|}, Weight = 0.5)]")),
            ["'Apart' has Set = nameof(Cls), which has a single vector ([1,1,32]), so it has no pairs to keep apart"]),
    };

    public static readonly IReadOnlyDictionary<string, string> Passing = new Dictionary<string, string>
    {
        ["MD0087 token sets of one width"] = Models,
        ["MD0088 a set of several vectors on its own"] = Edit(Models, (Apart, "[OrthogonalityPenalty(nameof(Queries))]")),
    };

    public static TheoryData<string> FailingNames => new(Failing.Keys);

    public static TheoryData<string> PassingNames => new(Passing.Keys);

    [Theory]
    [MemberData(nameof(FailingNames))]
    public void Failing_declaration_reports_at_the_marked_span(string name)
    {
        var @case = Failing[name];

        var diagnostic = Assert.Single(DiagnosticAssert.Verify(@case.Markup));

        var message = diagnostic.GetMessage();
        foreach (var part in @case.Message)
            Assert.True(message.Contains(part, StringComparison.Ordinal), $"The message lacks \"{part}\":\n{message}");
        Assert.Equal(@case.Id, diagnostic.Id);
    }

    // A wrong declaration leaves the stage out of the module: the generated file still compiles.
    [Theory]
    [MemberData(nameof(FailingNames))]
    public void Failing_declaration_leaves_a_generated_file_without_errors(string name)
    {
        var run = TestCompilation.Run(Markup.Parse(Failing[name].Markup).Source);

        var errors = run.Generator.Output.GetDiagnostics()
            .Where(d => d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error && d.Location.SourceTree?.FilePath.EndsWith(".g.cs", StringComparison.Ordinal) == true)
            .ToList();
        Assert.True(errors.Count == 0, TestCompilation.Describe(errors));
    }

    [Theory]
    [MemberData(nameof(PassingNames))]
    public void Passing_declaration_reports_nothing(string name) => DiagnosticAssert.Clean(Passing[name]);

    [Fact]
    public void Code_usage_of_a_stage_that_is_not_a_codebook_query_is_a_bad_reference()
    {
        var markup = Edit(Models, ("[CodeUsageRegularizer(nameof(ImageQuery), Weight = 0.1)]", "[CodeUsageRegularizer({|MD0019:nameof(Image)|}, Weight = 0.1)]"));
        Assert.Contains("CodebookQuery", Assert.Single(DiagnosticAssert.Verify(markup)).GetMessage());
    }
}
