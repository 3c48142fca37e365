using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace ModelDsl.Weights;

/// <summary>
/// A weights file that does not match the model, thrown by <see cref="Weights.Load"/> before anything is
/// copied. The message lists every difference and how to load partially.
/// </summary>
public sealed class WeightsMismatchException : Exception
{
    internal WeightsMismatchException(
        string path, string model, string summary,
        IReadOnlyList<TensorEntry> missing, IReadOnlyList<TensorEntry> unexpected, IReadOnlyList<ShapeMismatch> shapeMismatches,
        string? suggestedPrefix)
        : base(Describe(path, model, summary, missing, unexpected, shapeMismatches, suggestedPrefix))
    {
        Path = path;
        Missing = missing;
        Unexpected = unexpected;
        ShapeMismatches = shapeMismatches;
        SuggestedPrefix = suggestedPrefix;
    }

    /// <summary>The weights file.</summary>
    public string Path { get; }

    /// <summary>Tensors the model has and the file lacks (model names, model shapes and dtypes).</summary>
    public IReadOnlyList<TensorEntry> Missing { get; }

    /// <summary>Tensors the file has and the model lacks (file names, file shapes and dtypes).</summary>
    public IReadOnlyList<TensorEntry> Unexpected { get; }

    /// <summary>Tensors both have with different shapes.</summary>
    public IReadOnlyList<ShapeMismatch> ShapeMismatches { get; }

    /// <summary>A file-name prefix that would make most missing names match (e.g. <c>"backbone."</c>), or null.</summary>
    public string? SuggestedPrefix { get; }

    private static string Describe(
        string path, string model, string summary,
        IReadOnlyList<TensorEntry> missing, IReadOnlyList<TensorEntry> unexpected, IReadOnlyList<ShapeMismatch> shapeMismatches,
        string? suggestedPrefix)
    {
        var text = new StringBuilder();
        var counts = new List<string>();
        if (missing.Count > 0) counts.Add($"{missing.Count} missing");
        if (unexpected.Count > 0) counts.Add($"{unexpected.Count} unexpected");
        if (shapeMismatches.Count > 0) counts.Add($"{shapeMismatches.Count} with another shape");
        text.Append($"The weights in '{path}' do not match {model}");
        text.Append(counts.Count > 0 ? $": {string.Join(", ", counts)}. " : ". ");
        text.AppendLine(summary);
        if (missing.Count > 0)
        {
            text.AppendLine($"Missing ({missing.Count}), in the model but not in the file:");
            Names.AppendLines(text, missing, entry => $"{Names.Escape(entry.Name)} {Shapes.Format(entry.Shape)}");
        }
        if (unexpected.Count > 0)
        {
            text.AppendLine($"Unexpected ({unexpected.Count}), in the file but not in the model:");
            Names.AppendLines(text, unexpected, entry => $"{Names.Escape(entry.Name)} {Shapes.Format(entry.Shape)}");
        }
        if (shapeMismatches.Count > 0)
        {
            text.AppendLine($"Shape mismatches ({shapeMismatches.Count}), the model's shape vs the file's:");
            Names.AppendLines(text, shapeMismatches, m => $"{Names.Escape(m.Name)}: expected {Shapes.Format(m.Expected)}, found {Shapes.Format(m.Found)}");
        }
        if (suggestedPrefix is not null)
            text.AppendLine($"The file's names look like the model's with the prefix '{Names.Escape(suggestedPrefix)}': pass LoadOptions with Prefix = \"{Names.Escape(suggestedPrefix)}\".");
        text.Append("To load only what matches and keep the rest as initialised, pass LoadOptions.Partial (the returned LoadReport lists what was loaded, new and ignored); ");
        text.Append("to take a sub-model from a bigger file, set Prefix (e.g. \"backbone.\"); to keep some modules as initialised and check the rest strictly, set Exclude (e.g. [\"head\"]).");
        return text.ToString();
    }
}
