using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Stages;

namespace ModelDsl.Generators.FrontEnd;

/// <summary>
/// The parameters a generated module registers, computed at compile time from the graph: names in the order of
/// TorchSharp's <c>named_parameters()</c> (the model's own parameters, then each registered module in turn) and
/// shapes from each stage's resolved arguments. They are timm's <c>VisionTransformer</c> state_dict keys.
/// </summary>
/// <remarks>
/// Each kind's layout is written once, in its <see cref="StageDefinition.Parameters"/>; the Summary's counts come
/// from the same layout. A stage whose parameters are not known before its module is built (a custom module) is
/// listed in <see cref="OpaquePrefixes"/> instead.
/// </remarks>
public static class ParameterTable
{
    /// <summary>Every parameter of the generated module of <paramref name="graph"/>, e.g. <c>patch_embed.proj.weight [64,1,7,7]</c>.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> Of(ModelGraph graph)
    {
        if (graph is null) throw new ArgumentNullException(nameof(graph));
        return Layout(graph.Stages).Table;
    }

    /// <summary>The parameters one stage of a graph registers (its definition's layout), in order.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> Of(GraphStage stage)
    {
        if (stage is null) throw new ArgumentNullException(nameof(stage));
        return Layout([stage]).Table;
    }

    /// <summary>
    /// Registered names of stages whose parameters this table does not require: custom modules (not known before
    /// their module is built) and the encoders that folding prompt tokens drops, also inside towers. The name
    /// itself and every name under <c>prefix.</c> belong to them.
    /// </summary>
    public static IReadOnlyList<string> OpaquePrefixes(ModelGraph graph)
    {
        if (graph is null) throw new ArgumentNullException(nameof(graph));
        return Layout(graph.Stages).OpaquePrefixes;
    }

    private static ParameterLayout Layout(IEnumerable<GraphStage> stages)
    {
        var layout = ParameterLayout.Listing();
        foreach (var stage in stages)
            Describe(stage, layout);
        return layout;
    }

    /// <summary>Adds one stage's parameters (its definition's layout); a broken stage is not part of the module.</summary>
    internal static void Describe(GraphStage stage, ParameterLayout layout)
    {
        if (!stage.Broken)
            StageDefinitions.Of(stage.Kind).Parameters(stage, layout);
    }

    /// <summary>
    /// Compares the parameters a declaration expects with the tensors of a weights file: every expected name
    /// the file lacks, every one it has with another shape, and (after them) every file tensor the model does
    /// not have. With <paramref name="prefix"/>, only the file's names under it count, with it removed.
    /// </summary>
    /// <param name="expected">From <see cref="Of"/>.</param>
    /// <param name="header">The file's header.</param>
    /// <param name="prefix">A file-name prefix such as <c>"backbone."</c>, or null.</param>
    /// <param name="opaquePrefixes">From <see cref="OpaquePrefixes"/>: file names under them are not reported as unexpected.</param>
    /// <param name="mapFileName">From <see cref="FileNameMap"/>: a file name (after the prefix) to the name the model registers, or null for a tensor that is not a weight (GPT-2's mask buffers); null: names as they are.</param>
    public static IReadOnlyList<ParameterDifference> Compare(
        IReadOnlyList<(string Name, long[] Shape)> expected, SafetensorsHeader header, string? prefix = null, IReadOnlyList<string>? opaquePrefixes = null,
        Func<string, string?>? mapFileName = null)
    {
        if (expected is null) throw new ArgumentNullException(nameof(expected));
        if (header is null) throw new ArgumentNullException(nameof(header));
        prefix ??= "";
        // The file's tensors by the name the model would load them under, in file order.
        var byName = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var entry in header.Entries)
        {
            if (!entry.Name.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var name = entry.Name.Substring(prefix.Length);
            var mapped = mapFileName is null ? name : mapFileName(name);
            if (mapped is null || byName.ContainsKey(mapped)) continue;
            byName[mapped] = entry;
            order.Add(mapped);
        }
        var differences = new List<ParameterDifference>();
        var expectedNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape) in expected)
        {
            expectedNames.Add(name);
            byName.TryGetValue(name, out var entry);
            if (entry is null && IsUnder(opaquePrefixes, name))
                continue;
            if (entry is null)
                differences.Add(new ParameterDifference(ParameterDifferenceKind.Missing, name, shape, null));
            else if (!SameShape(shape, entry.Shape))
                differences.Add(new ParameterDifference(ParameterDifferenceKind.ShapeMismatch, name, shape, entry.ShapeArray()));
        }
        foreach (var name in order)
        {
            if (expectedNames.Contains(name)) continue;
            if (IsUnder(opaquePrefixes, name)) continue;
            differences.Add(new ParameterDifference(ParameterDifferenceKind.Unexpected, name, null, byName[name].ShapeArray()));
        }
        return differences;
    }

    /// <summary>
    /// How the published files of the model's architecture name their tensors, when a stage says (a <c>[LanguageModel]</c>:
    /// GPT-2 files without the <c>transformer.</c> prefix, with mask buffers); null: the registered names as they are.
    /// The runtime's <c>Weights.Load</c> applies the same map through <c>IPublishedLayout</c>.
    /// </summary>
    public static Func<string, string?>? FileNameMap(ModelGraph graph)
    {
        if (graph is null) throw new ArgumentNullException(nameof(graph));
        foreach (var stage in graph.Stages)
        {
            if (!stage.Broken && StageDefinitions.Of(stage.Kind).FileNameMap(stage) is { } map)
                return map;
        }
        return null;
    }

    /// <summary><c>[64,1,7,7]</c>.</summary>
    public static string Format(IEnumerable<long> shape) =>
        "[" + string.Join(",", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>One line per parameter, <c>name [shape]</c>: the table as text (for docs and diagnostics).</summary>
    public static string ToText(IReadOnlyList<(string Name, long[] Shape)> table)
    {
        var text = new StringBuilder();
        foreach (var (name, shape) in table)
            text.Append(name).Append(' ').Append(Format(shape)).Append('\n');
        return text.ToString();
    }

    private static bool IsUnder(IReadOnlyList<string>? prefixes, string name) =>
        prefixes is not null && prefixes.Any(p => name == p || name.StartsWith(p + ".", StringComparison.Ordinal));

    private static bool SameShape(long[] shape, EquatableArray<long> other)
    {
        if (shape.Length != other.Count) return false;
        for (var i = 0; i < shape.Length; i++)
        {
            if (shape[i] != other[i]) return false;
        }
        return true;
    }
}

public enum ParameterDifferenceKind
{
    /// <summary>The declaration expects it; the file lacks it.</summary>
    Missing,
    /// <summary>Both have it, with different shapes.</summary>
    ShapeMismatch,
    /// <summary>The file has it; the declaration does not.</summary>
    Unexpected,
}

/// <summary>One difference between a declaration's parameters and a weights file.</summary>
/// <param name="Expected">The declaration's shape; null for <see cref="ParameterDifferenceKind.Unexpected"/>.</param>
/// <param name="Found">The file's shape; null for <see cref="ParameterDifferenceKind.Missing"/>.</param>
public sealed record ParameterDifference(ParameterDifferenceKind Kind, string Name, long[]? Expected, long[]? Found)
{
    public override string ToString() => Kind switch
    {
        ParameterDifferenceKind.Missing => $"{Name} {ParameterTable.Format(Expected!)}: missing from the file",
        ParameterDifferenceKind.ShapeMismatch => $"{Name}: expected {ParameterTable.Format(Expected!)}, found {ParameterTable.Format(Found!)}",
        _ => $"{Name} {ParameterTable.Format(Found!)}: in the file, not in the model",
    };
}
