using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Emit;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using static ModelDsl.Generators.Emit.EmitText;
using static ModelDsl.Generators.FrontEnd.ModelCompiler;

namespace ModelDsl.Generators.Stages;

/// <summary>What the declared regularisers share: a weight, no state (a plain field), a weighted term of the objective logged under the member's snake_case name.</summary>
internal abstract class RegularizerStage(StageKind kind, string attribute, string memberType) : StageDefinition(kind, attribute, memberType)
{
    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    public override bool IsHeadPart => true;

    public override bool AddsToObjective => true;

    protected static void ReadWeight(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var weight = stage.Get("Weight") is { } w ? ParseDouble(w) ?? 1 : 1;
        if (!(weight >= 0) || double.IsInfinity(weight))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Weight"), stage.Member, "Weight", Format(weight), "a non-negative, finite weight");
            weight = 1;
        }
        resolved.Add(new("Weight", Format(weight)));
    }

    // No state: a field, not a registered module.
    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [new StageMember(Registered(stage), MemberType, $"new {MemberType}()", MemberRole.Field)];

    /// <summary>The regulariser's value, as an expression of the step's <c>output</c> and the model's fields.</summary>
    protected abstract string Value(GraphStage stage);

    public override (string Metric, string Local) WriteObjectiveTerm(CodeWriter w, GraphStage stage)
    {
        var local = Camel(stage.Member) + "Value";
        var weight = stage.Double("Weight");
        w.Line($"var {local} = {Value(stage)};");
        w.Line($"objective = objective + {local}{(weight == 1.0 ? "" : " * " + Number(weight))};");
        return (StageCatalog.SnakeCase(stage.Member), local);
    }
}

/// <summary><c>[OrthogonalityPenalty(Set, Other = ...)]</c>: the mean squared cosine between two learnable token sets (or within one).</summary>
internal sealed class OrthogonalityPenaltyStage() : RegularizerStage(StageKind.OrthogonalityPenalty, "OrthogonalityPenalty", "global::ModelDsl.Blocks.OrthogonalityPenalty")
{
    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        ReadWeight(c, index, stage, resolved);
        if (TokenSet(c, index, stage, "Set") is not { } set)
            return null;
        resolved.Add(new("SetField", set.Field));
        if (stage.Get("Other") is null)
        {
            var vectors = set.Shape.Take(set.Shape.Length - 1).Aggregate(1L, (a, b) => a * b);
            if (vectors < 2)
            {
                c.Report(Descriptors.NotATokenSet, DiagnosticTarget.Attribute(index, "Set"), stage.Member, "Set", stage.Get("Set")!,
                    $"has a single vector ({ParameterTable.Format(set.Shape)}), so it has no pairs to keep apart; name a second set with Other");
                return null;
            }
            return Shape.Of();
        }
        if (TokenSet(c, index, stage, "Other") is not { } other)
            return null;
        if (other.Shape[other.Shape.Length - 1] != set.Shape[set.Shape.Length - 1])
        {
            c.Report(Descriptors.TokenSetWidthMismatch, DiagnosticTarget.Attribute(index, "Other"), stage.Member, stage.Get("Other")!, ParameterTable.Format(other.Shape),
                stage.Get("Set")!, ParameterTable.Format(set.Shape));
            return null;
        }
        resolved.Add(new("OtherField", other.Field));
        return Shape.Of();
    }

    // A stage that owns its vectors as one parameter of the model (tokens, a bank, task tokens, a codebook), built before this one.
    private static (string Field, long[] Shape)? TokenSet(CompileContext c, int index, StageSpec stage, string argument)
    {
        var name = stage.Get(argument) ?? "";
        var built = c.stages.FirstOrDefault(s => s.Member == name && !s.Broken && s.Output != "?");
        var definition = built is null ? null : StageDefinitions.Of(built.Kind);
        if (built is not null && definition!.MemberType == "global::TorchSharp.Modules.Parameter")
        {
            var layout = ParameterLayout.Listing();
            definition.Parameters(built, layout);
            if (layout.Table.Count == 1)
                return (definition.RegisteredName(built.Spec), layout.Table[0].Shape);
        }
        var problem = c.Spec.Stages.FirstOrDefault(s => s.Member == name) is { } named
            ? $"is a [{StageDefinitions.Of(named.Kind).ShortName}] stage{(built is null && named.Kind != StageKind.OrthogonalityPenalty ? " declared after it, or one with errors" : ", not a set of learnable vectors")}"
            : "names no stage of the model";
        c.Report(Descriptors.NotATokenSet, DiagnosticTarget.Attribute(index, argument), stage.Member, argument, name,
            problem + "; name a stage declared before it that owns its vectors ([Tokens], [TokenBank], [TaskTokens], [RegisterTokens], [Codebook], ...)");
        return null;
    }

    protected override string Value(GraphStage stage) =>
        $"{Registered(stage)}.Compute(this.{stage.Text("SetField")}{(stage.Resolved.Any(a => a.Name == "OtherField") ? ", this." + stage.Text("OtherField") : "")})";
}

/// <summary><c>[CodeUsageRegularizer(Query)]</c>: <c>log K - H</c> of a codebook query's mean code weights over the batch.</summary>
internal sealed class CodeUsageRegularizerStage() : RegularizerStage(StageKind.CodeUsageRegularizer, "CodeUsageRegularizer", "global::ModelDsl.Blocks.CodeUsageRegularizer")
{
    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        ReadWeight(c, index, stage, resolved);
        c.CheckReference(index, stage, "Query", StageKind.CodebookQuery);
        var query = stage.Get("Query") ?? "";
        if (!c.Spec.Stages.Any(s => s.Member == query && s.Kind == StageKind.CodebookQuery)
            || !c.outputs.Any(o => o.Name == CodebookQueryStage.WeightsOutput(query)))
            return null;
        resolved.Add(new("Weights", CodebookQueryStage.WeightsOutput(query)));
        return Shape.Of();
    }

    protected override string Value(GraphStage stage) => $"{Registered(stage)}.Compute(output.{stage.Text("Weights")})";
}

public readonly partial record struct StageKind
{
    public static readonly StageKind OrthogonalityPenalty = new(nameof(OrthogonalityPenalty));
    public static readonly StageKind CodeUsageRegularizer = new(nameof(CodeUsageRegularizer));
}
