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

/// <summary>
/// Tokens with one set per block of the encoder they go into (of the blocks in <c>Layers</c>, all by default),
/// <c>[L,N,D]</c>; each kind is an encoder hook.
/// </summary>
internal abstract class LayerTokensStage(StageKind kind, string attribute) : StageDefinition(kind, attribute, Parameter)
{
    // No matrix products: the encoder's row counts the blocks' work on these tokens.
    public override (long Flops, long Plain)? Flops(ModelDsl.Generators.FrontEnd.ModelCompiler.CompileContext c, GraphStage stage) => (0, 0);

    public override bool IsEncoderHook => true;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var width = c.Width(index, stage, resolved, "a token sequence [B,N,D]");
        var count = c.PositiveInt(index, stage, "Count", resolved, fallback: 1, "a positive number of tokens per block");
        var encoders = c.Spec.Stages.Where(s => s.Kind == StageKind.TransformerEncoder).ToList();
        if (stage.Get("Into") is null && encoders.Count != 1)
            c.Report(Descriptors.BadReference, DiagnosticTarget.Attribute(index), stage.Member, "Into", "", "is not set", "TransformerEncoder",
                encoders.Count == 0 ? " (the model has none)" : "; set Into = nameof(...)");
        c.CheckReference(index, stage, "Into", StageKind.TransformerEncoder);
        var (first, layers) = c.LayerRange(index, stage, report: true);
        resolved.Add(new("FirstLayer", first.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("LayerCount", layers.ToString(CultureInfo.InvariantCulture)));
        c.noWeightDecay.Add(RegisteredName(stage));
        return Shape.Of(Dim.Constant(layers), Dim.Constant(count), Dim.Constant(width));
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Own(Registered(stage), stage.Int("LayerCount"), stage.Int("Count"), stage.Int("Dim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [OwnParameter(Registered(stage), $"{Blocks}.Tokens.CreateLayered(depth: {stage.Int("LayerCount")}, count: {stage.Int("Count")}, dim: {stage.Int("Dim")})")];

    public override IEnumerable<string>? PyTorchMembers(GraphStage stage) =>
        [$"self.{Registered(stage)} = layers.layered_tokens(depth={stage.Int("LayerCount")}, count={stage.Int("Count")}, dim={stage.Int("Dim")})"];
}

/// <summary><c>[DeepPromptTokens]</c> (VPT-deep): prompts inserted before the first block of the range and replaced before each next one.</summary>
internal sealed class DeepPromptTokensStage() : LayerTokensStage(StageKind.DeepPromptTokens, "DeepPromptTokens")
{
    public override bool AddsTokens => true;

    public override int TokensAdded(StageSpec stage) => ParseInt(stage.Get("Count")) is > 0 and var count ? count : 0;

    // The offset is the encoder's: after the prefix tokens and any prompts placed before these.
    public override string HookExpression(GraphStage stage, GraphStage encoder) =>
        $"new {Blocks}.DeepPrompts({Registered(stage)}, firstLayer: {stage.Int("FirstLayer")}, offset: {encoder.Int("Offset." + stage.Member)})";

    public override bool HasPyTorchHook => true;

    public override string? PyTorchHookExpression(GraphStage stage, GraphStage encoder) =>
        $"layers.DeepPrompts(self.{Registered(stage)}, first_layer={stage.Int("FirstLayer")}, offset={encoder.Int("Offset." + stage.Member)})";
}

/// <summary><c>[QueryTokens]</c> (VQT): per-block query-only tokens whose outputs a head can read.</summary>
internal sealed class QueryTokensStage() : LayerTokensStage(StageKind.QueryTokens, "QueryTokens")
{
    public override string HookExpression(GraphStage stage, GraphStage encoder) =>
        $"new {Blocks}.LayerQueries({Registered(stage)}, firstLayer: {stage.Int("FirstLayer")})";

    public override bool HasHookOutputs => true;

    public override bool HasPyTorchHook => true;

    public override string? PyTorchHookExpression(GraphStage stage, GraphStage encoder) =>
        $"layers.LayerQueries(self.{Registered(stage)}, first_layer={stage.Int("FirstLayer")})";

    public override void AfterEncoder(ForwardWriter f, GraphStage stage)
    {
        var shape = $"[{f.Batch},{stage.Int("LayerCount")},{stage.Int("Count")},{stage.Int("Dim")}]";
        f.Line($"var {Outputs(stage.Member)} = {Camel(stage.Member)}Hook.Outputs;", shape);
        f.Py($"{Outputs(stage.Member)} = {Camel(stage.Member)}Hook.outputs()", shape);
    }

    /// <summary>The local that holds the query outputs of the stage <paramref name="member"/> after the encoder.</summary>
    internal static string Outputs(string member) => Camel(member) + "Outputs";
}

public readonly partial record struct StageKind
{
    public static readonly StageKind DeepPromptTokens = new(nameof(DeepPromptTokens));
    public static readonly StageKind QueryTokens = new(nameof(QueryTokens));
}
