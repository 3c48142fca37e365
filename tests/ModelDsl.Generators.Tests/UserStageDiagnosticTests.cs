using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Tests.Infrastructure;
using static ModelDsl.Generators.Tests.DiagnosticTests;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// A stage kind the user declares (<c>[Stage]</c> on their module, <c>[UseStage]</c> on the member) gets the checks a
/// built-in kind gets: its contract against what it reads, its sizes, its constructor and its declared parameters,
/// each wrong declaration a diagnostic at the member's attribute, and the generated module built from the bound sizes.
/// </summary>
public class UserStageDiagnosticTests
{
    /// <summary>A 4-token summary of the sequence by a user stage, then the head reads its first token.</summary>
    internal const string Module = """

        [Stage("B,N,D -> B,K,E")]
        [StageParameter("queries", "1,K,D", NoWeightDecay = true)]
        [StageParameter("out.weight", "E,D")]
        public sealed class Summarize : TorchSharp.torch.nn.Module<Tensor, Tensor>
        {
            public Summarize(int K, int D, int E) : base(nameof(Summarize)) { }

            public override Tensor forward(Tensor x) => x;
        }

        public sealed class NotAStage : TorchSharp.torch.nn.Module<Tensor, Tensor>
        {
            public NotAStage() : base(nameof(NotAStage)) { }

            public override Tensor forward(Tensor x) => x;
        }

        [Stage("B,N,D -> B,N,D")]
        public sealed class TakesAName : TorchSharp.torch.nn.Module<Tensor, Tensor>
        {
            public TakesAName(string name) : base(nameof(TakesAName)) { }

            public override Tensor forward(Tensor x) => x;
        }
        """;

    private const string Encoder = "    [TransformerEncoder(Depth = 2, Heads = 4)]\n    public partial TransformerEncoder Encoder { get; }\n";

    internal static string AfterEncoder(string member) => Edit(Valid + Module, (Encoder, Encoder + "\n" + member + "\n"));

    private const string Summarize = "    [UseStage(Sizes = \"K=4,E=64\")]\n    public partial Summarize Digest { get; }";

    public static readonly IReadOnlyDictionary<string, Case> Failing = new Dictionary<string, Case>
    {
        ["MD0046 a module without a [Stage] contract"] = new("MD0046",
            AfterEncoder("    [UseStage]\n    public partial NotAStage {|MD0046:Plain|} { get; }"),
            ["'Plain' has type NotAStage, which has no [Stage(\"contract\")] attribute"]),
        ["MD0017 a user stage whose output size no one binds"] = new("MD0017",
            AfterEncoder("    [UseStage({|MD0017:Sizes = \"K=4\"|})]\n    public partial Summarize Digest { get; }"),
            ["'Digest' declares the contract \"B,N,D -> B,K,E\"", "its output uses 'E', which neither its input side nor Sizes binds"]),
        ["MD0017 a user stage whose constructor takes what no size is"] = new("MD0017",
            AfterEncoder("    [{|MD0017:UseStage|}]\n    public partial TakesAName Named { get; }"),
            ["the constructor of TakesAName takes 'string name', which is not a size the contract binds to a number"]),
        ["MD0017 a user stage reading an image as a sequence"] = new("MD0017",
            AfterEncoder("    [UseStage({|MD0017:Input = \"image\"|}, Sizes = \"K=4,E=64\")]\n    public partial Summarize Digest { get; }"),
            ["it receives [B,1,28,28] of rank 4 from the input 'image', not rank 3"]),
        ["MD0008 user stage sizes that do not parse"] = new("MD0008",
            AfterEncoder("    [UseStage({|MD0008:Sizes = \"K:4\"|})]\n    public partial Summarize Digest { get; }"),
            ["Sizes", "\"P=7,D=64\""]),
        ["MD0049 a custom module whose parameters the compiler cannot count"] = new("MD0049",
            Edit(DiagnosticTests.WithModules, ("    [TransformerEncoder(Depth = 2, Heads = 4)]\n    public partial TransformerEncoder Encoder { get; }\n",
                "    [TransformerEncoder(Depth = 2, Heads = 4)]\n    public partial TransformerEncoder Encoder { get; }\n\n    [CustomModule(\"B,N,D -> B,N,D\")]\n    public partial Identity {|MD0049:Mixer|} { get; }\n")),
            ["'Mixer' ([CustomModule] of Identity) has parameters the compiler cannot know", "skips 'mixer.*'", "use [UseStage]"]),
        ["MD0004 a head of another width than the user stage gives"] = new("MD0004",
            Edit(AfterEncoder("    [UseStage(Sizes = \"K=4,E=32\")]\n    public partial Summarize Digest { get; }"),
                ("Classes = 10", "Classes = 10, Pool = Pool.Avg, {|MD0004:Dim = 64|}")),
            ["Head", "64", "32"], Fix: "32"),
    };

    public static readonly IReadOnlyDictionary<string, string> Passing = new Dictionary<string, string>
    {
        ["MD0046 a [Stage] module summarising the sequence"] = Edit(AfterEncoder(Summarize), ("Classes = 10", "Classes = 10, Pool = Pool.Avg")),
        ["MD0049 a user stage whose parameters are declared"] = Edit(AfterEncoder(Summarize), ("Classes = 10", "Classes = 10, Pool = Pool.Avg")),
        ["MD0017 a user stage of another width read by the head"] = Edit(AfterEncoder("    [UseStage(Sizes = \"K=4,E=32\")]\n    public partial Summarize Digest { get; }"),
            ("Classes = 10", "Classes = 10, Pool = Pool.Avg, Dim = 32")),
    };

    public static TheoryData<string> FailingNames => new(Failing.Keys);

    public static TheoryData<string> PassingNames => new(Passing.Keys);

    [Theory]
    [MemberData(nameof(FailingNames))]
    public void Misuse_is_reported_at_the_attribute_with_expected_and_actual(string name)
    {
        var @case = Failing[name];

        var diagnostic = Assert.Single(DiagnosticAssert.Verify(@case.Markup));

        var message = diagnostic.GetMessage();
        foreach (var part in @case.Message)
            Assert.True(message.Contains(part, StringComparison.Ordinal), $"The message lacks \"{part}\":\n{message}");
        if (@case.Fix is not null)
        {
            Assert.True(diagnostic.Properties.TryGetValue(ModelDsl.Generators.Diagnostics.ModelDiagnostic.FixValue, out var fix), "The diagnostic offers no FixValue.");
            Assert.Equal(@case.Fix, fix);
        }
    }

    [Theory]
    [MemberData(nameof(PassingNames))]
    public void Correct_use_reports_nothing(string name) => DiagnosticAssert.Clean(Passing[name]);

    [Fact]
    public void The_module_is_built_from_the_bound_sizes_checked_against_its_declared_parameters_and_counted()
    {
        var source = Edit(AfterEncoder(Summarize), ("Classes = 10", "Classes = 10, Pool = Pool.Avg"));
        var generated = TestCompilation.RunGenerator(TestCompilation.Create(source)).SingleSource();

        Assert.Contains("digest = global::ModelDsl.Blocks.UserStages.Declared(new global::Samples.Diagnostics.Summarize(K: 4, D: 64, E: 64), \"Digest\", (\"queries\", new long[] { 1, 4, 64 }), (\"out.weight\", new long[] { 64, 64 }));", generated);
        Assert.Contains("register_module(\"digest\", digest);", generated);
        Assert.Contains("x = DigestContract.Invoke(digest, x, nameof(Digest), ref digest_contract_verified);", generated);
        Assert.Contains("global::ModelDsl.ShapeContract.Parse(\"B,17,64 -> B,4,64\")", generated);
        // The Summary names the user's type and counts its declared parameters: 1*4*64 + 64*64.
        Assert.Contains("new(\"Digest\", \"Summarize\", \"[B,4,64]\", 4352, false, -1, -1)", generated);
        Assert.Contains("\"digest.queries\"", generated);
    }
}
