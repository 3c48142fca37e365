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
                static (ctx, ct) => DeclarationReader.Read((INamedTypeSymbol)ctx.TargetSymbol, ct))
            .WithTrackingName(TrackingNames.Specs);

        var graphs = specs
            .Where(static spec => spec.IsPartial)
            .Select(static (spec, _) => ModelCompiler.Compile(spec).Graph)
            .WithTrackingName(TrackingNames.Graphs);

        context.RegisterSourceOutput(graphs, static (output, graph) =>
            output.AddSource(HintName(graph.Spec), ModelEmitter.Emit(graph)));
    }

    private static string HintName(ModelSpec spec) =>
        string.Join(".", new[] { spec.Namespace }.Where(n => n.Length > 0)
            .Concat(spec.ContainingTypes.Select(t => t.Substring(t.LastIndexOf(' ') + 1)))
            .Append(spec.ClassName)) + ".g.cs";
}

/// <summary>The tracked step names, so tests can assert which steps re-ran after an edit.</summary>
public static class TrackingNames
{
    public const string Specs = "ModelSpecs";
    public const string Graphs = "ModelGraphs";
}
