using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Emit;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using static ModelDsl.Generators.Emit.EmitText;
using static ModelDsl.Generators.FrontEnd.ModelCompiler;
using static ModelDsl.Generators.FrontEnd.ModelCompiler.CompileContext;

namespace ModelDsl.Generators.Stages;

/// <summary><c>[ClsToken]</c>: timm's <c>cls_token</c> <c>[1,1,D]</c>, first in the sequence.</summary>
internal sealed class ClsTokenStage() : StageDefinition(StageKind.ClsToken, "ClsToken", Parameter, "cls_token")
{
    // No matrix products: its tokens are placed, added or read, and the blocks' FLOPs count them.
    public override (long Flops, long Plain)? Flops(ModelDsl.Generators.FrontEnd.ModelCompiler.CompileContext c, GraphStage stage) => (0, 0);

    public override (Placement Place, int Rank)? PlacedTokens(StageSpec stage) => (Placement.Prefix, 0);

    public override int PlacedCount(StageSpec stage) => 1;

    public override bool IsSequenceStart(StageSpec stage) => true;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved) => InferPrefixTokens(c, index, stage, resolved, count: 1);

    // Both kinds: tokens in front of the patches; they join right after the patch embedding.
    internal static Shape? InferPrefixTokens(CompileContext c, int index, StageSpec stage, List<Argument> resolved, int count)
    {
        c.RequireEmbeddingGroup(index, stage);
        var width = c.Width(index, stage, resolved, "a token sequence [B,N,D]");
        if (stage.Kind == StageKind.ClsToken) resolved.Add(new("Count", "1"));
        c.noWeightDecay.Add(StageDefinitions.Of(stage.Kind).RegisteredName(stage));
        if (c.sequence is null)
            return null;
        c.prefixTokens += count;
        c.AddPrefix(stage.Member, count, rank: StageDefinitions.Of(stage.Kind).PlacedTokens(stage)!.Value.Rank);
        c.SetSequence(c.sequence.With(1, c.sequence[1] + Dim.Constant(count)), stage.Member);
        return c.sequence;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Own(Registered(stage), 1, stage.Int("Count"), stage.Int("Dim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [OwnParameter(Registered(stage), $"{Blocks}.Tokens.Create(count: {stage.Int("Count")}, dim: {stage.Int("Dim")})")];

    public override IEnumerable<string>? PyTorchMembers(GraphStage stage) =>
        [$"self.{Registered(stage)} = layers.tokens(count={stage.Int("Count")}, dim={stage.Int("Dim")})"];
}

/// <summary><c>[RegisterTokens]</c>: timm's <c>reg_token</c> <c>[1,R,D]</c>, after the CLS token.</summary>
internal sealed class RegisterTokensStage() : StageDefinition(StageKind.RegisterTokens, "RegisterTokens", Parameter, "reg_token")
{
    // No matrix products: its tokens are placed, added or read, and the blocks' FLOPs count them.
    public override (long Flops, long Plain)? Flops(ModelDsl.Generators.FrontEnd.ModelCompiler.CompileContext c, GraphStage stage) => (0, 0);

    public override (Placement Place, int Rank)? PlacedTokens(StageSpec stage) => (Placement.Prefix, 1);

    public override int PlacedCount(StageSpec stage) => ParseInt(stage.Get("Count")) is > 0 and var count ? count : 0;

    public override bool IsSequenceStart(StageSpec stage) => true;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved) =>
        ClsTokenStage.InferPrefixTokens(c, index, stage, resolved, count: c.PositiveInt(index, stage, "Count", resolved, fallback: 1, "a positive number of register tokens"));

    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Own(Registered(stage), 1, stage.Int("Count"), stage.Int("Dim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [OwnParameter(Registered(stage), $"{Blocks}.Tokens.Create(count: {stage.Int("Count")}, dim: {stage.Int("Dim")})")];

    public override IEnumerable<string>? PyTorchMembers(GraphStage stage) =>
        [$"self.{Registered(stage)} = layers.tokens(count={stage.Int("Count")}, dim={stage.Int("Dim")})"];
}

/// <summary><c>[PositionEmbedding]</c>: timm's learned <c>pos_embed</c> <c>[1,L,D]</c> over the patches and, by default, the prefix tokens.</summary>
internal sealed class PositionEmbeddingStage() : StageDefinition(StageKind.PositionEmbedding, "PositionEmbedding", Parameter, "pos_embed")
{
    // No matrix products: its tokens are placed, added or read, and the blocks' FLOPs count them.
    public override (long Flops, long Plain)? Flops(ModelDsl.Generators.FrontEnd.ModelCompiler.CompileContext c, GraphStage stage) => (0, 0);

    public override bool IsSequenceStart(StageSpec stage) => true;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        c.RequireEmbeddingGroup(index, stage);
        var width = c.Width(index, stage, resolved, "a token sequence [B,N,D]");
        var covers = stage.Get("Covers") ?? "PrefixAndPatches";
        if (covers is not ("PrefixAndPatches" or "PatchesOnly" or "All"))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Covers"), stage.Member, "Covers", covers, "PositionCoverage.PrefixAndPatches, PositionCoverage.PatchesOnly or PositionCoverage.All");
            covers = "PrefixAndPatches";
        }
        resolved.Add(new("Covers", covers));
        // timm: the table covers every prefix token unless no_embed_class; prefix tokens may be declared later.
        // In long: register counts near int.MaxValue must reach DerivedSize's check, not overflow here.
        var prefix = c.Spec.Stages.Sum(s => StageDefinitions.Of(s.Kind).PlacedTokens(s) is { } placed
            && (placed.Place == Placement.Prefix ? covers != "PatchesOnly" : covers == "All") ? (long)StageDefinitions.Of(s.Kind).PlacedCount(s) : 0L);
        var length = c.patchTokens + Dim.Constant(prefix);
        if (length.Value is not long rows)
        {
            resolved.Add(new("Length", "1"));
            return c.sequence;
        }
        rows = c.DerivedSize(index, stage, "Length", rows, resolved, "position table rows");
        c.noWeightDecay.Add(RegisteredName(stage));
        return c.sequence;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Own(Registered(stage), 1, stage.Int("Length"), stage.Int("Dim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [OwnParameter(Registered(stage), $"{Blocks}.Tokens.CreatePositions(length: {stage.Int("Length")}, dim: {stage.Int("Dim")})")];

    public override IEnumerable<string>? PyTorchMembers(GraphStage stage) =>
        [$"self.{Registered(stage)} = layers.tokens(count={stage.Int("Length")}, dim={stage.Int("Dim")})"];
}

public readonly partial record struct StageKind
{
    public static readonly StageKind ClsToken = new(nameof(ClsToken));
    public static readonly StageKind RegisterTokens = new(nameof(RegisterTokens));
    public static readonly StageKind PositionEmbedding = new(nameof(PositionEmbedding));
}
