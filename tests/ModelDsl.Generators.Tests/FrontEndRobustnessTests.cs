using System;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Tests.Infrastructure;

namespace ModelDsl.Generators.Tests;

/// <summary>Behaviour of the front end on broken or extreme declarations, beyond one diagnostic per rule.</summary>
public class FrontEndRobustnessTests
{
    private static string Edit(string template, params (string From, string To)[] edits) => DiagnosticTests.Edit(template, edits);

    private const string Shape = "[Shape(\"B,1,28,28\")]";

    /// <summary>
    /// A complete model whose image input is broken: the input's own diagnostic is the whole story.
    /// The stages after the patch embedding must not each add "needs a token sequence ... declare it
    /// after the [PatchEmbedding] stage" (they are after it) or "Heads = 4 does not divide the width 1".
    /// </summary>
    public static readonly System.Collections.Generic.IReadOnlyDictionary<string, string> BrokenInputs = new System.Collections.Generic.Dictionary<string, string>
    {
        ["unparsable shape"] = Edit(DiagnosticTests.Valid, (Shape, "[Shape({|MD0003:\"B,1,28,\"|})]")),
        ["input without shape"] = Edit(DiagnosticTests.Valid, (Shape + " Tensor image", "Tensor {|MD0011:image|}")),
        ["flat input"] = Edit(DiagnosticTests.Valid, ("\"B,1,28,28\"", "\"B,784\""), ("[PatchEmbedding(PatchSize = 7, Dim = 64)]", "[{|MD0013:PatchEmbedding(PatchSize = 7, Dim = 64)|}]")),
        ["no forward method"] = Edit(DiagnosticTests.Valid, (DiagnosticTests.ForwardLine, ""), ("public partial class Vit", "public partial class {|MD0010:Vit|}")),
        ["forward without inputs"] = Edit(DiagnosticTests.Valid, ("Forward(" + Shape + " Tensor image)", "Forward()"), ("[PatchEmbedding(PatchSize = 7, Dim = 64)]", "[{|MD0012:PatchEmbedding(PatchSize = 7, Dim = 64)|}]")),
    };

    public static TheoryData<string> BrokenInputNames => new(BrokenInputs.Keys);

    [Theory]
    [MemberData(nameof(BrokenInputNames))]
    public void A_broken_image_input_reports_its_root_cause_only(string name) => DiagnosticAssert.Verify(BrokenInputs[name]);

    /// <summary>The ModelCompiler promise: a broken stage gets defaults, "and the emitted code compiles".</summary>
    public static TheoryData<string> FailingNames => DiagnosticTests.FailingNames;

    [Theory]
    [MemberData(nameof(FailingNames))]
    public void Generated_code_of_a_failing_declaration_has_no_errors_of_its_own(string name)
    {
        var (source, _) = Markup.Parse(DiagnosticTests.AllFailing[name].Markup);
        var run = TestCompilation.RunGenerator(TestCompilation.Create(source));

        var errors = run.Output.GetDiagnostics()
            .Where(d => d.Severity == DiagnosticSeverity.Error && d.Location.SourceTree?.FilePath.EndsWith(".g.cs") == true)
            .ToList();
        Assert.True(errors.Count == 0, "Errors in the generated file:\n" + TestCompilation.Describe(errors));
    }

    /// <summary>
    /// The analyzer runs on every keystroke, so a large number typed into an argument must not
    /// make it search for seconds (a nearest divisor of 64 is at most 64 away from 64). While the
    /// search is linear in the value (~10 ns a step: 1e9 steps, ~10 s), the abandoned worker thread keeps a core busy meanwhile.
    /// </summary>
    [Theory]
    [InlineData("Heads = 4", "Heads = 1000000000", "MD0005")]
    [InlineData("Classes = 10", "Classes = 10, Pool = Pool.Map, PoolHeads = 1000000000", "MD0005")]
    [InlineData("\"B,1,28,28\"", "\"B,1,1000000007,1000000007\"", "MD0006")]
    public void Huge_values_are_checked_quickly(string from, string to, string expectedId)
    {
        var source = Edit(DiagnosticTests.Valid, (from, to));
        if (expectedId == "MD0006")
            source = Edit(source, ("PatchSize = 7", "PatchSize = 2"));
        var compilation = TestCompilation.Create(source);

        AnalyzerRun? run = null;
        var worker = new Thread(() => run = TestCompilation.RunAnalyzer(compilation)) { IsBackground = true };
        worker.Start();
        var finished = worker.Join(TimeSpan.FromSeconds(3));

        Assert.True(finished, $"The analyzer took more than 3 s on '{to}'.");
        Assert.Contains(run!.Diagnostics, d => d.Id == expectedId);
    }

    /// <summary>
    /// timm's VisionTransformer builds its attention pool with the model's mlp_ratio
    /// (<c>AttentionPoolLatent(embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio)</c>), so a map
    /// head of an encoder with MlpRatio = 3 has an attn_pool.mlp of width 3*D, not 4*D.
    /// </summary>
    [Fact]
    public void Map_pooling_uses_the_encoders_mlp_ratio_like_timm()
    {
        var source = Edit(DiagnosticTests.Valid,
            ("Dim = 64", "Dim = 32"),
            ("Heads = 4", "Heads = 4, MlpRatio = 3.0"),
            ("Classes = 10", "Classes = 100, Pool = Pool.Map"));
        var compilation = TestCompilation.Create(source);
        var type = compilation.GetTypeByMetadataName("Samples.Diagnostics.Vit")!;
        var (graph, diagnostics) = ModelCompiler.Compile(DeclarationReader.Read(type, CancellationToken.None));
        Assert.Empty(diagnostics);

        var head = graph.Stages.Single(s => s.Member == "Head");
        const long d = 32, hidden = 96, classes = 100;
        var attentionPool = d + (d * d + d) + (d * 2 * d + 2 * d) + (d * d + d) + 2 * d + (d * hidden + hidden) + (hidden * d + d);
        Assert.Equal(d * classes + classes + attentionPool, head.Parameters);

        var generated = TestCompilation.RunGenerator(compilation).SingleSource();
        Assert.Contains("new global::ModelDsl.Blocks.AttentionPool(dim: 32, heads: 4, mlpRatio: 3.0)", generated);
    }

    /// <summary>
    /// Doubles that are not finite must be reported (MD0008) and never reach the generated code,
    /// where they would be written as "NaN.0" or "Infinity.0" and break the user's build.
    /// </summary>
    [Theory]
    [InlineData("LabelSmoothing = 0.1", "LabelSmoothing = double.NaN")]
    [InlineData("LabelSmoothing = 0.1", "LabelSmoothing = 0.1, Weight = double.NaN")]
    [InlineData("LabelSmoothing = 0.1", "LabelSmoothing = 0.1, Weight = double.PositiveInfinity")]
    [InlineData("Heads = 4", "Heads = 4, MlpRatio = double.PositiveInfinity")]
    [InlineData("Heads = 4", "Heads = 4, MlpRatio = double.NaN")]
    public void Non_finite_doubles_are_reported_and_not_emitted(string from, string to)
    {
        var argument = to.Substring(to.LastIndexOf(", ", StringComparison.Ordinal) is var comma and >= 0 ? comma + 2 : 0);
        DiagnosticAssert.Verify(Edit(DiagnosticTests.Valid, (from, to.Replace(argument, "{|MD0008:" + argument + "|}"))));

        var run = TestCompilation.RunGenerator(TestCompilation.Create(Edit(DiagnosticTests.Valid, (from, to))));
        var errors = run.Output.GetDiagnostics()
            .Where(d => d.Severity == DiagnosticSeverity.Error && d.Location.SourceTree?.FilePath.EndsWith(".g.cs") == true)
            .ToList();
        Assert.True(errors.Count == 0, "Errors in the generated file:\n" + TestCompilation.Describe(errors));
    }
}
