using System.Collections.Immutable;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.FrontEnd;

/// <summary>
/// Holds a <c>[PretrainedWeights]</c> file's header against the parameters the declaration will
/// have: every parameter it lacks or has with another shape, and every tensor it has that the model
/// lacks, is an error at the attribute, as the strict load of <c>LoadPretrainedWeights()</c> would
/// refuse them. <c>Exclude</c> names (a new head) are left out on both sides; <c>Prefix</c> narrows
/// the file to a sub-model.
/// </summary>
public static class WeightsCheck
{
    public static ImmutableArray<ModelDiagnostic> Check(ModelGraph graph, string headerText)
    {
        var weights = graph.Spec.Weights!;
        if (!SafetensorsHeader.FromText(headerText, out var header, out var error))
            return [Diagnostic(Descriptors.WeightsUnreadable, weights.Path, error ?? "malformed header")];

        bool Excluded(string name) => weights.Exclude.Any(e => name == e || name.StartsWith(e + ".", System.StringComparison.Ordinal));
        var expected = ParameterTable.Of(graph).Where(p => !Excluded(p.Name)).ToList();
        return ParameterTable.Compare(expected, header!, weights.Prefix, ParameterTable.OpaquePrefixes(graph))
            .Where(d => !Excluded(d.Name))
            .Select(d => Diagnostic(Descriptors.WeightsMismatch, weights.Path, graph.Spec.ClassName, d.ToString()))
            .ToImmutableArray();
    }

    public static ModelDiagnostic NotChecked(ModelGraph graph) =>
        Diagnostic(Descriptors.WeightsNotChecked, graph.Spec.Weights!.Path, graph.Spec.ClassName);

    /// <summary>Project-relative paths compare equal whatever the separators: <c>.\w\a.st</c> = <c>w/a.st</c>.</summary>
    public static string Normalize(string path)
    {
        var text = path.Replace('\\', '/');
        while (text.StartsWith("./", System.StringComparison.Ordinal))
            text = text.Substring(2);
        return text;
    }

    private static ModelDiagnostic Diagnostic(Microsoft.CodeAnalysis.DiagnosticDescriptor descriptor, params string[] arguments) =>
        new(descriptor, DiagnosticTarget.Weights, arguments.ToEquatableArray(), ImmutableDictionary<string, string?>.Empty);
}
