using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace ModelDsl.Weights;

/// <summary>
/// What <see cref="Weights.Load"/> did: which tensors it loaded, which the model has that the file lacks
/// (<see cref="New"/>), which the file has that were not loaded (<see cref="Ignored"/>), and which differ in
/// shape. <see cref="ToString"/> gives a readable summary.
/// </summary>
public sealed class LoadReport
{
    private readonly IReadOnlyList<string> modelNames;
    private readonly IReadOnlyDictionary<string, long[]> modelShapes;
    private readonly IReadOnlyDictionary<string, long[]> fileShapes;

    internal LoadReport(
        string path, WeightsFormat format, LoadOptions options,
        IReadOnlyList<string> loaded, IReadOnlyList<string> @new, IReadOnlyList<string> ignored,
        IReadOnlyList<ShapeMismatch> shapeMismatches, IReadOnlyList<DTypeConversion> conversions,
        IReadOnlyList<string> frozen, IReadOnlyList<string> modelNames,
        IReadOnlyDictionary<string, long[]> modelShapes, IReadOnlyDictionary<string, long[]> fileShapes)
    {
        Path = path;
        Format = format;
        Mode = options.Mode;
        Prefix = string.IsNullOrEmpty(options.Prefix) ? null : options.Prefix;
        Loaded = loaded;
        New = @new;
        Ignored = ignored;
        ShapeMismatches = shapeMismatches;
        DTypeConversions = conversions;
        Frozen = frozen;
        this.modelNames = modelNames;
        this.modelShapes = modelShapes;
        this.fileShapes = fileShapes;
    }

    /// <summary>The file that was read.</summary>
    public string Path { get; }

    public WeightsFormat Format { get; }

    public LoadMode Mode { get; }

    /// <summary>The file-name prefix that was stripped, or null.</summary>
    public string? Prefix { get; }

    /// <summary>Model names whose values were copied from the file, in the model's order.</summary>
    public IReadOnlyList<string> Loaded { get; }

    /// <summary>Model names the file does not have (or that <see cref="LoadOptions.Exclude"/> names): they keep their values.</summary>
    public IReadOnlyList<string> New { get; }

    /// <summary>
    /// File names (as written in the file, prefix included) that were not loaded: not in the model, outside the
    /// prefix, excluded, of another shape, or not tensors.
    /// </summary>
    public IReadOnlyList<string> Ignored { get; }

    /// <summary>Tensors both have, with different shapes; not loaded, the model keeps its values.</summary>
    public IReadOnlyList<ShapeMismatch> ShapeMismatches { get; }

    /// <summary>Loaded tensors whose element type was converted to the model's.</summary>
    public IReadOnlyList<DTypeConversion> DTypeConversions { get; }

    /// <summary>Parameters frozen by <see cref="LoadOptions.Freeze"/> (empty without it).</summary>
    public IReadOnlyList<string> Frozen { get; }

    /// <summary>Model names that kept their values: <see cref="New"/> and the shape mismatches, in the model's order.</summary>
    public IReadOnlyList<string> NotLoaded
    {
        get
        {
            var loaded = new HashSet<string>(Loaded, StringComparer.Ordinal);
            return modelNames.Where(n => !loaded.Contains(n)).ToList();
        }
    }

    /// <summary>True when every model tensor was loaded and every file tensor was used.</summary>
    public bool IsComplete => New.Count == 0 && Ignored.Count == 0 && ShapeMismatches.Count == 0;

    public override string ToString()
    {
        var text = new StringBuilder();
        var settings = new List<string> { Format == WeightsFormat.Safetensors ? "safetensors" : "PyTorch state_dict", Mode == LoadMode.Strict ? "strict" : "partial" };
        if (Prefix is not null) settings.Add($"prefix '{Names.Escape(Prefix)}'");
        text.Append($"Loaded {Loaded.Count} of {modelNames.Count} model tensors from '{Path}' ({string.Join(", ", settings)})");
        text.AppendLine(IsComplete ? ": complete." : ".");
        if (Loaded.Count > 0)
            text.AppendLine($"  loaded ({Loaded.Count}): {Summarize(Loaded)}");
        if (New.Count > 0)
        {
            text.AppendLine($"  new ({New.Count}), in the model but not in the file, kept as initialised:");
            Names.AppendLines(text, New, name => $"{Names.Escape(name)} {Shapes.Format(modelShapes[name])}", "    ");
        }
        if (ShapeMismatches.Count > 0)
        {
            text.AppendLine($"  shape mismatches ({ShapeMismatches.Count}), kept as initialised:");
            Names.AppendLines(text, ShapeMismatches, m => $"{Names.Escape(m.Name)}: expected {Shapes.Format(m.Expected)}, found {Shapes.Format(m.Found)}", "    ");
        }
        if (Ignored.Count > 0)
        {
            text.AppendLine($"  ignored ({Ignored.Count}), in the file but not loaded:");
            Names.AppendLines(text, Ignored,
                name => fileShapes.TryGetValue(name, out var shape) ? $"{Names.Escape(name)} {Shapes.Format(shape)}" : $"{Names.Escape(name)} (not a tensor)", "    ");
        }
        if (DTypeConversions.Count > 0)
            text.AppendLine($"  converted ({DTypeConversions.Count}): {string.Join(", ", DTypeConversions.Take(8))}{(DTypeConversions.Count > 8 ? ", ..." : "")}");
        if (Frozen.Count > 0)
            text.AppendLine($"  frozen ({Frozen.Count}): {Summarize(Frozen)}");
        return text.ToString().TrimEnd();
    }

    // "cls_token, patch_embed.* (2), blocks.* (24), norm.* (2)": grouped by the first name segment, in order.
    internal static string Summarize(IReadOnlyList<string> names)
    {
        var groups = new List<(string Key, int Count, bool Nested)>();
        var positions = new Dictionary<string, int>(StringComparer.Ordinal);   // indexed once: no quadratic search
        foreach (var name in names)
        {
            var dot = name.IndexOf('.', StringComparison.Ordinal);
            var key = dot < 0 ? name : name[..dot];
            if (!positions.TryGetValue(key, out var index))
            {
                positions[key] = groups.Count;
                groups.Add((key, 1, dot >= 0));
            }
            else groups[index] = (key, groups[index].Count + 1, true);
        }
        return Names.Join(groups, g => g.Nested ? $"{Names.Escape(g.Key)}.* ({g.Count})" : Names.Escape(g.Key));
    }
}
