using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

namespace ModelDsl.Training;

/// <summary>The training-curve image the trainer writes at the end of a run (ScottPlot).</summary>
public static class TrainingCurves
{
    /// <summary>The file name the trainer uses.</summary>
    public const string FileName = "curves.png";

    /// <summary>
    /// Writes a PNG of <paramref name="records"/> against the optimizer step: the training and
    /// validation losses on the left axis, the other metrics (e.g. accuracy) on the right axis, and a
    /// vertical line at <paramref name="bestStep"/> when given.
    /// </summary>
    /// <returns>The full path written.</returns>
    public static string Save(IReadOnlyList<EpochRecord> records, string path, string? title = null, long? bestStep = null, int width = 900, int height = 540)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);

        var plot = new ScottPlot.Plot();
        double[] steps = records.Select(r => (double)r.Step).ToArray();
        var columns = records.SelectMany(r => MetricsLog.Values(r).Select(v => v.Name)).Distinct()
            .Where(c => c.StartsWith("train_", StringComparison.Ordinal) || c.StartsWith("val_", StringComparison.Ordinal))
            .ToList();
        bool anyRight = false;
        foreach (var column in columns)
        {
            double[] values = records.Select(r => MetricsLog.Lookup(r, column) is double v && double.IsFinite(v) ? v : double.NaN).ToArray();
            if (values.All(double.IsNaN)) continue;
            var line = plot.Add.Scatter(steps, values);
            line.LegendText = column;
            line.LineWidth = 2;
            line.MarkerSize = records.Count > 60 ? 0 : 5;
            if (column.StartsWith("val_", StringComparison.Ordinal)) line.LinePattern = ScottPlot.LinePattern.Solid;
            else line.LinePattern = ScottPlot.LinePattern.Dashed;
            if (!column.EndsWith("loss", StringComparison.Ordinal))
            {
                line.Axes.YAxis = plot.Axes.Right;
                anyRight = true;
            }
        }
        if (bestStep is long best)
        {
            var marker = plot.Add.VerticalLine(best);
            marker.LineWidth = 1;
            marker.LinePattern = ScottPlot.LinePattern.Dotted;
            marker.LegendText = string.Create(CultureInfo.InvariantCulture, $"best (step {best})");
        }
        plot.Axes.Bottom.Label.Text = "optimizer step";
        plot.Axes.Left.Label.Text = "loss";
        if (anyRight) plot.Axes.Right.Label.Text = "metric";
        plot.Title(title ?? "Training curves");
        plot.ShowLegend(ScottPlot.Alignment.MiddleRight);
        plot.SavePng(full, width, height);
        return full;
    }
}
