using Microsoft.CodeAnalysis;

namespace ModelDsl.Generators.FrontEnd;

/// <summary>The attributes the front end reads besides the stage kinds (those are in <see cref="Stages.StageDefinitions"/>), and how names are spelled.</summary>
public static class StageCatalog
{
    public const string ModelAttribute = "ModelDsl.ModelAttribute";
    public const string ShapeAttribute = "ModelDsl.ShapeAttribute";
    public const string PretrainedWeightsAttribute = "ModelDsl.PretrainedWeightsAttribute";
    public const string TowerAttribute = "ModelDsl.TowerAttribute";
    public const string StageAttribute = "ModelDsl.StageAttribute";
    public const string StageParameterAttribute = "ModelDsl.StageParameterAttribute";

    private const string Namespace = "ModelDsl.";

    /// <summary>
    /// Whether <paramref name="attributeClass"/> is ModelDsl's attribute <paramref name="metadataName"/>
    /// (<c>ModelDsl.TowerAttribute</c>). Compares names without formatting the symbol: the reader runs for every model on
    /// every edit, and <c>ToDisplayString()</c> per attribute was a measurable share of that.
    /// </summary>
    internal static bool Is(INamedTypeSymbol? attributeClass, string metadataName) =>
        IsInModelDslNamespace(attributeClass)
        && metadataName.Length == Namespace.Length + attributeClass!.Name.Length
        && string.CompareOrdinal(metadataName, Namespace.Length, attributeClass.Name, 0, attributeClass.Name.Length) == 0;

    /// <summary>The metadata name of a ModelDsl attribute class (<c>ModelDsl.TokensAttribute</c>), or null for any other.</summary>
    internal static string? ModelDslName(INamedTypeSymbol? attributeClass) =>
        IsInModelDslNamespace(attributeClass) && attributeClass!.Arity == 0 ? Namespace + attributeClass.Name : null;

    private static bool IsInModelDslNamespace(INamedTypeSymbol? type) =>
        type is { ContainingType: null, ContainingNamespace: { Name: "ModelDsl", ContainingNamespace.IsGlobalNamespace: true } };

    internal static string SnakeCase(string name)
    {
        var text = new System.Text.StringBuilder();
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0 && !char.IsUpper(name[i - 1]))
                text.Append('_');
            text.Append(char.ToLowerInvariant(name[i]));
        }
        return text.ToString();
    }
}
