using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using static ModelDsl.Generators.Emit.EmitText;
using static ModelDsl.Generators.FrontEnd.ModelCompiler;

namespace ModelDsl.Generators.Stages;

/// <summary>
/// <c>[TokenBank(Banks, Count, SelectBy)]</c>: <c>Banks</c> sets of <c>Count</c> learnable tokens, one chosen per sample by
/// an integer forward input <c>[B]</c>, placed in front of the content or after it like <c>[Tokens]</c>.
/// </summary>
internal sealed class TokenBankStage() : StageDefinition(StageKind.TokenBank, "TokenBank", Parameter)
{
    // No matrix products: its tokens are placed, added or read, and the blocks' FLOPs count them.
    public override (long Flops, long Plain)? Flops(ModelDsl.Generators.FrontEnd.ModelCompiler.CompileContext c, GraphStage stage) => (0, 0);

    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    public override bool IsSequenceStart(StageSpec stage) => true;

    public override (Placement Place, int Rank)? PlacedTokens(StageSpec stage) =>
        (stage.Get("Place") == "AfterContent" ? Placement.AfterContent : Placement.Prefix, 2);

    public override int PlacedCount(StageSpec stage) => ParseInt(stage.Get("Count")) is > 0 and var count ? count : 0;

    // Sample b gets the set SelectBy[b]: [Banks,Count,D] -> [B,Count,D].
    public override string PlacedExpression(GraphStage stage) => $"{Registered(stage)}.index_select(0, {stage.Text("SelectBy")})";

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var place = stage.Get("Place") ?? "Prefix";
        if (place is not ("Prefix" or "AfterContent"))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Place"), stage.Member, "Place", place, "Place.Prefix or Place.AfterContent");
            place = "Prefix";
        }
        resolved.Add(new("Place", place));
        var banks = c.PositiveInt(index, stage, "Banks", resolved, fallback: 1, "a positive number of token sets");
        var count = c.PositiveInt(index, stage, "Count", resolved, fallback: 1, "a positive number of tokens per set");
        c.RequireEmbeddingGroup(index, stage);
        c.Width(index, stage, resolved, "a token sequence [B,N,D]");
        c.noWeightDecay.Add(RegisteredName(stage));

        // The input that chooses: one index per sample.
        var selectBy = stage.Get("SelectBy");
        var input = c.parsedInputs.FirstOrDefault(i => i.Name == selectBy);
        if (selectBy is null || input.Shape is null)
        {
            c.broken.Add(index);
            c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index, selectBy is null ? null : "SelectBy"), stage.Member,
                "a forward input [B] of set indices named by SelectBy", selectBy is null ? "SelectBy is not set" : $"the forward method has no input '{selectBy}'");
            return null;
        }
        if (input.Shape.Rank != 1 || !input.Shape[0].Equals(c.batch))
        {
            c.broken.Add(index);
            c.Report(Descriptors.InputRankMismatch, DiagnosticTarget.Attribute(index, "SelectBy"), stage.Member, input.Name, $"one set index per sample [{c.batch.Text}]", input.Shape.Text);
            return null;
        }
        c.MarkRead(input.Name, "Int64");
        resolved.Add(new("SelectBy", input.Name));
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

    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Own(Registered(stage), stage.Int("Banks"), stage.Int("Count"), stage.Int("Dim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [OwnParameter(Registered(stage), $"{Blocks}.Tokens.CreateLayered(depth: {stage.Int("Banks")}, count: {stage.Int("Count")}, dim: {stage.Int("Dim")})")];
}

public readonly partial record struct StageKind
{
    public static readonly StageKind TokenBank = new(nameof(TokenBank));
}
