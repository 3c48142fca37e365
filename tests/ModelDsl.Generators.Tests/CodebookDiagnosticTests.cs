using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Tests.Infrastructure;
using static ModelDsl.Generators.Tests.DiagnosticTests;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// Shared codebooks (FDT): the generated modules against approved baselines, and the codebook diagnostics
/// (MD0080-MD0084): a failing case at its exact span and a passing case each.
/// </summary>
public class CodebookDiagnosticTests
{
    /// <summary>Two token towers, one codebook read by two queries, cosine logits and CLIP's loss (tests/ModelDsl.Tests builds and runs them).</summary>
    internal static string Models => Repo.ReadText("tests/ModelDsl.Tests/Generated/CodebookModels.cs");

    [Fact]
    public void Codebook_models_match_the_approved_baselines()
    {
        var run = TestCompilation.RunGenerator(TestCompilation.Create(Models));

        foreach (var name in new[] { "SharedCodebookClip", "DenseCodebookClip" })
        {
            var source = run.Result.GeneratedSources.Single(s => s.HintName == $"ModelDsl.Tests.Generated.{name}.g.cs");
            Snapshot.Verify("Codebook." + name, source.SourceText.ToString().Replace("\r\n", "\n"));
        }
    }

    [Fact]
    public void Codebook_models_compile_cleanly() => DiagnosticAssert.Clean(Models);

    private const string ImageQuery = "[CodebookQuery(nameof(SpaceDict), nameof(Image))]";
    private const string TextQuery = "[CodebookQuery(nameof(SpaceDict), nameof(Text), Padding = \"text\", PadToken = 0)]";
    private const string DenseText = "[CodebookQuery(nameof(Codes), nameof(Text), Weighting = CodeWeighting.TopK, TopK = 8, Project = false)]";

    // A tower whose default output is its pooled feature [B,48], not tokens.
    private const string PooledTower = """

        [Model]
        public partial class PooledEncoder
        {
            public partial PooledEncoderOutput Forward([Shape("B,1,28,28")] Tensor image);

            [PatchEmbedding(PatchSize = 7, Dim = 48)]
            public partial PatchEmbedding Patches { get; }

            [TransformerEncoder(Depth = 1, Heads = 2)]
            public partial TransformerEncoder Encoder { get; }

            [ClassifierHead(Classes = 10, Pool = Pool.Avg)]
            public partial ClassifierHead Head { get; }
        }
        """;

    private static string WithPooledTower(string towerAttribute, string queryTokens) =>
        Edit(Models, ("    [Tower]\n    public partial PatchTokenEncoder Image { get; }\n\n    [Tower]\n    public partial WordTokenEncoder Text { get; }\n\n    [Codebook(Codes = 64",
                      $"    {towerAttribute}\n    public partial PooledEncoder Image {{ get; }}\n\n    [Tower]\n    public partial WordTokenEncoder Text {{ get; }}\n\n    [Codebook(Codes = 64"),
            (ImageQuery, $"[CodebookQuery(nameof(SpaceDict), {queryTokens})]")) + PooledTower;

    public static readonly IReadOnlyDictionary<string, Case> Failing = new Dictionary<string, Case>
    {
        ["MD0080 a query width other than the codebook's"] = new("MD0080",
            Edit(Models, (ImageQuery, "[CodebookQuery(nameof(SpaceDict), nameof(Image), {|MD0080:Dim = 32|})]")),
            ["'ImageQuery' has Dim = 32", "the codebook 'SpaceDict' has codes of width 24 ([64,24])", "set Dim = 24"]),
        ["MD0080 unprojected tokens of another width"] = new("MD0080",
            Edit(Models, (ImageQuery, "[CodebookQuery(nameof(SpaceDict), {|MD0080:nameof(Image)|}, Project = false)]")),
            ["scores the tokens of 'Image' [B,16,48] (width 48) without a projection (Project = false)", "codes of width 24", "remove Project = false"]),
        ["MD0081 a tower's pooled feature"] = new("MD0081",
            WithPooledTower("[Tower]", "{|MD0081:nameof(Image)|}"),
            ["'ImageQuery' scores the tokens of 'Image', which gives [B,48] of rank 2", "[Tower(Output = \"Tokens\")]"]),
        ["MD0082 sparsemax over a single code"] = new("MD0082",
            Edit(Models, ("[Codebook(Codes = 64, Dim = 24)]", "[Codebook(Codes = 1, Dim = 24)]"),
                (ImageQuery, "[CodebookQuery({|MD0082:nameof(SpaceDict)|}, nameof(Image))]"),
                (TextQuery, "[CodebookQuery({|MD0082:nameof(SpaceDict)|}, nameof(Text), Padding = \"text\", PadToken = 0)]")),
            ["'ImageQuery' weights the codes of 'SpaceDict' by Sparsemax, but 'SpaceDict' has Codes = 1", "give the codebook more codes"]),
        ["MD0083 top-k that keeps every code"] = new("MD0083",
            Edit(Models, (DenseText, "[CodebookQuery(nameof(Codes), nameof(Text), Weighting = CodeWeighting.TopK, {|MD0083:TopK = 16|}, Project = false)]")),
            ["'TextQuery' has TopK = 16", "'Codes' has 16 codes, so it keeps every code (plain softmax)"]),
        ["MD0083 top-k with another weighting"] = new("MD0083",
            Edit(Models, (ImageQuery, "[CodebookQuery(nameof(SpaceDict), nameof(Image), {|MD0083:TopK = 4|})]")),
            ["'ImageQuery' has TopK = 4", "Weighting is CodeWeighting.Sparsemax, which ignores it"]),
        ["MD0084 padding of another shape"] = new("MD0084",
            Edit(Models, (TextQuery, "[CodebookQuery(nameof(SpaceDict), nameof(Text), {|MD0084:Padding = \"image\"|}, PadToken = 0)]")),
            ["'TextQuery' has Padding = \"image\", but 'image' is [B,1,28,28], not [B,8]", "('Text' [B,8,32])"]),
        ["MD0084 padding names no input"] = new("MD0084",
            Edit(Models, (TextQuery, "[CodebookQuery(nameof(SpaceDict), nameof(Text), {|MD0084:Padding = \"ids\"|}, PadToken = 0)]")),
            ["the forward method has no input 'ids'"]),
    };

    public static readonly IReadOnlyDictionary<string, string> Passing = new Dictionary<string, string>
    {
        ["MD0080 a query width equal to the codebook's"] = Edit(Models, (ImageQuery, "[CodebookQuery(nameof(SpaceDict), nameof(Image), Dim = 24)]")),
        ["MD0080 unprojected tokens of the codebook's width"] = Edit(Models, ("[Codebook(Codes = 64, Dim = 24)]", "[Codebook(Codes = 64, Dim = 48)]"),
            (ImageQuery, "[CodebookQuery(nameof(SpaceDict), nameof(Image), Project = false)]")),
        ["MD0081 a tower's tokens named as its output"] = WithPooledTower("[Tower(Output = \"Tokens\")]", "nameof(Image)"),
        ["MD0082 two codes"] = Edit(Models, ("[Codebook(Codes = 64, Dim = 24)]", "[Codebook(Codes = 2, Dim = 24)]")),
        ["MD0083 top-k below the number of codes"] = Edit(Models, (DenseText, "[CodebookQuery(nameof(Codes), nameof(Text), Weighting = CodeWeighting.TopK, TopK = 15, Project = false)]")),
        ["MD0084 padding by the token ids"] = Models,
    };

    public static TheoryData<string> FailingNames => new(Failing.Keys);

    public static TheoryData<string> PassingNames => new(Passing.Keys);

    // Every diagnostic of a case is the case's, at its marked span (a codebook read by two queries reports at both).
    [Theory]
    [MemberData(nameof(FailingNames))]
    public void Failing_declaration_reports_at_the_marked_span(string name)
    {
        var @case = Failing[name];

        var diagnostics = DiagnosticAssert.Verify(@case.Markup);

        Assert.NotEmpty(diagnostics);
        var message = diagnostics[0].GetMessage();
        foreach (var part in @case.Message)
            Assert.True(message.Contains(part, StringComparison.Ordinal), $"The message lacks \"{part}\":\n{message}");
        Assert.All(diagnostics, d => Assert.Equal(@case.Id, d.Id));
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
    public void Top_k_weighting_without_a_count_is_out_of_range_at_the_weighting()
    {
        var diagnostic = Assert.Single(DiagnosticAssert.Verify(Edit(Models,
            (ImageQuery, "[CodebookQuery(nameof(SpaceDict), nameof(Image), {|MD0008:Weighting = CodeWeighting.TopK|})]"))));
        Assert.Contains("'ImageQuery' has TopK = 0 (not set); expected the number of codes that keep weight, between 1 and 63", diagnostic.GetMessage());
    }

    [Fact]
    public void Cosine_logits_of_a_codebook_query_and_a_tower_of_another_width_are_MD0034()
    {
        const string Shared = "[CosineLogits(nameof(ImageQuery), nameof(TextQuery), LearnScale = true)]\n    public partial CosineLogits Logits { get; }\n\n    [ContrastiveLoss]\n    public partial ContrastiveLoss Loss { get; }\n}\n\n/// <summary>The other";
        var markup = Edit(Models, (Shared, Shared.Replace("nameof(TextQuery)", "{|MD0034:nameof(Text)|}", StringComparison.Ordinal)));
        var diagnostic = Assert.Single(DiagnosticAssert.Verify(markup));
        Assert.Contains("[B,8,32] of rank 3", diagnostic.GetMessage());
    }
}
