using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Tests.Infrastructure;
using static ModelDsl.Generators.Tests.DiagnosticTests;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// Misuse of each token family (deep prompts, query tokens, resamplers, channel embeddings, and a
/// member whose registered name another stage has) is a
/// compile-time diagnostic at the argument that causes it, naming the expected and the actual value;
/// each rule also has a passing declaration that exercises it and reports nothing.
/// </summary>
public class TokenFamilyDiagnosticTests
{
    private const string Encoder = "    [TransformerEncoder(Depth = 2, Heads = 4)]\n    public partial TransformerEncoder Encoder { get; }\n";

    private static string AfterEncoder(string member, params (string From, string To)[] edits) =>
        Edit(Valid, [(Encoder, Encoder + "\n" + member + "\n"), .. edits]);

    private const string Also = "Classes = 10, Also = nameof(Queries)";

    // Not "Summary": the generated class has a static Summary (the shape table).
    private const string Readout = "    [Tokens(Count = 2, Place = Place.AfterContent)]\n    public partial Parameter Readout { get; }\n";

    private const string Patches = "    [PatchEmbedding(PatchSize = 7, Dim = 64)]\n    public partial PatchEmbedding Patches { get; }\n";

    private const string Positions = "    [PositionEmbedding]\n    public partial Parameter Positions { get; }\n\n";

    /// <summary>ChannelViT on a 3-channel image: channel patches instead of patches, no position table of its own.</summary>
    internal static string ChannelVit(string arguments) => Edit(Valid,
        ("\"B,1,28,28\"", "\"B,3,28,28\""),
        (Patches, $"    [ChannelPatchEmbedding(PatchSize = 7, Dim = 64{arguments})]\n    public partial ChannelPatchEmbedding Patches {{ get; }}\n"),
        (Positions, ""));

    public static readonly IReadOnlyDictionary<string, Case> Failing = new Dictionary<string, Case>
    {
        ["deep prompts into a stage that is not an encoder"] = new("MD0019",
            AfterEncoder("    [DeepPromptTokens(Count = 4, {|MD0019:Into = nameof(Patches)|})]\n    public partial Parameter Prompts { get; }"),
            ["Prompts", "Into", "Patches"]),
        ["deep prompts into no stage"] = new("MD0019",
            AfterEncoder("    [DeepPromptTokens(Count = 4, {|MD0019:Into = \"Blocks\"|})]\n    public partial Parameter Prompts { get; }"),
            ["Prompts", "Blocks"]),
        ["no deep prompts"] = new("MD0008",
            AfterEncoder("    [DeepPromptTokens({|MD0008:Count = 0|}, Into = nameof(Encoder))]\n    public partial Parameter Prompts { get; }"),
            ["Prompts", "Count", "0"]),
        ["deep prompts of another width than the encoder"] = new("MD0004",
            AfterEncoder("    [DeepPromptTokens(Count = 4, Into = nameof(Encoder), {|MD0004:Dim = 32|})]\n    public partial Parameter Prompts { get; }"),
            ["Prompts", "32", "64"], Fix: "64"),
        ["query tokens of another width than the encoder they read"] = new("MD0004",
            AfterEncoder("    [QueryTokens(Count = 2, Into = nameof(Encoder), {|MD0004:Dim = 48|})]\n    public partial Parameter Queries { get; }",
                ("Classes = 10", Also)),
            ["Queries", "48", "64"], Fix: "64"),
        ["head collects query outputs from a stage that is not query tokens"] = new("MD0019",
            Edit(Valid, ("Classes = 10", "Classes = 10, {|MD0019:Also = nameof(Encoder)|}")),
            ["Head", "Also", "Encoder"]),
        ["resampler over a loss"] = new("MD0019",
            AfterEncoder("    [Resampler(Queries = 4, Heads = 4, {|MD0019:Over = nameof(Loss)|})]\n    public partial Resampler Compress { get; }"),
            ["Compress", "Over", "Loss"]),
        ["resampler heads that do not divide its width"] = new("MD0005",
            AfterEncoder("    [Resampler(Queries = 4, {|MD0005:Heads = 5|}, Over = nameof(Encoder))]\n    public partial Resampler Compress { get; }"),
            ["Compress", "Heads", "5", "64"], Fix: "4"),
        ["no resampler queries"] = new("MD0008",
            AfterEncoder("    [Resampler({|MD0008:Queries = -1|}, Heads = 4)]\n    public partial Resampler Compress { get; }"),
            ["Compress", "Queries", "-1"]),
        ["head of another width than the resampler gives"] = new("MD0004",
            AfterEncoder("    [Resampler(Queries = 4, Heads = 4, Dim = 32)]\n    public partial Resampler Compress { get; }",
                ("Classes = 10", "Classes = 10, Pool = Pool.Avg, {|MD0004:Dim = 64|}")),
            ["Head", "64", "32"], Fix: "32"),
        ["MD0042 task head registered like the encoder's final norm"] = new("MD0042",
            Edit(Declarations.TaskVit, ("public partial MaskHead Mask", "public partial MaskHead {|MD0042:Norm|}"), ("nameof(Mask)", "nameof(Norm)")),
            ["'Norm' registers as 'norm', a name 'Encoder' already registers", "rename 'Norm'"]),
        ["MD0042 task loss whose field is the encoder's final norm"] = new("MD0042",
            Edit(Declarations.TaskVit, ("public partial MseLoss AngleLoss", "public partial MseLoss {|MD0042:Norm|}")),
            ["'Norm' registers as 'norm', a name 'Encoder' already registers"]),
        ["MD0044 deep prompts over blocks past the encoder's depth"] = new("MD0044",
            AfterEncoder("    [DeepPromptTokens(Count = 4, Into = nameof(Encoder), {|MD0044:Layers = \"1..2\"|})]\n    public partial Parameter Prompts { get; }"),
            ["'Prompts' has Layers = \"1..2\"", "reaches block 2, past the last block", "'Encoder' has Depth = 2 (blocks 0..1)"]),
        ["MD0044 query tokens over an empty range"] = new("MD0044",
            AfterEncoder("    [QueryTokens(Count = 2, Into = nameof(Encoder), {|MD0044:Layers = \"1..0\"|})]\n    public partial Parameter Queries { get; }", ("Classes = 10", Also)),
            ["is empty (it starts at block 1, after block 0)"]),
        ["MD0044 a range that is not one"] = new("MD0044",
            AfterEncoder("    [DeepPromptTokens(Count = 4, {|MD0044:Layers = \"first two\"|})]\n    public partial Parameter Prompts { get; }"),
            ["is not a range of blocks", "\"0..5\", \"6..\", \"..3\" or \"4\""]),
        ["MD0045 a forward input no stage reads"] = new("MD0045",
            Edit(Valid, ("[Shape(\"B,1,28,28\")] Tensor image)", "[Shape(\"B,1,28,28\")] Tensor image, [Shape({|MD0045:\"B\"|})] Tensor domain)")),
            ["The input 'domain' [B] of 'Forward' is read by no stage", "remove it, or name it in the stage that should read it"]),
        ["MD0045 a patch embedding naming an input that is not an image"] = new("MD0013",
            Edit(Valid, ("[Shape(\"B,1,28,28\")] Tensor image)", "[Shape(\"B,1,28,28\")] Tensor image, [Shape(\"B,4\")] Tensor side)"),
                ("[PatchEmbedding(PatchSize = 7, Dim = 64)]", "[PatchEmbedding(PatchSize = 7, Dim = 64, {|MD0013:Input = \"side\"|})]")),
            ["side", "[B,4]"]),
        ["MD0047 a head reading a segment the sequence does not have"] = new("MD0047",
            Edit(Valid, (Encoder, Readout + "\n" + Encoder), ("Classes = 10", "Classes = 10, {|MD0047:Reads = \"Readuot\"|}")),
            ["'Head' has Reads = \"Readuot\", which names no segment of it", "Cls [0] | Patches [1..16] | Readout [17..18]"]),
        ["MD0048 a stage named like the generated Summary"] = new("MD0048",
            Edit(Valid, (Encoder, Readout.Replace("Readout", "{|MD0048:Summary|}") + "\n" + Encoder)),
            ["'Summary' is also the name of the static shape table (Summary) the generated class declares; rename 'Summary'"]),
        ["MD0050 a record model"] = new("MD0050",
            Edit(Valid, ("public partial class Vit\n", "public partial record {|MD0050:Vit|}\n")),
            ["'Vit' is a record; a [Model] is a partial class"]),
        ["MD0051 a static stage property"] = new("MD0051",
            Edit(Valid, ("    public partial Parameter Cls { get; }", "    public static partial Parameter {|MD0051:Cls|} { get; }")),
            ["Stage 'Cls' is static", "declare it 'partial Parameter Cls { get; }'"]),
        ["MD0051 a stage property with a setter"] = new("MD0051",
            Edit(Valid, ("    public partial Parameter Cls { get; }", "    public partial Parameter {|MD0051:Cls|} { get; set; }")),
            ["Stage 'Cls' is declared with { get; set; }"]),
        ["MD0051 a stage property with init"] = new("MD0051",
            Edit(Valid, ("    public partial Parameter Cls { get; }", "    public partial Parameter {|MD0051:Cls|} { get; init; }")),
            ["Stage 'Cls' is declared with { get; init; }"]),
        ["MD0008 a patch width of 0 is reported once, not as heads that do not divide it"] = new("MD0008",
            Edit(Valid, ("[PatchEmbedding(PatchSize = 7, Dim = 64)]", "[PatchEmbedding(PatchSize = 7, {|MD0008:Dim = 0|})]")),
            ["Patches", "Dim"]),
        ["MD0052 a static forward method"] = new("MD0052",
            Edit(Valid, ("public partial VitOutput Forward(", "public static partial VitOutput {|MD0052:Forward|}(")),
            ["'Forward' is static", "declare it 'public partial VitOutput Forward("]),
        ["MD0052 a forward method returning void"] = new("MD0052",
            Edit(Valid, ("public partial VitOutput Forward(", "public partial void {|MD0052:Forward|}(")),
            ["'Forward' returns void"]),
        ["MD0052 a forward method taking params"] = new("MD0052",
            Edit(Valid, ("public partial VitOutput Forward([Shape(\"B,1,28,28\")] Tensor image)", "public partial VitOutput {|MD0052:Forward|}([Shape(\"B,1,28,28\")] params Tensor[] image)")),
            ["'Forward' takes 'params image'"]),
        ["MD0052 a forward input that is not a tensor"] = new("MD0052",
            Edit(Valid, ("public partial VitOutput Forward([Shape(\"B,1,28,28\")] Tensor image)", "public partial VitOutput {|MD0052:Forward|}([Shape(\"B,1,28,28\")] int image)")),
            ["'Forward' takes 'int image', not a Tensor"]),
        ["MD0048 a stage member named as its own registered field"] = new("MD0048",
            Edit(Valid, ("    public partial ClassifierHead Head { get; }", "    public partial ClassifierHead {|MD0048:head|} { get; }")),
            ["'head' is also the name of the field 'head' (the registered name of 'head')"]),
        ["MD0053 nameof of another type's member"] = new("MD0053",
            Edit(Valid, ("[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[CrossEntropyLoss({|MD0053:Of = nameof(Other.Head)|}, LabelSmoothing = 0.1)]")) + "\npublic static class Other { public static int Head => 0; }\n",
            ["'Loss' has Of = nameof(Other.Head), a member of another type", "write nameof(Head)"], Fix: "nameof(Head)"),
        ["MD0054 a declaration over the default parameter budget"] = new("MD0054",
            Edit(Valid, ("[TransformerEncoder(Depth = 2, Heads = 4)]", "[TransformerEncoder(Depth = 100000, Heads = 4)]"), ("public partial class Vit\n", "public partial class {|MD0054:Vit|}\n")),
            ["'Vit' declares 4,998,405,130 parameters", "over its budget of 1,000,000,000 (the default)"]),
        ["MD0055 a declaration over its FLOPs budget"] = new("MD0055",
            Edit(Valid, ("[Model]", "[Model(MaxFlops = 1_000_000)]"), ("public partial class Vit\n", "public partial class {|MD0055:Vit|}\n")),
            ["FLOPs per sample in its forward pass", "over its budget of 1,000,000 ([Model(MaxFlops)])"]),
        ["a token bank chosen by an input the forward method does not have"] = new("MD0012",
            Edit(Valid, ("    [PositionEmbedding]", "    [TokenBank(Banks = 3, Count = 2, {|MD0012:SelectBy = \"domain\"|})]\n    public partial Parameter DomainTokens { get; }\n\n    [PositionEmbedding]")),
            ["DomainTokens", "the forward method has no input 'domain'"]),
        ["a token bank chosen by an input that is not one index per sample"] = new("MD0013",
            Edit(Valid, ("[Shape(\"B,1,28,28\")] Tensor image)", "[Shape(\"B,1,28,28\")] Tensor image, [Shape(\"B,2\")] Tensor domain)"),
                ("    [PositionEmbedding]", "    [TokenBank(Banks = 3, Count = 2, {|MD0013:SelectBy = \"domain\"|})]\n    public partial Parameter DomainTokens { get; }\n\n    [PositionEmbedding]")),
            ["domain", "[B,2]"]),
        ["channel count that differs from the input's"] = new("MD0040",
            ChannelVit(", {|MD0040:Channels = 4|}"),
            ["Patches", "Channels = 4", "image", "3 channels", "[B,3,28,28]"], Fix: "3"),
    };

    public static readonly IReadOnlyDictionary<string, string> Passing = new Dictionary<string, string>
    {
        ["deep prompts into the encoder"] = AfterEncoder("    [DeepPromptTokens(Count = 4, Into = nameof(Encoder))]\n    public partial Parameter Prompts { get; }"),
        ["deep prompts of the encoder's width"] = AfterEncoder("    [DeepPromptTokens(Count = 4, Into = nameof(Encoder), Dim = 64)]\n    public partial Parameter Prompts { get; }"),
        ["query tokens read by the head"] = AfterEncoder("    [QueryTokens(Count = 2, Into = nameof(Encoder), Dim = 64)]\n    public partial Parameter Queries { get; }", ("Classes = 10", Also)),
        ["resampler of another width over the encoder"] = AfterEncoder(
            "    [Resampler(Queries = 4, Heads = 4, Dim = 32, Over = nameof(Encoder))]\n    public partial Resampler Compress { get; }",
            ("Classes = 10", "Classes = 10, Pool = Pool.Avg, Dim = 32")),
        ["MD0040 channel count equal to the input's"] = ChannelVit(", Channels = 3"),
        ["MD0045 the image named by the patch embedding"] = Edit(Valid,
            ("[PatchEmbedding(PatchSize = 7, Dim = 64)]", "[PatchEmbedding(PatchSize = 7, Dim = 64, Input = \"image\")]")),
        ["MD0047 a regression head reading tokens after the patches, next to the CLS head"] = Edit(Valid,
            (Encoder, Readout + "\n" + Encoder),
            ("    [CrossEntropyLoss", "    [RegressionHead(Reads = nameof(Readout), Pool = Pool.Avg, Outputs = 1)]\n    public partial RegressionHead Score { get; }\n\n    [MseLoss(Of = nameof(Score))]\n    public partial MseLoss ScoreLoss { get; }\n\n    [CrossEntropyLoss")),
        ["MD0048 a stage whose name is close to a generated one"] = Edit(Valid, (Encoder, Readout.Replace("Readout", "Summaries") + "\n" + Encoder)),
        ["MD0050 a partial class model"] = Valid,
        ["MD0051 get-only instance stage properties"] = Valid,
        ["MD0052 an instance forward method returning the output record"] = Valid,
        ["MD0053 nameof of this model's member, qualified by its own name"] = Edit(Valid, ("[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[CrossEntropyLoss(Of = nameof(Vit.Head), LabelSmoothing = 0.1)]")),
        ["MD0054 a large declaration with its budget raised"] = Edit(Valid,
            ("[TransformerEncoder(Depth = 2, Heads = 4)]", "[TransformerEncoder(Depth = 100000, Heads = 4)]"), ("[Model]", "[Model(MaxParameters = 10_000_000_000)]")),
        ["MD0055 a declaration within its FLOPs budget"] = Edit(Valid, ("[Model]", "[Model(MaxFlops = 1_000_000_000)]")),
        ["MD0045 a token bank reading its index input"] = Edit(Valid,
            ("[Shape(\"B,1,28,28\")] Tensor image)", "[Shape(\"B,1,28,28\")] Tensor image, [Shape(\"B\")] Tensor domain)"),
            ("    [PositionEmbedding]", "    [TokenBank(Banks = 3, Count = 2, SelectBy = \"domain\")]\n    public partial Parameter DomainTokens { get; }\n\n    [PositionEmbedding]")),
        ["MD0044 deep prompts on the first block only"] = AfterEncoder("    [DeepPromptTokens(Count = 4, Layers = \"0\")]\n    public partial Parameter Prompts { get; }"),
        ["MD0044 deep prompts early and query tokens late"] = AfterEncoder(
            "    [DeepPromptTokens(Count = 4, Into = nameof(Encoder), Layers = \"..0\")]\n    public partial Parameter Early { get; }\n\n" +
            "    [QueryTokens(Count = 2, Into = nameof(Encoder), Layers = \"1..\")]\n    public partial Parameter Queries { get; }", ("Classes = 10", Also)),
        ["MD0042 task head whose name is close to a fixed one"] = Edit(Declarations.TaskVit, ("public partial MaskHead Mask", "public partial MaskHead Normal"), ("nameof(Mask)", "nameof(Normal)")),
        ["MD0040 channel count taken from the input"] = ChannelVit(""),
    };

    public static TheoryData<string> FailingNames => new(Failing.Keys);

    public static TheoryData<string> PassingNames => new(Passing.Keys);

    [Theory]
    [MemberData(nameof(FailingNames))]
    public void Misuse_is_reported_at_the_argument_with_expected_and_actual(string name)
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
}
