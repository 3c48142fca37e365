using System;
using System.Linq;
using System.Threading;
using ModelDsl.Generators.Tests.Infrastructure;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// The crashes and the hang <see cref="FuzzTests"/> found and the front end fixed, each reduced to
/// one declaration. Generator and analyzer must not throw on any of them.
/// </summary>
public class FuzzFindingsTests
{
    private static string Template(string className) =>
        Mutator.Templates.Single(t => t.Contains($"partial class {className}\n", StringComparison.Ordinal));

    private static string Edit(string template, string from, string to)
    {
        var at = template.IndexOf(from, StringComparison.Ordinal);
        Assert.True(at >= 0 && template.IndexOf(from, at + 1, StringComparison.Ordinal) < 0, $"'{from}' must occur exactly once.");
        return template.Remove(at, from.Length).Insert(at, to);
    }

    private static void NoCrash(string source) => DiagnosticAssert.AssertNoCrash(TestCompilation.Run(source));

    // Fixed in ModelGenerator (seed 4, mutant 723): a generic [Model] class and a plain partial declaration of the same
    // name are two types, and both got the hint name 'TaskVit.g.cs' (CS8785, the generator contributed nothing).
    [Fact]
    public void A_generic_model_and_a_plain_one_of_the_same_name() =>
        NoCrash(Declarations.TaskVit + "\nnamespace Samples.Tasks { [Model] public partial class TaskVit<T> { } }\n");

    // Found by the generated-file check (seed 20261131): a loss Target that is not a name became a batch field
    // ('batch.2..'), and an abstract [Model] tower was constructed with 'new'. Both are diagnostics now.
    [Fact]
    public void A_loss_target_that_is_not_a_name_is_refused_at_the_argument()
    {
        var diagnostic = Assert.Single(DiagnosticAssert.Verify(
            Edit(Declarations.FashionVit, "[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[CrossEntropyLoss(LabelSmoothing = 0.1, {|MD0008:Target = \"2..\"|})]")));
        Assert.Contains("a column name that is an identifier", diagnostic.GetMessage());
    }

    [Fact]
    public void An_abstract_model_as_a_tower_is_refused_at_the_member()
    {
        // Without the sketch tower, what is left of Matcher is the frozen image tower: MD0015 follows.
        var source = Edit(Edit(Edit(TowerTests.Matcher, "public partial class SketchEncoder", "public abstract partial class SketchEncoder"),
            "public partial SketchEncoder Sketch { get; }", "public partial SketchEncoder {|MD0030:Sketch|} { get; }"),
            "public partial class Matcher", "public partial class {|MD0015:Matcher|}");
        var diagnostics = DiagnosticAssert.Verify(source);
        Assert.Contains(diagnostics, d => d.GetMessage().Contains("is an abstract [Model] class, which cannot be built", StringComparison.Ordinal));
    }

    // A generic model class: its generated part repeats the type parameters, and it compiles with no error in generated code.
    [Fact]
    public void A_generic_model_compiles_cleanly()
    {
        var source = Edit(Declarations.AvgVit, "public partial class AvgVit\n", "public partial class AvgVit<TTag>\n");
        DiagnosticAssert.Clean(source);
        Assert.Contains("partial class AvgVit<TTag> :", TestCompilation.RunGenerator(TestCompilation.Create(source)).SingleSource());
    }

    // Fixed in ModelCompiler: a resampler without a token sequence to read left Queries, Depth,
    // Heads and MlpRatio unresolved, and the emitter threw "Stage 'Compress' has no resolved argument 'Queries'".
    [Fact]
    public void Resampler_after_a_broken_input() =>
        NoCrash(Edit(Template("ResampledVit"), "\"B,1,28,28\"", "\"B,1,28\""));

    // Fixed in ModelCompiler: a channel patch embedding without an image input left
    // PatchesPerChannel and SampleChannels unresolved ("no resolved argument 'PatchesPerChannel'").
    [Fact]
    public void Channel_patch_embedding_without_a_forward_method() =>
        NoCrash(Edit(Template("ChannelVit"), "public partial ChannelVitOutput Forward([Shape(\"B,3,28,28\")] Tensor image);", "public Tensor Forward { get; }"));

    // Fixed in ModelCompiler: the encoder named broken (left out) query tokens or deep prompts, and the
    // emitter's stages.First(...) threw "Sequence contains no matching element".
    [Fact]
    public void Query_tokens_of_the_wrong_type() =>
        NoCrash(Edit(Template("VqtVit"), "public partial Parameter Queries", "public partial Tensor Queries"));

    [Fact]
    public void Deep_prompts_of_the_wrong_type() =>
        NoCrash(Edit(Template("VptVit"), "public partial Parameter Prompts", "public partial Tensor Prompts"));

    // Fixed in ModelCompiler: the divisor search behind MD0006's suggestion looped with d * d <= n,
    // which for an image side near long.MaxValue runs ~3e9 steps and then overflows and never ends.
    [Fact]
    public void Huge_image_sides_are_checked_quickly()
    {
        var source = Edit(Edit(Template("FashionVit"), "\"B,1,28,28\"", "\"B,1,9223372036854775807,9223372036854775807\""), "PatchSize = 7", "PatchSize = 5");
        var compilation = TestCompilation.Create(source);

        AnalyzerRun? run = null;
        var worker = new Thread(() => run = TestCompilation.RunAnalyzer(compilation)) { IsBackground = true };
        worker.Start();

        Assert.True(worker.Join(TimeSpan.FromSeconds(5)), "The analyzer took more than 5 s.");
        Assert.Empty(run!.Exceptions);
        Assert.Contains(run.Diagnostics, d => d.Id == "MD0006");
    }

    // Fixed in ModelCompiler: sizes the graph derives (head input features, position table rows,
    // patches per channel) passed int.MaxValue and the emitter's int.Parse threw; now MD0008.
    [Theory]
    [InlineData("VqtVit", "[QueryTokens(Count = 2, ", "[QueryTokens(Count = 2147483647, ", "InFeatures")]
    [InlineData("FashionVit", "\"B,1,28,28\"", "\"B,1,1000000007,1000000007\"", "Length")]
    [InlineData("ChannelVit", "\"B,3,28,28\"", "\"B,3,1000000007,1000000007\"", "PatchesPerChannel")]
    // Fixed in ModelCompiler.Positions: the CLS token plus int.MaxValue register tokens overflowed the prefix count.
    [InlineData("VqtVit", "[RegisterTokens(Count = 2)]", "[RegisterTokens(Count = 2147483647)]", "Length")]
    public void Derived_sizes_past_int_max_are_reported(string template, string from, string to, string size)
    {
        var source = Edit(Template(template), from, to);
        if (template != "VqtVit") source = Edit(source, "PatchSize = 7", "PatchSize = 1");
        var run = TestCompilation.Run(source);
        DiagnosticAssert.AssertNoCrash(run);
        Assert.Contains(run.Analyzer.Diagnostics, d => d.Id == "MD0008" && d.GetMessage().Contains($"{size} = ", StringComparison.Ordinal));
    }

    // Fixed in Dim.Format: Math.Abs(long.MinValue) threw while the message was written.
    [Theory]
    [InlineData("\"B,1,(-9223372036854775807-1)/-1,28\"")]
    [InlineData("\"B,1,28,(-9223372036854775807-1)*B/-B\"")]
    public void Long_min_value_in_a_shape(string shape) =>
        NoCrash(Edit(Template("FashionVit"), "\"B,1,28,28\"", shape));

    // Fixed in ModelGenerator: [Model] on two partial declarations of one class (CS0579) made two
    // sources with one hint name and AddSource threw; the class is now emitted once.
    [Fact]
    public void Model_attribute_on_two_declarations()
    {
        var source = Template("FashionVit") + "\n[Model]\npublic partial class FashionVit\n{\n}\n";
        var run = TestCompilation.Run(source);
        DiagnosticAssert.AssertNoCrash(run);
        Assert.Single(run.Generator.Result.GeneratedSources, s => s.HintName.EndsWith("FashionVit.g.cs", StringComparison.Ordinal));
    }

    // Fixed in ModelEmitter: a second contrastive loss (of the wrong member type, so left out) came
    // first, and the training step read it ("Stage 'Vit' has no resolved argument 'Weight'").
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Contrastive_loss_of_the_wrong_member_type(bool withRealLoss) =>
        NoCrash(withRealLoss
            ? Edit(PromptDiagnosticTests.Clip, "    [ContrastiveLoss]", "    [ContrastiveLoss(Dim = double.NaN)] partial object Vit { get; }\n    [ContrastiveLoss]")
            : Edit(PromptDiagnosticTests.Prompted, "    [FeatureProjection", "    [ContrastiveLoss(Dim = double.NaN)] partial object Vit { get; }\n    [FeatureProjection"));

    // Fixed in ModelEmitter: query tokens sharing their member name with the position embedding.
    [Fact]
    public void Query_tokens_named_like_another_stage() =>
        NoCrash(Template("VqtVit").Replace("Queries", "Positions", StringComparison.Ordinal));
}
