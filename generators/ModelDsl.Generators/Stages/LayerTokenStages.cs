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

/// <summary>Tokens with one set per block of the encoder they go into, <c>[Depth,N,D]</c>.</summary>
internal abstract class LayerTokensStage(StageKind kind, string attribute) : StageDefinition(kind, attribute, Parameter)
{
    // Deep prompts and query tokens: one set per block of the encoder they go into.
    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var width = c.Width(index, stage, resolved, "a token sequence [B,N,D]");
        var count = c.PositiveInt(index, stage, "Count", resolved, fallback: 1, "a positive number of tokens per block");
        var encoders = c.Spec.Stages.Where(s => s.Kind == StageKind.TransformerEncoder).ToList();
        if (stage.Get("Into") is null && encoders.Count != 1)
            c.Report(Descriptors.BadReference, DiagnosticTarget.Attribute(index), stage.Member, "Into", "", "is not set", "TransformerEncoder",
                encoders.Count == 0 ? " (the model has none)" : "; set Into = nameof(...)");
        c.CheckReference(index, stage, "Into", StageKind.TransformerEncoder);
        var depth = c.EncoderDepth(stage);
        resolved.Add(new("Depth", depth.ToString(CultureInfo.InvariantCulture)));
        c.noWeightDecay.Add(RegisteredName(stage));
        return Shape.Of(Dim.Constant(depth), Dim.Constant(count), Dim.Constant(width));
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Own(Registered(stage), stage.Int("Depth"), stage.Int("Count"), stage.Int("Dim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [OwnParameter(Registered(stage), $"{Blocks}.Tokens.CreateLayered(depth: {stage.Int("Depth")}, count: {stage.Int("Count")}, dim: {stage.Int("Dim")})")];
}

/// <summary><c>[DeepPromptTokens]</c> (VPT-deep): prompts inserted before the first block and replaced before each next one.</summary>
internal sealed class DeepPromptTokensStage() : LayerTokensStage(StageKind.DeepPromptTokens, "DeepPromptTokens");

/// <summary><c>[QueryTokens]</c> (VQT): per-block query-only tokens whose outputs a head can read.</summary>
internal sealed class QueryTokensStage() : LayerTokensStage(StageKind.QueryTokens, "QueryTokens");
