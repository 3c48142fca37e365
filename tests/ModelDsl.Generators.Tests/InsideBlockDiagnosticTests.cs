using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Tests.Infrastructure;
using static ModelDsl.Generators.Tests.DiagnosticTests;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// Misuse of the stages that act inside an encoder's blocks (routing, merging, pruning) is a compile-time diagnostic
/// at the argument that causes it; each rule also has a passing declaration. The declaration is DiagnosticTests.Valid:
/// 16 patches and a CLS token (17 tokens, 1 prefix) into a 2-block encoder.
/// </summary>
public class InsideBlockDiagnosticTests
{
    private const string Encoder = "    [TransformerEncoder(Depth = 2, Heads = 4)]\n    public partial TransformerEncoder Encoder { get; }\n";

    private const string Readout = "    [Tokens(Count = 2, Place = Place.AfterContent)]\n    public partial Parameter Readout { get; }\n";

    private const string Cls = "    [ClsToken]\n    public partial Parameter Cls { get; }\n\n";

    private static string AfterEncoder(string members, params (string From, string To)[] edits) =>
        Edit(Valid, [(Encoder, Encoder + "\n" + members + "\n"), .. edits]);

    private static string Merging(string arguments) => $"    [TokenMerging({arguments})]\n    public partial TokenMerging Merging {{ get; }}\n";

    private static string Pruning(string arguments) => $"    [TokenPruning({arguments})]\n    public partial TokenPruning Pruning {{ get; }}\n";

    private static string Routing(string arguments) => $"    [DepthRouting({arguments})]\n    public partial DepthRouters Routers {{ get; }}\n";

    // A score head reading the readout tokens next to the CLS head.
    private static readonly (string, string) ScoreHead = ("    [CrossEntropyLoss",
        "    [RegressionHead({|MD0073:Reads = nameof(Readout)|}, Pool = Pool.Avg, Outputs = 1)]\n    public partial RegressionHead Score { get; }\n\n    [MseLoss(Of = nameof(Score))]\n    public partial MseLoss ScoreLoss { get; }\n\n    [CrossEntropyLoss");

    private static string TokenFormer(string arguments) =>
        Edit(Valid, (Encoder, $"    [TokenFormerEncoder(Depth = 2, Heads = 4, {arguments})]\n    public partial TokenFormerEncoder Encoder {{ get; }}\n"));

    public static readonly IReadOnlyDictionary<string, Case> Failing = new Dictionary<string, Case>
    {
        ["MD0078 routing in a causal encoder"] = new("MD0078",
            AfterEncoder(Routing("Capacity = 0.5").Replace("DepthRouters Routers", "DepthRouters {|MD0078:Routers|}"), ("Depth = 2, Heads = 4)]", "Depth = 2, Heads = 4, Causal = true)]")),
            ["'Routers' routes tokens inside 'Encoder', which has Causal = true"]),
        ["MD0077 growing to fewer parameter tokens"] = new("MD0077",
            TokenFormer("Tokens = 32, {|MD0077:GrownFrom = 64|}"),
            ["'Encoder' has GrownFrom = 64 with Tokens = 32 (FfnTokens = 128): growing to fewer tokens than the model it grows from"]),
        ["MD0077 growing MLPs from a fractional token count"] = new("MD0077",
            TokenFormer("Tokens = 32, FfnTokens = 100, {|MD0077:GrownFrom = 20|}"),
            ["the MLPs would grow from 100 * 20 / 32 tokens, which is not a whole number"]),
        ["MD0008 a TokenFormer without parameter tokens"] = new("MD0008",
            TokenFormer("{|MD0008:Tokens = 0|}"),
            ["Encoder", "Tokens", "0"]),
        ["MD0070 routing capacity above 1"] = new("MD0070",
            AfterEncoder(Routing("{|MD0070:Capacity = 1.5|}")),
            ["'Routers' has Capacity = 1.5", "must lie in (0, 1]"]),
        ["MD0070 routing capacity 0"] = new("MD0070",
            AfterEncoder(Routing("{|MD0070:Capacity = 0|}, Into = nameof(Encoder)")),
            ["'Routers' has Capacity = 0"]),
        ["MD0071 pruning keep rate 0"] = new("MD0071",
            AfterEncoder(Pruning("{|MD0071:KeepRate = 0|}")),
            ["'Pruning' has KeepRate = 0", "must lie in (0, 1]"]),
        ["MD0071 pruning keep rate above 1"] = new("MD0071",
            AfterEncoder(Pruning("{|MD0071:KeepRate = 1.2|}, Layers = \"1\"")),
            ["'Pruning' has KeepRate = 1.2"]),
        ["MD0072 merging more tokens than the second block has"] = new("MD0072",
            AfterEncoder(Merging("{|MD0072:R = 6|}")),
            ["'Merging' merges R = 6 tokens per block, but block 1 gets 11 tokens (10 after the 1 prefix tokens), of which at most half (5) can merge", "R = 5 fits every block"],
            Fix: "5"),
        ["MD0073 a head reading tokens that pruning removed"] = new("MD0073",
            Edit(Valid, (Encoder, Readout + "\n" + Encoder + "\n" + Pruning("KeepRate = 0.5") + "\n"), ScoreHead),
            ["'Score' has Reads = \"Readout\", but 'Pruning' prunes tokens inside 'Encoder'", "Cls [0] | Patches [1..6]"]),
        ["MD0074 pruning in a block where merging keeps acting"] = new("MD0074",
            AfterEncoder(Merging("R = 2, Layers = \"0\"") + "\n" + Pruning("KeepRate = 0.5, {|MD0074:Layers = \"1\"|}")),
            ["'Pruning' acts inside block 1 of 'Encoder', and so does 'Merging' (merging acts in every block after its first", "at most one stage may route, merge or prune in a block"]),
        ["MD0074 routing and pruning in the same block"] = new("MD0074",
            AfterEncoder(Routing("Capacity = 0.5") + "\n" + Pruning("KeepRate = 0.5").Replace("[TokenPruning(KeepRate = 0.5)]", "[{|MD0074:TokenPruning(KeepRate = 0.5)|}]")),
            ["'Pruning' acts inside block 0 of 'Encoder', and so does 'Routers';"]),
        ["MD0075 pruning without a class token"] = new("MD0075",
            AfterEncoder(Pruning("KeepRate = 0.5").Replace("Pruning Pruning", "Pruning {|MD0075:Pruning|}"), (Cls, ""), ("Classes = 10", "Classes = 10, Pool = Pool.Avg")),
            ["'Pruning' ranks tokens by the class token's attention, but the sequence entering 'Encoder' has no prefix token"]),
        ["MD0076 merging where deep prompts are replaced"] = new("MD0076",
            AfterEncoder("    [DeepPromptTokens(Count = 2, Layers = \"0..1\")]\n    public partial Parameter Prompts { get; }\n\n" + Merging("R = 2, {|MD0076:Layers = \"1\"|}")),
            ["'Merging' merges tokens inside 'Encoder' from block 1, but 'Prompts' replaces its prompts at fixed places in blocks 0..1"]),
        ["MD0044 pruning after the last block"] = new("MD0044",
            AfterEncoder(Pruning("KeepRate = 0.5, {|MD0044:Layers = \"2\"|}")),
            ["'Pruning' has Layers = \"2\"", "'Encoder' has Depth = 2 (blocks 0..1)"]),
        ["MD0012 merging declared before its encoder"] = new("MD0012",
            Edit(Valid, (Encoder, Merging("R = 2").Replace("TokenMerging Merging", "TokenMerging {|MD0012:Merging|}") + "\n" + Encoder)),
            ["'Merging' needs its encoder 'Encoder' before it, but 'Encoder' is declared after it"]),
        ["MD0008 merging a negative number of tokens"] = new("MD0008",
            AfterEncoder(Merging("{|MD0008:R = -1|}")),
            ["Merging", "R", "-1"]),
        ["MD0008 routing every 0th block"] = new("MD0008",
            AfterEncoder(Routing("Capacity = 0.5, {|MD0008:Every = 0|}")),
            ["Routers", "Every", "0"]),
    };

    public static readonly IReadOnlyDictionary<string, string> Passing = new Dictionary<string, string>
    {
        ["MD0078 merging in a bidirectional encoder"] = AfterEncoder(Merging("R = 2"), ("Depth = 2, Heads = 4)]", "Depth = 2, Heads = 4, Causal = false)]")),
        ["MD0077 a TokenFormer grown from half its tokens"] = TokenFormer("Tokens = 64, GrownFrom = 32"),
        ["MD0077 a TokenFormer trained from scratch"] = TokenFormer("Tokens = 16, FfnTokens = 48"),
        ["MD0070 routing half the tokens through alternate blocks"] = AfterEncoder(Routing("Capacity = 0.5, Every = 2")),
        ["MD0070 routing every token"] = AfterEncoder(Routing("Capacity = 1, Into = nameof(Encoder), Layers = \"1\"")),
        ["MD0071 pruning at EViT's keep rate"] = AfterEncoder(Pruning("KeepRate = 0.7, Layers = \"1\"")),
        ["MD0071 pruning with keep rate 1"] = AfterEncoder(Pruning("KeepRate = 1, Fuse = false")),
        ["MD0072 merging as many tokens as fit"] = AfterEncoder(Merging("R = 5")),
        ["MD0072 merging nothing"] = AfterEncoder(Merging("R = 0")),
        ["MD0073 a head reading the class token after merging"] = Edit(Valid, (Encoder, Readout + "\n" + Encoder + "\n" + Merging("R = 4") + "\n"),
            (ScoreHead.Item1, ScoreHead.Item2.Replace("{|MD0073:Reads = nameof(Readout)|}", "Reads = nameof(Cls)"))),
        ["MD0074 merging without proportional attention, then pruning"] = AfterEncoder(Merging("R = 2, Layers = \"0\", ProportionalAttention = false") + "\n" + Pruning("KeepRate = 0.5, Layers = \"1\"")),
        ["MD0074 routing and merging in different blocks"] = AfterEncoder(Routing("Capacity = 0.5, Layers = \"0\"") + "\n" + Merging("R = 3, Layers = \"1\"")),
        ["MD0075 pruning with a class token"] = AfterEncoder(Pruning("KeepRate = 0.5")),
        ["MD0076 merging after the deep prompts' blocks"] = AfterEncoder("    [DeepPromptTokens(Count = 2, Layers = \"0\")]\n    public partial Parameter Prompts { get; }\n\n" + Merging("R = 2, Layers = \"1\"")),
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
