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

/// <summary><c>[Resampler]</c>: learned latent queries cross-attend over a token sequence, <c>[B,K,D]</c> (Perceiver resampler).</summary>
internal sealed class ResamplerStage() : StageDefinition(StageKind.Resampler, "Resampler", "global::ModelDsl.Blocks.Resampler")
{
    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var (source, sourceName) = c.ReadOver(index, stage);
        if (source is null)
        {
            c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "a token sequence [B,N,D] to read", "no stage before it produces one");
            resolved.Add(new("SourceDim", "1"));
            resolved.Add(new("Dim", "1"));
            resolved.Add(new("Source", ""));
            // The emitted constructor reads these too.
            resolved.Add(new("Queries", "1"));
            resolved.Add(new("Depth", "1"));
            resolved.Add(new("Heads", "1"));
            resolved.Add(new("MlpRatio", "4"));
            return null;
        }
        var sourceDim = (int)(source.Last.Value ?? 1);
        var declared = ParseInt(stage.Get("Dim")) ?? 0;
        if (declared < 0)
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Dim"), stage.Member, "Dim", declared, "a positive width, or 0 for the source's width");
        var dim = declared > 0 ? declared : sourceDim;
        resolved.Add(new("SourceDim", sourceDim.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("Dim", dim.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("Source", sourceName == c.sequenceSource ? "" : sourceName!));
        var queries = c.PositiveInt(index, stage, "Queries", resolved, fallback: 1, "a positive number of query tokens");
        var depth = c.PositiveInt(index, stage, "Depth", resolved, fallback: 1, "a positive number of cross-attention layers", attributeDefault: AttributeDefaults.DecoderDepth);
        c.Heads(index, stage, "Heads", resolved, dim);
        var mlpRatio = c.PositiveDouble(index, stage, "MlpRatio", resolved, fallback: AttributeDefaults.MlpRatio, "a positive MLP width ratio");
        long d = dim, s = sourceDim, hidden = (long)(dim * mlpRatio);
        var layer = 2 * d + 2 * s + (d * d + d) + (s * 2 * d + 2 * d) + (d * d + d) + 2 * d + (d * hidden + hidden) + (hidden * d + d);
        c.prefixTokens = 0;
        c.SetSequence(Shape.Of(c.batch, Dim.Constant(queries), Dim.Constant(dim)), stage.Member);
        c.StartLayout(stage.Member, Dim.Constant(queries));
        return c.sequence;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        var name = Registered(stage);
        long d = stage.Int("Dim");
        // A module lists its own parameter (latents) before its children's.
        layout.Tensor(name + ".latents", 1, stage.Int("Queries"), d);
        layout.Repeat(name + ".layers", stage.Int("Depth"), layer =>
            layer.CrossAttentionBlock("", d, stage.Int("SourceDim"), TransformerEncoderStage.Hidden(stage.Int("Dim"), stage.Double("MlpRatio"))));
    }

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module(Registered(stage), MemberType, $"new {Blocks}.Resampler(sourceDim: {stage.Int("SourceDim")}, dim: {stage.Int("Dim")}, queries: {stage.Int("Queries")}, depth: {stage.Int("Depth")}, heads: {stage.Int("Heads")}, mlpRatio: {Number(stage.Double("MlpRatio"))})")];

    public override IEnumerable<string> Reads(GraphStage stage) => [stage.Text("Source")];

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (!f.HasTokens)
            return;
        var source = stage.Text("Source");
        f.Line($"x = {Registered(stage)}.forward({(source.Length == 0 ? "x" : Camel(source) + "Output")});", stage.Output);
    }
}

public readonly partial record struct StageKind
{
    public static readonly StageKind Resampler = new(nameof(Resampler));
}
