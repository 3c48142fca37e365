using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.FrontEnd;

namespace ModelDsl.Analyzers;

/// <summary>
/// Reports the front end's diagnostics for every <c>[Model]</c> class, each at the attribute
/// argument, member or shape that causes it, so the IDE squiggles the right place and
/// <c>#pragma warning disable</c> and .editorconfig severities apply.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ModelAnalyzer : DiagnosticAnalyzer
{
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
        typeof(Descriptors).GetFields()
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .ToImmutableArray();

    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var modelAttribute = start.Compilation.GetTypeByMetadataName(StageCatalog.ModelAttribute);
            if (modelAttribute is null)
                return;
            start.RegisterSymbolAction(symbolContext => Analyze(symbolContext, modelAttribute), SymbolKind.NamedType);
        });
    }

    private static void Analyze(SymbolAnalysisContext context, INamedTypeSymbol modelAttribute)
    {
        var type = (INamedTypeSymbol)context.Symbol;
        if (!type.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, modelAttribute)))
            return;

        var (spec, map) = DeclarationReader.ReadWithLocations(type, context.CancellationToken);
        var (_, diagnostics) = ModelCompiler.Compile(spec);
        foreach (var diagnostic in diagnostics)
        {
            context.ReportDiagnostic(Diagnostic.Create(
                diagnostic.Descriptor,
                map.Locate(diagnostic.Target),
                diagnostic.Properties,
                diagnostic.Arguments.Cast<object>().ToArray()));
        }
    }
}
