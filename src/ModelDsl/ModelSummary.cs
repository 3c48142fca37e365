using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace ModelDsl;

/// <summary>One row of a model summary: a forward input or a stage.</summary>
/// <param name="Stage">The member (or input) name.</param>
/// <param name="Kind">The stage kind, or <c>input</c>.</param>
/// <param name="Output">The symbolic output shape, e.g. <c>[B,21,64]</c>.</param>
/// <param name="Parameters">Parameters the stage owns; -1 for a custom stage, whose count is known only at run time.</param>
/// <param name="Frozen">True when the stage's parameters are not trained.</param>
/// <param name="Flops">
/// Forward FLOPs of one sample at the declared sizes (2 x the multiply-adds of the stage's matrix products); -1 when not
/// counted (a custom stage, attention pooling).
/// </param>
/// <param name="PlainFlops">The same without the stages that route, merge or prune inside the encoder's blocks.</param>
public sealed record SummaryRow(string Stage, string Kind, string Output, long Parameters, bool Frozen, long Flops = -1, long PlainFlops = -1);

/// <summary>
/// A model's summary, computed at compile time by the generator (Keras <c>summary()</c> style):
/// every stage with its output shape and parameter count, and the totals.
/// </summary>
public sealed record ModelSummary(string Model, IReadOnlyList<SummaryRow> Rows)
{
    /// <summary>The parameters known at compile time (custom stages are not counted).</summary>
    public long TotalParameters => Rows.Sum(r => Math.Max(r.Parameters, 0));

    public long TrainableParameters => Rows.Where(r => !r.Frozen).Sum(r => Math.Max(r.Parameters, 0));

    public long FrozenParameters => TotalParameters - TrainableParameters;

    /// <summary>Bytes the parameters take as fp32.</summary>
    public long ParameterBytes => TotalParameters * sizeof(float);

    private IEnumerable<SummaryRow> Stages => Rows.Where(r => r.Kind != "input");

    /// <summary>Forward FLOPs of one sample at the declared sizes, over the stages that are counted.</summary>
    public long TotalFlops => Stages.Aggregate(0L, (total, r) => Add(total, Math.Max(r.Flops, 0)));

    /// <summary>The same without routing, merging and pruning inside the encoder's blocks.</summary>
    public long PlainFlops => Stages.Aggregate(0L, (total, r) => Add(total, Math.Max(r.PlainFlops, 0)));

    /// <summary>Whether every stage's FLOPs are counted.</summary>
    public bool AllFlopsCounted => Stages.All(r => r.Flops >= 0);

    /// <summary>The table as text, the same as in the generated class's XML documentation.</summary>
    public override string ToString()
    {
        var rows = new List<string[]> { new[] { "Stage", "Kind", "Output", "Parameters", "Trainable", "FLOPs" } };
        rows.AddRange(Rows.Select(r => new[]
        {
            r.Stage, r.Kind, r.Output, r.Kind == "input" ? "" : r.Parameters < 0 ? "?" : Count(r.Parameters),
            r.Parameters == 0 ? "" : r.Frozen ? "frozen" : "yes",
            r.Kind == "input" ? "" : r.Flops < 0 ? "?" : Count(r.Flops),
        }));
        var widths = Enumerable.Range(0, 6).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var lines = rows.Select(row => string.Join("  ", row.Select((cell, c) => c is 3 or 5 ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]))).TrimEnd()).ToList();
        lines.Add(FlopsLine());
        var mebibytes = (ParameterBytes / (1024.0 * 1024.0)).ToString("0.00", CultureInfo.InvariantCulture);
        lines.Add($"Total: {Count(TotalParameters)} parameters ({Count(TrainableParameters)} trainable, {Count(FrozenParameters)} frozen), {mebibytes} MiB as fp32");
        return string.Join("\n", lines);
    }

    private string FlopsLine()
    {
        // Nothing counted is not "0 FLOPs".
        if (TotalFlops == 0 && !AllFlopsCounted)
            return "Forward FLOPs: not counted for these stages (marked ?)";
        var line = $"Forward: {Count(TotalFlops)} FLOPs per sample at the declared sizes";
        if (PlainFlops != TotalFlops && PlainFlops > 0)
            line += $"; {Count(PlainFlops)} without routing, merging and pruning ({(100.0 * (PlainFlops - TotalFlops) / PlainFlops).ToString("0.0", CultureInfo.InvariantCulture)} % fewer)";
        if (!AllFlopsCounted)
            line += "; stages marked ? are not counted";
        return line;
    }

    private static long Add(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    private static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
