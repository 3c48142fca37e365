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
public sealed record SummaryRow(string Stage, string Kind, string Output, long Parameters, bool Frozen);

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

    /// <summary>The table as text, the same as in the generated class's XML documentation.</summary>
    public override string ToString()
    {
        var rows = new List<string[]> { new[] { "Stage", "Kind", "Output", "Parameters", "Trainable" } };
        rows.AddRange(Rows.Select(r => new[]
        {
            r.Stage, r.Kind, r.Output, r.Kind == "input" ? "" : r.Parameters < 0 ? "?" : Count(r.Parameters),
            r.Parameters == 0 ? "" : r.Frozen ? "frozen" : "yes",
        }));
        var widths = Enumerable.Range(0, 5).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var lines = rows.Select(row => string.Join("  ", row.Select((cell, c) => c == 3 ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]))).TrimEnd()).ToList();
        var mebibytes = (ParameterBytes / (1024.0 * 1024.0)).ToString("0.00", CultureInfo.InvariantCulture);
        lines.Add($"Total: {Count(TotalParameters)} parameters ({Count(TrainableParameters)} trainable, {Count(FrozenParameters)} frozen), {mebibytes} MiB as fp32");
        return string.Join("\n", lines);
    }

    private static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
