using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Emit;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using static ModelDsl.Generators.Emit.EmitText;
using static ModelDsl.Generators.FrontEnd.ModelCompiler;

namespace ModelDsl.Generators.Stages;

/// <summary>
/// What every head that reads a named segment of the token sequence shares (<c>Reads = nameof(Summary)</c>): the
/// segment found in the layout, its pooling (mean, first or last token), its output under the member's name.
/// </summary>
internal static class SegmentHeads
{
    /// <param name="read">The kind's own arguments, given the token width: the output shape and its description.</param>
    internal static Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved, Func<int, (Shape Output, string Description)> read)
    {
        var width = c.Width(index, stage, resolved, "a token sequence [B,N,D]");
        var reads = stage.Get("Reads")!;
        var pool = stage.Get("Pool") ?? (stage.Kind == StageKind.ClassifierHead ? "First" : "Avg");
        if (pool == "Cls")
            pool = "First";
        if (pool is not ("Avg" or "First" or "Last"))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Pool"), stage.Member, "Pool", pool,
                "Pool.Avg (the mean), Pool.First or Pool.Last for a head that reads a segment");
            pool = "Avg";
        }
        resolved.Add(new("Pool", pool));
        var (output, description) = read(width);
        if (c.sequence is null)
        {
            c.broken.Add(index);
            return null;
        }
        if (c.removedSegments.TryGetValue(reads, out var remover))
        {
            c.broken.Add(index);
            var hook = c.Spec.Stages.First(s => s.Member == remover);
            c.Report(Descriptors.SegmentRemovedInsideEncoder, DiagnosticTarget.Attribute(index, "Reads"), stage.Member, reads, remover,
                hook.Kind == StageKind.TokenMerging ? "merges tokens" : "prunes tokens", hook.Get("Into") ?? c.SingleEncoder() ?? "the encoder", c.LayoutText());
            return null;
        }
        if (c.FindSegment(reads) is not { } segment)
        {
            c.broken.Add(index);
            var problem = c.layout.Any(s => s.Name == reads) ? "is a segment whose place is not a number" : "names no segment of it";
            c.Report(Descriptors.SegmentNotFound, DiagnosticTarget.Attribute(index, "Reads"), stage.Member, reads, problem,
                c.layout.Count == 0 ? $"{c.sequence.Text}, which has no named segments" : c.LayoutText());
            return null;
        }
        resolved.Add(new("SegmentStart", segment.Start.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("SegmentLength", segment.Length.ToString(CultureInfo.InvariantCulture)));
        c.heads[stage.Member] = new HeadInfo(stage.Kind, stage.Member, null, output, stage.Member);
        c.outputs.Add(new(stage.Member, output.Text, description));
        return output;
    }

    internal static void WriteForward(ForwardWriter f, GraphStage stage)
    {
        var (start, length) = (stage.Int("SegmentStart"), stage.Int("SegmentLength"));
        var pooled = stage.Text("Pool") switch
        {
            "First" => $"{Blocks}.Pooling.Token(x, {start.ToString(CultureInfo.InvariantCulture)})",
            "Last" => $"{Blocks}.Pooling.Token(x, {(start + length - 1).ToString(CultureInfo.InvariantCulture)})",
            _ => $"{Blocks}.Pooling.Mean(x, start: {start.ToString(CultureInfo.InvariantCulture)}, length: {length.ToString(CultureInfo.InvariantCulture)})",
        };
        var local = Camel(stage.Member);
        f.Line($"var {local}Pooled = {pooled};", $"[{f.Batch},{stage.Int("Dim")}]");
        f.Line($"var {local}Output = {Registered(stage)}.forward({local}Pooled);", stage.Output);
        f.Values[stage.Member] = local + "Output";
    }
}
