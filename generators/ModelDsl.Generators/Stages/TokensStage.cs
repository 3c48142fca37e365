using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using static ModelDsl.Generators.Emit.EmitText;
using static ModelDsl.Generators.FrontEnd.ModelCompiler;

namespace ModelDsl.Generators.Stages;

/// <summary>
/// <c>[Tokens(Count, Place)]</c>: learnable tokens <c>[1,Count,D]</c> placed in the sequence, in front of the content
/// (after CLS and registers) or after it; a segment of the layout that heads read by name.
/// </summary>
internal sealed class TokensStage() : StageDefinition(StageKind.Tokens, "Tokens", Parameter)
{
    // No matrix products: its tokens are placed, added or read, and the blocks' FLOPs count them.
    public override (long Flops, long Plain)? Flops(ModelDsl.Generators.FrontEnd.ModelCompiler.CompileContext c, GraphStage stage) => (0, 0);

    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    public override bool IsSequenceStart(StageSpec stage) => true;

    public override (Placement Place, int Rank)? PlacedTokens(StageSpec stage) => (Placed(stage) == "AfterContent" ? Placement.AfterContent : Placement.Prefix, 2);

    public override int PlacedCount(StageSpec stage) => ParseInt(stage.Get("Count")) is > 0 and var count ? count : 0;

    /// <summary>Where the tokens go: <c>Prefix</c> or <c>AfterContent</c>.</summary>
    internal static string Placed(StageSpec stage) => stage.Get("Place") ?? "Prefix";

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var place = Placed(stage);
        if (place is not ("Prefix" or "AfterContent"))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Place"), stage.Member, "Place", place, "Place.Prefix or Place.AfterContent");
            place = "Prefix";
        }
        resolved.Add(new("Place", place));
        var count = c.PositiveInt(index, stage, "Count", resolved, fallback: 1, "a positive number of tokens");
        c.RequireEmbeddingGroup(index, stage);
        c.Width(index, stage, resolved, "a token sequence [B,N,D]");
        c.noWeightDecay.Add(RegisteredName(stage));
        if (c.sequence is null)
            return null;
        if (place == "Prefix")
        {
            c.prefixTokens += count;
            c.AddPrefix(stage.Member, count, rank: 2);
        }
        else
            c.AddAfter(stage.Member, count);
        c.SetSequence(c.sequence.With(1, c.sequence[1] + Dim.Constant(count)), stage.Member);
        return c.sequence;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Own(Registered(stage), 1, stage.Int("Count"), stage.Int("Dim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [OwnParameter(Registered(stage), $"{Blocks}.Tokens.Create(count: {stage.Int("Count")}, dim: {stage.Int("Dim")})")];
}

public readonly partial record struct StageKind
{
    public static readonly StageKind Tokens = new(nameof(Tokens));
}
