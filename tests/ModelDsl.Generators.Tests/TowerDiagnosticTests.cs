using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Tests.Infrastructure;
using static ModelDsl.Generators.Tests.DiagnosticTests;

namespace ModelDsl.Generators.Tests;

/// <summary>The tower and prompt diagnostics (MD0030-MD0039): a failing case at its exact span and a passing case each.</summary>
public class TowerDiagnosticTests
{
    private static string Towers => TowerTests.Matcher;

    private const string SketchTower = "    [Tower]\n    public partial SketchEncoder Sketch { get; }";

    public static readonly IReadOnlyDictionary<string, Case> Failing = new Dictionary<string, Case>
    {
        ["MD0030 tower type is not a model"] = new("MD0030",
            Edit(Towers, (SketchTower, "    [Tower]\n    public partial PatchEmbedding {|MD0030:Sketch|} { get; }"), ("[Tower(Frozen = true)]", "[Tower]"),
                ("[CosineLogits(nameof(Image), nameof(Sketch), Scale = 10)]", "[CosineLogits(nameof(Image), nameof(Image), Scale = 10)]")),
            ["Tower 'Sketch' has type PatchEmbedding", "is not a [Model] class"]),
        ["MD0031 a model as its own tower"] = new("MD0031",
            Edit(Towers, (SketchTower, SketchTower + "\n\n    [Tower]\n    public partial Matcher {|MD0031:Itself|} { get; }")),
            ["Tower 'Itself' closes a cycle of models: Matcher -> Matcher"]),
        ["MD0032 tower input of another size"] = new("MD0032",
            Edit(Towers, ("[Shape(\"C,1,14,14\")] Tensor sketches", "[Shape(\"C,1,16,16\")] Tensor sketches"), (SketchTower, "    [{|MD0032:Tower|}]\n    public partial SketchEncoder Sketch { get; }")),
            ["Tower 'Sketch' (SketchEncoder) expects a forward input for its 'sketch' [N,1,14,14]", "no input of 'Matcher' has that name or shape", "'image', 'sketches'"]),
        ["MD0032 named input does not fit"] = new("MD0032",
            Edit(Towers, (SketchTower, "    [Tower({|MD0032:Input = \"image\"|})]\n    public partial SketchEncoder Sketch { get; }")),
            ["expects its input 'sketch' as [N,1,14,14]", "'image' is [B,1,28,28]", "dimension 2 is 28, not 14"]),
        ["MD0033 tower has no such output"] = new("MD0033",
            Edit(Towers, (SketchTower, "    [Tower({|MD0033:Output = \"Features\"|})]\n    public partial SketchEncoder Sketch { get; }")),
            ["reads the output Features of SketchEncoder", "Logits [N,10], Pooled [N,32], Tokens [N,5,32]"]),
        ["MD0034 towers of different widths"] = new("MD0034",
            Edit(Towers, ("Tensor sketch);\n\n    [PatchEmbedding(PatchSize = 7, Dim = 32)]", "Tensor sketch);\n\n    [PatchEmbedding(PatchSize = 7, Dim = 48)]"),
                ("[CosineLogits(nameof(Image), nameof(Sketch), Scale = 10)]", "[CosineLogits(nameof(Image), {|MD0034:nameof(Sketch)|}, Scale = 10)]")),
            ["'Logits' reads 'Sketch' and expects features of width 32 like 'Image' [B,32]", "it gives [C,48] of width 48"]),
    };

    public static readonly IReadOnlyDictionary<string, string> Passing = new Dictionary<string, string>
    {
        ["MD0030 tower of a model type"] = Towers,
        ["MD0031 a tower used twice without a cycle"] = Edit(Towers, (SketchTower, SketchTower + "\n\n    [Tower]\n    public partial SketchEncoder Sketch2 { get; }")),
        ["MD0032 tower input matched by name with another batch symbol"] = Edit(Towers, ("Tensor sketches", "Tensor sketch")),
        ["MD0033 tower output named explicitly"] = Edit(Towers, (SketchTower, "    [Tower(Output = \"Pooled\")]\n    public partial SketchEncoder Sketch { get; }")),
        ["MD0034 towers of one width"] = Edit(Towers,
            ("Tensor sketch);\n\n    [PatchEmbedding(PatchSize = 7, Dim = 32)]", "Tensor sketch);\n\n    [PatchEmbedding(PatchSize = 7, Dim = 48)]"),
            ("Tensor image);\n\n    [PatchEmbedding(PatchSize = 7, Dim = 32)]", "Tensor image);\n\n    [PatchEmbedding(PatchSize = 7, Dim = 48)]")),
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

    [Fact]
    public void A_cycle_through_two_models_is_reported_in_both()
    {
        var markup = Edit(Towers,
            ("[ClassifierHead(Classes = 10)]\n    public partial ClassifierHead Head { get; }\n}\n\n[Model]\npublic partial class Matcher",
             "[ClassifierHead(Classes = 10)]\n    public partial ClassifierHead Head { get; }\n\n    [Tower]\n    public partial Matcher {|MD0031:Back|} { get; }\n}\n\n[Model]\npublic partial class Matcher"),
            (SketchTower, "    [Tower]\n    public partial SketchEncoder {|MD0031:Sketch|} { get; }"),
            ("[Tower(Frozen = true)]", "[Tower]"));

        var diagnostics = DiagnosticAssert.Verify(markup);

        Assert.Contains("SketchEncoder -> Matcher -> SketchEncoder", diagnostics[0].GetMessage());
        Assert.Contains("Matcher -> SketchEncoder -> Matcher", diagnostics[1].GetMessage());
    }

    [Theory]
    [MemberData(nameof(PassingNames))]
    public void Passing_declaration_reports_nothing(string name) => DiagnosticAssert.Clean(Passing[name]);
}
