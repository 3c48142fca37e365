using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Tests.Infrastructure;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// Each diagnostic of <see cref="Descriptors"/>: a failing declaration, marked at the exact span the
/// analyzer must report, whose message must name the values involved; and a passing declaration
/// that exercises the same rule and reports nothing at all.
/// </summary>
public class DiagnosticTests
{
    /// <summary>A complete, valid model; each case edits it. Every edit must match exactly once.</summary>
    internal const string Valid = Declarations.Usings + """
        namespace Samples.Diagnostics;

        [Model]
        public partial class Vit
        {
            public partial VitOutput Forward([Shape("B,1,28,28")] Tensor image);

            [PatchEmbedding(PatchSize = 7, Dim = 64)]
            public partial PatchEmbedding Patches { get; }

            [ClsToken]
            public partial Parameter Cls { get; }

            [PositionEmbedding]
            public partial Parameter Positions { get; }

            [TransformerEncoder(Depth = 2, Heads = 4)]
            public partial TransformerEncoder Encoder { get; }

            [ClassifierHead(Classes = 10)]
            public partial ClassifierHead Head { get; }

            [CrossEntropyLoss(LabelSmoothing = 0.1)]
            public partial CrossEntropyLoss Loss { get; }
        }
        """;

    /// <summary>Only the forward method and the patch embedding: for input problems, with nothing downstream.</summary>
    internal const string Stem = Declarations.Usings + """
        namespace Samples.Diagnostics;

        [Model]
        public partial class Vit
        {
            public partial VitOutput Forward([Shape("B,1,28,28")] Tensor image);

            [PatchEmbedding(PatchSize = 7, Dim = 64)]
            public partial PatchEmbedding Patches { get; }
        }
        """;

    /// <summary><see cref="Valid"/> plus user-written module types for [CustomModule] stages.</summary>
    internal const string WithModules = Valid + """


        public sealed class Identity : TorchSharp.torch.nn.Module<Tensor, Tensor>
        {
            public Identity() : base(nameof(Identity)) { }

            public override Tensor forward(Tensor x) => x;
        }

        public sealed class NeedsWidth : TorchSharp.torch.nn.Module<Tensor, Tensor>
        {
            public NeedsWidth(int width) : base(nameof(NeedsWidth)) => Width = width;

            public int Width { get; }

            public override Tensor forward(Tensor x) => x;
        }
        """;

    private const string EncoderMember = "    [TransformerEncoder(Depth = 2, Heads = 4)]\n    public partial TransformerEncoder Encoder { get; }\n\n";
    private const string PatchMember = "    [PatchEmbedding(PatchSize = 7, Dim = 64)]\n    public partial PatchEmbedding Patches { get; }\n";

    /// <summary>Inserts a [CustomModule] member right after the encoder.</summary>
    private static string AfterEncoder(string member) => Edit(WithModules, (EncoderMember, EncoderMember + member + "\n\n"));

    internal const string ForwardLine = "    public partial VitOutput Forward([Shape(\"B,1,28,28\")] Tensor image);\n";
    private const string ClsMember = "    [ClsToken]\n    public partial Parameter Cls { get; }\n\n";
    private const string HeadMember = "    [ClassifierHead(Classes = 10)]\n    public partial ClassifierHead Head { get; }\n\n";

    /// <summary>Applies (from, to) edits to a template; each "from" must occur exactly once.</summary>
    internal static string Edit(string template, params (string From, string To)[] edits)
    {
        foreach (var (from, to) in edits)
        {
            var at = template.IndexOf(from, StringComparison.Ordinal);
            if (at < 0 || template.IndexOf(from, at + 1, StringComparison.Ordinal) >= 0)
                throw new ArgumentException($"'{from}' must occur exactly once in the template.");
            template = template.Remove(at, from.Length).Insert(at, to);
        }
        return template;
    }

    /// <param name="Fix">The FixValue property a code fix reads, where the diagnostic offers one.</param>
    public sealed record Case(string Id, string Markup, string[] Message, string? Fix = null);

    public static readonly IReadOnlyDictionary<string, Case> Failing = new Dictionary<string, Case>
    {
        ["MD0001 class not partial"] = new("MD0001",
            Edit(Valid, ("public partial class Vit", "public class {|MD0001:Vit|}")),
            ["Model class 'Vit'", "partial"]),
        ["MD0002 member not partial"] = new("MD0002",
            Edit(Valid, ("public partial PatchEmbedding Patches { get; }", "public PatchEmbedding {|MD0002:Patches|} { get; }")),
            ["Stage 'Patches'", "partial PatchEmbedding Patches { get; }"]),
        ["MD0003 unparsable shape"] = new("MD0003",
            Edit(Stem, ("[Shape(\"B,1,28,28\")]", "[Shape({|MD0003:\"B,1,28,\"|})]")),
            ["\"B,1,28,\"", "'image'", "position 8"]),
        ["MD0003 unbalanced parenthesis"] = new("MD0003",
            Edit(Stem, ("[Shape(\"B,1,28,28\")]", "[Shape({|MD0003:\"B,1,(28,28\"|})]")),
            ["\"B,1,(28,28\"", "expected ')'", "position 8"]),
        ["MD0004 width mismatch"] = new("MD0004",
            Edit(Valid, ("[ClsToken]", "[ClsToken({|MD0004:Dim = 32|})]")),
            ["'Cls' has Dim = 32", "'Patches'", "width 64", "[B,16,64]"], Fix: "64"),
        ["MD0004 width mismatch downstream"] = new("MD0004",
            Edit(Valid, ("[ClassifierHead(Classes = 10)]", "[ClassifierHead(Classes = 10, {|MD0004:Dim = 128|})]")),
            ["'Head' has Dim = 128", "'Encoder'", "width 64", "[B,17,64]"], Fix: "64"),
        ["MD0005 heads do not divide"] = new("MD0005",
            Edit(Valid, ("Heads = 4", "{|MD0005:Heads = 5|}")),
            ["Heads = 5", "width 64", "nearest divisor is 4"], Fix: "4"),
        ["MD0005 pool heads do not divide"] = new("MD0005",
            Edit(Valid, ("[ClassifierHead(Classes = 10)]", "[ClassifierHead(Classes = 10, Pool = Pool.Map, {|MD0005:PoolHeads = 6|})]")),
            ["PoolHeads = 6", "width 64", "nearest divisor is 4"], Fix: "4"),
        ["MD0006 image not divisible by patch"] = new("MD0006",
            Edit(Valid, ("PatchSize = 7", "{|MD0006:PatchSize = 5|}")),
            ["PatchSize = 5", "'image'", "28x28", "e.g. 4"], Fix: "4"),
        ["MD0006 one side not divisible"] = new("MD0006",
            Edit(Valid, ("[Shape(\"B,1,28,28\")]", "[Shape(\"B,1,28,30\")]"), ("PatchSize = 7", "{|MD0006:PatchSize = 7|}")),
            ["PatchSize = 7", "28x30", "e.g. 2"], Fix: "2"),
        ["MD0007 cls pooling without cls token"] = new("MD0007",
            Edit(Valid, (ClsMember, ""), ("[ClassifierHead(Classes = 10)]", "[{|MD0007:ClassifierHead(Classes = 10)|}]")),
            ["'Head'", "Pool.Cls", "[ClsToken]"]),
        ["MD0007 explicit Pool.Cls without cls token"] = new("MD0007",
            Edit(Valid, (ClsMember, ""), ("[ClassifierHead(Classes = 10)]", "[ClassifierHead(Classes = 10, {|MD0007:Pool = Pool.Cls|})]")),
            ["'Head'", "Pool.Cls", "[ClsToken]"]),
        ["MD0008 zero depth"] = new("MD0008",
            Edit(Valid, ("Depth = 2", "{|MD0008:Depth = 0|}")),
            ["'Encoder' has Depth = 0", "positive number of blocks"]),
        ["MD0008 depth not set"] = new("MD0008",
            Edit(Valid, ("[TransformerEncoder(Depth = 2, Heads = 4)]", "[{|MD0008:TransformerEncoder(Heads = 4)|}]")),
            ["'Encoder' has Depth = 0 (not set)", "positive number of blocks"]),
        ["MD0008 negative classes"] = new("MD0008",
            Edit(Valid, ("Classes = 10", "{|MD0008:Classes = -3|}")),
            ["'Head' has Classes = -3", "positive number of classes"]),
        ["MD0008 label smoothing of 1.5"] = new("MD0008",
            Edit(Valid, ("LabelSmoothing = 0.1", "{|MD0008:LabelSmoothing = 1.5|}")),
            ["'Loss' has LabelSmoothing = 1.5", "[0, 1)"]),
        ["MD0008 negative mlp ratio"] = new("MD0008",
            Edit(Valid, ("Heads = 4", "Heads = 4, {|MD0008:MlpRatio = -2.0|}")),
            ["'Encoder' has MlpRatio = -2", "positive MLP width ratio"]),
        ["MD0009 wrong member type"] = new("MD0009",
            Edit(Valid, ("public partial PatchEmbedding Patches", "public partial TransformerEncoder {|MD0009:Patches|}")),
            ["Stage 'Patches'", "[PatchEmbedding]", "must have type PatchEmbedding", "not TransformerEncoder"]),
        ["MD0010 no forward method"] = new("MD0010",
            Edit(Stem, (ForwardLine, ""), ("public partial class Vit", "public partial class {|MD0010:Vit|}")),
            ["Model 'Vit'", "partial forward method", "VitOutput Forward"]),
        ["MD0010 forward not partial"] = new("MD0010",
            Edit(Stem, (ForwardLine, "    public VitOutput {|MD0010:Forward|}([Shape(\"B,1,28,28\")] Tensor image) => throw null!;\n")),
            ["Model 'Vit'", "('Forward' is not partial)"]),
        ["MD0011 input without shape"] = new("MD0011",
            Edit(Stem, ("[Shape(\"B,1,28,28\")] Tensor image", "Tensor {|MD0011:image|}")),
            ["Input 'image'", "'Forward'", "[Shape("]),
        ["MD0012 token before the patch embedding"] = new("MD0012",
            Edit(Valid, (ClsMember, ""), ("    [PatchEmbedding", "    [{|MD0012:ClsToken|}]\n    public partial Parameter Cls { get; }\n\n    [PatchEmbedding")),
            ["'Cls' needs a token sequence [B,N,D]", "declare it after the [PatchEmbedding] stage"]),
        ["MD0012 loss without head"] = new("MD0012",
            Edit(Valid, (HeadMember, ""), ("[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[{|MD0012:CrossEntropyLoss(LabelSmoothing = 0.1)|}]")),
            ["'Loss' needs a classifier head's logits [B,C]", "no [ClassifierHead] stage"]),
        ["MD0012 forward without inputs"] = new("MD0012",
            Edit(Stem, ("Forward([Shape(\"B,1,28,28\")] Tensor image)", "Forward()"), ("[PatchEmbedding(PatchSize = 7, Dim = 64)]", "[{|MD0012:PatchEmbedding(PatchSize = 7, Dim = 64)|}]")),
            ["'Patches' needs an image input [B,C,H,W]", "the forward method has no input"]),
        ["MD0013 flat input"] = new("MD0013",
            Edit(Stem, ("\"B,1,28,28\"", "\"B,784\""), ("[PatchEmbedding(PatchSize = 7, Dim = 64)]", "[{|MD0013:PatchEmbedding(PatchSize = 7, Dim = 64)|}]")),
            ["'Patches' reads 'image' as an image [B,C,H,W]", "[B,784]"]),
        ["MD0013 symbolic channels"] = new("MD0013",
            Edit(Stem, ("\"B,1,28,28\"", "\"B,C,28,28\""), ("[PatchEmbedding(PatchSize = 7, Dim = 64)]", "[{|MD0013:PatchEmbedding(PatchSize = 7, Dim = 64)|}]")),
            ["'Patches' reads 'image'", "fixed channel count", "[B,C,28,28]"]),
        ["MD0014 duplicate stage"] = new("MD0014",
            Edit(Valid, (ClsMember, ClsMember + "    [ClsToken]\n    public partial Parameter {|MD0014:Cls2|} { get; }\n\n")),
            ["'Cls2' is a second [ClsToken] stage", "'Cls' already is one"]),
        ["MD0015 everything frozen"] = new("MD0015",
            Edit(Valid,
                ("public partial class Vit", "public partial class {|MD0015:Vit|}"),
                ("Dim = 64)]", "Dim = 64, Frozen = true)]"),
                ("[ClsToken]", "[ClsToken(Frozen = true)]"),
                ("[PositionEmbedding]", "[PositionEmbedding(Frozen = true)]"),
                ("Heads = 4)]", "Heads = 4, Frozen = true)]"),
                ("Classes = 10)]", "Classes = 10, Frozen = true)]")),
            ["Every stage of 'Vit' is frozen"]),
        ["MD0016 two stage attributes"] = new("MD0016",
            Edit(Valid, (ClsMember, "    [ClsToken, RegisterTokens(Count = 2)]\n    public partial Parameter {|MD0016:Cls|} { get; }\n\n")),
            ["'Cls' carries both [ClsToken] and [RegisterTokens]"]),
        ["MD0017 contract width mismatch"] = new("MD0017",
            AfterEncoder("    [CustomModule({|MD0017:\"B,N,32 -> B,N,32\"|})]\n    public partial Identity Custom { get; }"),
            ["'Custom' declares the contract \"B,N,32 -> B,N,32\"", "[B,17,64]", "'Encoder'", "dimension 2 is 64, not 32"]),
        ["MD0017 contract rank mismatch"] = new("MD0017",
            AfterEncoder("    [CustomModule({|MD0017:\"B,D -> B,D\"|})]\n    public partial Identity Custom { get; }"),
            ["'Custom' declares the contract \"B,D -> B,D\"", "rank 3", "not rank 2"]),
        ["MD0017 unbound output symbol"] = new("MD0017",
            AfterEncoder("    [CustomModule({|MD0017:\"B,N,D -> B,N,E\"|})]\n    public partial Identity Custom { get; }"),
            ["'Custom'", "'E'", "does not bind"]),
        ["MD0018 member type is not a module"] = new("MD0018",
            AfterEncoder("    [CustomModule(\"B,N,D -> B,N,D\")]\n    public partial Parameter {|MD0018:Custom|} { get; }"),
            ["'Custom' has type Parameter", "is not a Module<Tensor,Tensor>"]),
        ["MD0018 module without parameterless constructor"] = new("MD0018",
            AfterEncoder("    [CustomModule(\"B,N,D -> B,N,D\")]\n    public partial NeedsWidth {|MD0018:Custom|} { get; }"),
            ["'Custom' has type NeedsWidth", "no public parameterless constructor"]),
        ["MD0019 loss names no stage"] = new("MD0019",
            Edit(Valid, ("[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[CrossEntropyLoss({|MD0019:Of = \"Nope\"|}, LabelSmoothing = 0.1)]")),
            ["'Loss' has Of = \"Nope\"", "names no stage", "[ClassifierHead]", "the model's one is 'Head'"], Fix: "nameof(Head)"),
        ["MD0019 loss names a stage of another kind"] = new("MD0019",
            Edit(Valid, ("[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[CrossEntropyLoss({|MD0019:Of = nameof(Encoder)|}, LabelSmoothing = 0.1)]")),
            ["'Loss' has Of = \"Encoder\"", "is a [TransformerEncoder] stage", "[ClassifierHead]"], Fix: "nameof(Head)"),
        ["MD0020 channel patches with a position table"] = new("MD0020",
            Edit(Valid,
                ("\"B,1,28,28\"", "\"B,3,28,28\""),
                (PatchMember, "    [ChannelPatchEmbedding(PatchSize = 7, Dim = 64)]\n    public partial ChannelPatchEmbedding Patches { get; }\n"),
                ("public partial Parameter Positions", "public partial Parameter {|MD0020:Positions|}")),
            ["'Positions' cannot be combined with 'Patches'", "3 channels", "remove 'Positions'"]),
    };

    /// <summary>Declarations that exercise each rule where it holds; none may report anything.</summary>
    public static readonly IReadOnlyDictionary<string, string> Passing = new Dictionary<string, string>
    {
        ["MD0001 sealed partial class"] = Edit(Valid, ("public partial class Vit", "public sealed partial class Vit")),
        ["MD0002 internal partial member"] = Edit(Valid, ("public partial PatchEmbedding Patches", "internal partial PatchEmbedding Patches")),
        ["MD0003 shape with spaces, brackets and arithmetic"] = Edit(Valid, ("\"B,1,28,28\"", "\"[B, 1, 2*14, (30-2)]\"")),
        ["MD0004 explicit widths that agree"] = Edit(Valid, ("[ClsToken]", "[ClsToken(Dim = 64)]"), ("Classes = 10", "Classes = 10, Dim = 64")),
        ["MD0005 heads that divide"] = Edit(Valid, ("Heads = 4", "Heads = 8"), ("Classes = 10", "Classes = 10, Pool = Pool.Map, PoolHeads = 16")),
        ["MD0006 patch that divides a non-square image"] = Edit(Valid, ("\"B,1,28,28\"", "\"B,1,28,42\"")),
        ["MD0007 average pooling without cls token"] = Edit(Valid, (ClsMember, ""), ("Classes = 10", "Classes = 10, Pool = Pool.Avg")),
        ["MD0008 values in range"] = Edit(Valid, ("Depth = 2", "Depth = 12"), ("LabelSmoothing = 0.1", "LabelSmoothing = 0.0"), ("Heads = 4", "Heads = 4, MlpRatio = 0.5")),
        ["MD0009 fully qualified member type"] = Edit(Valid, ("public partial PatchEmbedding Patches", "public partial global::ModelDsl.Blocks.PatchEmbedding Patches")),
        ["MD0010 forward with another visibility"] = Edit(Valid, ("public partial VitOutput Forward", "internal partial VitOutput Forward")),
        ["MD0011 every input has a shape"] = Edit(Valid, ("\"B,1,28,28\"", "\"N,1,28,28\"")),
        ["MD0012 registers after the cls token"] = Edit(Valid, (ClsMember, ClsMember + "    [RegisterTokens(Count = 4)]\n    public partial Parameter Registers { get; }\n\n")),
        ["MD0013 three channels"] = Edit(Valid, ("\"B,1,28,28\"", "\"B,3,28,28\"")),
        ["MD0014 one stage of each kind"] = Valid,
        ["MD0015 frozen backbone, trainable head"] = Edit(Valid, ("Dim = 64)]", "Dim = 64, Frozen = true)]"), ("Heads = 4)]", "Heads = 4, Frozen = true)]")),
        ["MD0016 one attribute per member"] = Edit(Valid, (ClsMember, ClsMember + "    [RegisterTokens(Count = 2)]\n    public partial Parameter Registers { get; }\n\n")),
        ["MD0017 contract that fits"] = AfterEncoder("    [CustomModule(\"B,N,D -> B,N,D\")]\n    public partial Identity Custom { get; }"),
        ["MD0018 usable module type"] = AfterEncoder("    [CustomModule(\"B, N, 64 -> B, N, 64\")]\n    public partial Identity Custom { get; }"),
        ["MD0019 loss names its head"] = Edit(Valid, ("[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[CrossEntropyLoss(Of = nameof(Head), LabelSmoothing = 0.1)]")),
        ["MD0020 channel patches without a position table"] = Edit(Valid,
            ("\"B,1,28,28\"", "\"B,3,28,28\""),
            (PatchMember, "    [ChannelPatchEmbedding(PatchSize = 7, Dim = 64)]\n    public partial ChannelPatchEmbedding Patches { get; }\n"),
            ("    [PositionEmbedding]\n    public partial Parameter Positions { get; }\n\n", "")),
    };

    // The task-token cases live in their own file.
    internal static readonly IReadOnlyDictionary<string, Case> AllFailing = Failing.Concat(TaskTokenDiagnosticCases.Failing).ToDictionary(kv => kv.Key, kv => kv.Value);

    private static readonly IReadOnlyDictionary<string, string> AllPassing = Passing.Concat(TaskTokenDiagnosticCases.Passing).ToDictionary(kv => kv.Key, kv => kv.Value);

    public static TheoryData<string> FailingNames => new(AllFailing.Keys);

    public static TheoryData<string> PassingNames => new(AllPassing.Keys);

    [Theory]
    [MemberData(nameof(FailingNames))]
    public void Failing_declaration_reports_at_the_marked_span(string name)
    {
        var @case = AllFailing[name];

        var diagnostic = Assert.Single(DiagnosticAssert.Verify(@case.Markup));

        var message = diagnostic.GetMessage();
        foreach (var part in @case.Message)
            Assert.True(message.Contains(part, StringComparison.Ordinal), $"The message lacks \"{part}\":\n{message}");
        var descriptor = DescriptorsById[@case.Id];
        Assert.Equal(descriptor.DefaultSeverity, diagnostic.Severity);
        Assert.Equal(descriptor.HelpLinkUri, diagnostic.Descriptor.HelpLinkUri);
        if (@case.Fix is not null)
        {
            Assert.True(diagnostic.Properties.TryGetValue(ModelDiagnostic.FixValue, out var fix), "The diagnostic offers no FixValue.");
            Assert.Equal(@case.Fix, fix);
        }
    }

    [Theory]
    [MemberData(nameof(PassingNames))]
    public void Passing_declaration_reports_nothing(string name) => DiagnosticAssert.Clean(AllPassing[name]);

    private static readonly IReadOnlyDictionary<string, DiagnosticDescriptor> DescriptorsById =
        typeof(Descriptors).GetFields()
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .ToDictionary(d => d.Id);

    // The weights-file checks need a safetensors header beside the declaration: WeightsCheckTests has their cases.
    private static readonly string[] WeightsCheckIds = ["MD0021", "MD0022", "MD0023", "MD0043"];

    [Fact]
    public void Every_descriptor_has_a_failing_and_a_passing_case()
    {
        var untested = DescriptorsById.Keys.OrderBy(id => id)
            .Except(WeightsCheckIds)
            .Where(id => !AllFailing.Values.Concat(TowerDiagnosticTests.Failing.Values).Concat(PromptDiagnosticTests.Failing.Values).Concat(TokenFamilyDiagnosticTests.Failing.Values).Concat(UserStageDiagnosticTests.Failing.Values).Concat(CodebookDiagnosticTests.Failing.Values).Concat(DistillDiagnosticTests.Failing.Values).Concat(RegularizerDiagnosticTests.Failing.Values).Concat(InsideBlockDiagnosticTests.Failing.Values).Concat(LanguageModelTests.Failing.Values).Any(c => c.Id == id)
                || !AllPassing.Keys.Concat(TowerDiagnosticTests.Passing.Keys).Concat(PromptDiagnosticTests.Passing.Keys).Concat(TokenFamilyDiagnosticTests.Passing.Keys).Concat(UserStageDiagnosticTests.Passing.Keys).Concat(CodebookDiagnosticTests.Passing.Keys).Concat(DistillDiagnosticTests.Passing.Keys).Concat(RegularizerDiagnosticTests.Passing.Keys).Concat(InsideBlockDiagnosticTests.Passing.Keys).Concat(LanguageModelTests.Passing.Keys).Any(k => k.StartsWith(id + " ", StringComparison.Ordinal)))
            .ToList();

        Assert.True(untested.Count == 0, "Descriptors without a failing and a passing case here: " + string.Join(", ", untested));
        Assert.True(DescriptorsById.Count >= 16);
    }

    [Fact]
    public void The_analyzer_supports_exactly_the_descriptors()
    {
        var supported = new ModelDsl.Analyzers.ModelAnalyzer().SupportedDiagnostics.Select(d => d.Id).OrderBy(x => x);

        Assert.Equal(DescriptorsById.Keys.OrderBy(x => x), supported);
    }
}
