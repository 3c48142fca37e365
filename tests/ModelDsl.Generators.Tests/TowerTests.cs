using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelDsl.Generators.Tests.Infrastructure;

namespace ModelDsl.Generators.Tests;

/// <summary>Towers: a [Model] used as a stage of another; shapes flow across, and the pipeline stays cached.</summary>
public class TowerTests
{
    /// <summary>Two encoders of 28x28 images and 14x14 sketches, compared by cosine logits; the image tower is frozen.</summary>
    internal static string Matcher => Repo.ReadText("tests/ModelDsl.Tests/Weights/SnapshotModels/Matcher.cs");

    private static string MatcherSource(GeneratorRun run) =>
        run.Result.GeneratedSources.Single(s => s.HintName == "Samples.Towers.Matcher.g.cs").SourceText.ToString().Replace("\r\n", "\n");

    [Fact]
    public void Tower_model_matches_the_approved_baseline()
    {
        var run = TestCompilation.RunGenerator(TestCompilation.Create(Matcher));

        Snapshot.Verify("Matcher", MatcherSource(run));
    }

    [Fact]
    public void Tower_models_compile_cleanly_with_their_towers() => DiagnosticAssert.Clean(Matcher);

    [Fact]
    public void Tower_output_shapes_are_stated_in_the_outer_model()
    {
        var source = MatcherSource(TestCompilation.RunGenerator(TestCompilation.Create(Matcher)));

        // The sketch tower's N binds to the outer C; its pooled width 32 comes from its own declaration.
        Assert.Contains("var sketchFeatures = this.sketch.Forward(sketches).Pooled;", source);
        Assert.Contains("// [C,32]", source);
        Assert.Contains("var logits = this.logits.forward(imageFeatures, sketchFeatures);", source);
        Assert.Contains("// [B,C]", source);
        Assert.Contains("register_module(\"image\", image);", source);
        Assert.Contains("global::ModelDsl.Blocks.Freezing.Freeze(image);", source);
        Assert.DoesNotContain("Freeze(sketch)", source);
        Assert.Contains("public global::TorchSharp.torch.Tensor? SketchesInput { get; set; }", source);
    }

    [Fact]
    public void An_explicit_input_and_output_are_used()
    {
        var source = DiagnosticTests.Edit(Matcher,
            ("public partial MatcherOutput Forward([Shape(\"B,1,28,28\")] Tensor image, [Shape(\"C,1,14,14\")] Tensor sketches);",
             "public partial MatcherOutput Forward([Shape(\"B,1,28,28\")] Tensor image, [Shape(\"C,1,14,14\")] Tensor others);"),
            ("    [Tower]\n", "    [Tower(Input = \"others\", Output = \"Pooled\")]\n"));
        DiagnosticAssert.Clean(source);

        var generated = MatcherSource(TestCompilation.RunGenerator(TestCompilation.Create(source)));
        Assert.Contains("this.sketch.Forward(others).Pooled", generated);
    }

    // --- caching -----------------------------------------------------------------------------

    private const string Unrelated = Declarations.Usings + """
        namespace Samples.Other;

        [Model]
        public partial class Lonely
        {
            public partial LonelyOutput Forward([Shape("B,1,28,28")] Tensor image);

            [PatchEmbedding(PatchSize = 7, Dim = 16)]
            public partial PatchEmbedding Patches { get; }

            [ClsToken]
            public partial Parameter Cls { get; }

            [TransformerEncoder(Depth = 1, Heads = 2)]
            public partial TransformerEncoder Encoder { get; }

            [ClassifierHead(Classes = 10)]
            public partial ClassifierHead Head { get; }
        }
        """;

    private static (GeneratorDriver Driver, CSharpCompilation Compilation) FirstRun()
    {
        var compilation = TestCompilation.Create([
            TestCompilation.Parse(Matcher, "Matcher.cs"),
            TestCompilation.Parse(Unrelated, "Lonely.cs"),
            TestCompilation.Parse("namespace Samples.Other;\n\npublic static class Helper\n{\n    public static int Twice(int value) => value * 2;\n}\n", "Helper.cs"),
        ]);
        return (TestCompilation.CreateDriver(trackSteps: true).RunGenerators(compilation), compilation);
    }

    private static CSharpCompilation Replace(CSharpCompilation compilation, string fileName, string from, string to)
    {
        var tree = compilation.SyntaxTrees.Single(t => t.FilePath == fileName);
        var text = tree.GetText().ToString();
        Assert.Equal(1, CountOf(text, from));
        return compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(tree.GetText().Replace(text.IndexOf(from, StringComparison.Ordinal), from.Length, to)));
    }

    private static int CountOf(string text, string part) => (text.Length - text.Replace(part, "").Length) / part.Length;

    private static GeneratorRunResult Result(GeneratorDriver driver) => driver.GetRunResult().Results.Single();

    // The reason each model's graph step output has, by class name.
    private static Dictionary<string, IncrementalStepRunReason> GraphReasons(GeneratorRunResult result) =>
        result.TrackedSteps[TrackingNames.Graphs]
            .SelectMany(s => s.Outputs)
            .ToDictionary(o => ((Model.ModelGraph)o.Value).Spec.ClassName, o => o.Reason);

    private static string Source(GeneratorRunResult result, string hintName) =>
        result.GeneratedSources.Single(s => s.HintName == hintName).SourceText.ToString();

    [Fact]
    public void Editing_an_unrelated_file_leaves_every_step_cached()
    {
        var (driver, compilation) = FirstRun();

        var result = Result(driver.RunGenerators(Replace(compilation, "Helper.cs", "value * 2", "value + value")));

        foreach (var step in new[] { TrackingNames.Specs, TrackingNames.AllSpecs, TrackingNames.WithTowers, TrackingNames.Graphs })
        {
            var reasons = result.TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
            Assert.NotEmpty(reasons);
            Assert.All(reasons, r => Assert.Contains(r, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
        }
    }

    [Fact]
    public void Editing_an_unrelated_model_re_emits_only_that_model()
    {
        var (driver, compilation) = FirstRun();
        var before = Result(driver);

        var result = Result(driver.RunGenerators(Replace(compilation, "Lonely.cs", "Depth = 1", "Depth = 2")));

        var graphs = GraphReasons(result);
        Assert.Equal(IncrementalStepRunReason.Modified, graphs["Lonely"]);
        foreach (var name in new[] { "ImageEncoder", "SketchEncoder", "Matcher" })
            Assert.Contains(graphs[name], new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged });
        // Only Lonely's source is produced anew; the others are the same objects, not re-emitted text.
        var emitted = result.TrackedSteps[TrackingNames.Graphs].SelectMany(s => s.Outputs).Count(o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.Equal(1, emitted);
        Assert.Equal(Source(before, "Samples.Towers.Matcher.g.cs"), Source(result, "Samples.Towers.Matcher.g.cs"));
    }

    [Fact]
    public void Changing_a_towers_width_re_emits_the_model_that_uses_it()
    {
        var (driver, compilation) = FirstRun();
        var before = Source(Result(driver), "Samples.Towers.Matcher.g.cs");

        // Both encoders move to width 48 so the cosine logits still fit.
        var edited = Replace(compilation, "Matcher.cs", "[Shape(\"B,1,28,28\")] Tensor image);\n\n    [PatchEmbedding(PatchSize = 7, Dim = 32)]",
            "[Shape(\"B,1,28,28\")] Tensor image);\n\n    [PatchEmbedding(PatchSize = 7, Dim = 48)]");
        edited = Replace(edited, "Matcher.cs", "Tensor sketch);\n\n    [PatchEmbedding(PatchSize = 7, Dim = 32)]", "Tensor sketch);\n\n    [PatchEmbedding(PatchSize = 7, Dim = 48)]");
        var result = Result(driver.RunGenerators(edited));

        var graphs = GraphReasons(result);
        Assert.Equal(IncrementalStepRunReason.Modified, graphs["Matcher"]);
        Assert.Contains(graphs["Lonely"], new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged });
        var after = Source(result, "Samples.Towers.Matcher.g.cs");
        Assert.Contains("// [C,32]", before);
        Assert.Contains("// [C,48]", after);
    }

    [Fact]
    public void Equal_declarations_give_equal_models_with_towers()
    {
        var (first, _) = FirstRun();
        var (second, _) = FirstRun();

        var a = Result(first).TrackedSteps[TrackingNames.WithTowers].SelectMany(s => s.Outputs).Select(o => o.Value).ToList();
        var b = Result(second).TrackedSteps[TrackingNames.WithTowers].SelectMany(s => s.Outputs).Select(o => o.Value).ToList();
        Assert.Equal(4, a.Count);
        Assert.Equal(a, b);
        var matcher = a.Cast<ModelWithTowers>().Single(m => m.Spec.ClassName == "Matcher");
        Assert.Equal(["global::Samples.Towers.ImageEncoder", "global::Samples.Towers.SketchEncoder"], matcher.Towers.Select(t => t.TypeName));
    }
}
