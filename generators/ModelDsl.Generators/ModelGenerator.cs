using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ModelDsl.Generators.Emit;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators;

/// <summary>
/// Emits the TorchSharp module of every <c>[Model]</c> class. Reports nothing: the analyzers
/// report the same front end's diagnostics at their source locations, and this pipeline stays
/// free of locations so that unrelated edits leave it cached.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class ModelGenerator : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var specs = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                StageCatalog.ModelAttribute,
                static (node, _) => node is ClassDeclarationSyntax,
                static (ctx, ct) => IsFirstModelDeclaration(ctx) ? DeclarationReader.Read((INamedTypeSymbol)ctx.TargetSymbol, ct) : null)
            .Where(static spec => spec is not null)
            .Select(static (spec, _) => spec!)
            .WithTrackingName(TrackingNames.Specs);

        // A tower's shapes come from the spec of another model. Every model picks the specs it reaches
        // out of all of them; that pick is equal after an edit elsewhere, so its graph stays cached.
        var allSpecs = specs.Collect().WithTrackingName(TrackingNames.AllSpecs);
        var withTowers = specs
            .Where(static spec => spec.IsPartial)
            .Combine(allSpecs)
            .Select(static (pair, _) => new ModelWithTowers(pair.Left, ModelCompiler.TowerLibrary(pair.Left, pair.Right)))
            .WithTrackingName(TrackingNames.WithTowers);

        var graphs = withTowers
            .Select(static (model, _) => ModelCompiler.Compile(model.Spec, model.Towers).Graph)
            .WithTrackingName(TrackingNames.Graphs);

        context.RegisterSourceOutput(graphs, static (output, graph) =>
            output.AddSource(HintName(graph.Spec), ModelEmitter.Emit(graph)));
    }

    // [Model] on two partial declarations of one class (CS0579) must still emit the class once:
    // only the declaration carrying the first [Model] of the symbol goes on.
    private static bool IsFirstModelDeclaration(GeneratorAttributeSyntaxContext ctx) =>
        ctx.TargetSymbol.GetAttributes()
            .FirstOrDefault(a => StageCatalog.Is(a.AttributeClass, StageCatalog.ModelAttribute))?
            .ApplicationSyntaxReference is not { } first
        || (first.SyntaxTree == ctx.TargetNode.SyntaxTree && ctx.TargetNode.Span.Contains(first.Span));

    // Unique per type: a generic class and a plain one of the same name are two types (arity as in metadata names).
    private static string HintName(ModelSpec spec) =>
        string.Join(".", new[] { spec.Namespace }.Where(n => n.Length > 0)
            .Concat(spec.ContainingTypes.Select(t => Arity(t.Substring(t.LastIndexOf(' ') + 1))))
            .Append(Arity(spec.ClassName + spec.TypeParameters))) + ".g.cs";

    private static string Arity(string name) =>
        name.IndexOf('<') is var open and > 0 ? name.Substring(0, open) + "`" + (name.Count(c => c == ',') + 1) : name;
}

/// <summary>The tracked step names, so tests can assert which steps re-ran after an edit.</summary>
public static class TrackingNames
{
    public const string Specs = "ModelSpecs";
    public const string AllSpecs = "AllModelSpecs";
    public const string WithTowers = "ModelsWithTowers";
    public const string Graphs = "ModelGraphs";
}

/// <summary>A model's spec with the specs of the towers it reaches (empty when it has none).</summary>
public sealed record ModelWithTowers(ModelSpec Spec, EquatableArray<ModelSpec> Towers);
