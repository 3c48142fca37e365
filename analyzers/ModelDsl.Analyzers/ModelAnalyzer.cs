using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;

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
        var (graph, diagnostics) = ModelCompiler.Compile(spec, DeclarationReader.ReadTowers(type, context.CancellationToken));
        if (spec.Weights is { } weights)
            diagnostics = diagnostics.AddRange(CheckWeights(context, graph, weights.Path));
        if (BudgetCheck(context, type, graph) is { } overBudget)
            diagnostics = diagnostics.Add(overBudget);
        if (FlopsBudgetCheck(context, type, graph) is { } overFlops)
            diagnostics = diagnostics.Add(overFlops);
        foreach (var diagnostic in diagnostics)
        {
            context.ReportDiagnostic(Diagnostic.Create(
                diagnostic.Descriptor,
                map.Locate(diagnostic.Target),
                diagnostic.Properties,
                diagnostic.Arguments.Cast<object>().ToArray()));
        }
    }

    // The build hands each <ModelWeights> file's header to the analyzers as an additional file whose
    // ModelDslWeights metadata names the original (build/ModelDsl.targets).
    private static ImmutableArray<ModelDiagnostic> CheckWeights(SymbolAnalysisContext context, ModelGraph graph, string path)
    {
        var wanted = WeightsCheck.Normalize(path);
        foreach (var file in context.Options.AdditionalFiles)
        {
            var options = context.Options.AnalyzerConfigOptionsProvider.GetOptions(file);
            if (!options.TryGetValue("build_metadata.AdditionalFiles.ModelDslWeights", out var original) || WeightsCheck.Normalize(original) != wanted)
                continue;
            var text = file.GetText(context.CancellationToken);
            if (text is null) return [WeightsCheck.NotChecked(graph)];
            // Parsed once per content (cached by hash): names, dtypes, shapes and offsets only.
            return WeightsCheck.Check(graph, WeightsCheck.ParseCached(text, HeaderLimit(context)));
        }
        return [WeightsCheck.NotChecked(graph)];
    }

    /// <summary>The default parameter budget: a billion parameters, 4 GB as fp32 (16 GB with gradients and AdamW's moments).</summary>
    public const long DefaultMaxParameters = 1_000_000_000;

    // A declaration that cannot fit a device is flagged before it runs: [Model(MaxParameters)], else the
    // .editorconfig's modeldsl.max_parameters for the file, else the default. The Summary's total is the count.
    private static ModelDiagnostic? BudgetCheck(SymbolAnalysisContext context, INamedTypeSymbol type, ModelGraph graph)
    {
        var (declared, configured) = Budget(context, type, "MaxParameters", "modeldsl.max_parameters");
        var budget = declared ?? configured ?? DefaultMaxParameters;
        var total = graph.TotalParameters;
        if (total <= budget)
            return null;
        static string Bytes(double bytes) => bytes >= 1 << 30
            ? (bytes / (1 << 30)).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) + " GiB"
            : (bytes / (1 << 20)).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) + " MiB";
        var count = total.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
        var source = declared is not null ? "[Model(MaxParameters)]" : configured is not null ? "modeldsl.max_parameters" : "the default";
        return new ModelDiagnostic(Descriptors.OverParameterBudget, DiagnosticTarget.Class,
            new[] { graph.Spec.ClassName, count, Bytes(total * 4.0), Bytes(total * 12.0), $"{budget.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} ({source})" }.ToEquatableArray(),
            System.Collections.Immutable.ImmutableDictionary<string, string?>.Empty);
    }

    /// <summary>The default compute budget: 10^12 forward FLOPs per sample (ViT-H/14 at 224 is about 3.3 x 10^11).</summary>
    public const long DefaultMaxFlops = 1_000_000_000_000;

    // The same for compute: [Model(MaxFlops)], else .editorconfig's modeldsl.max_flops, else the default, against the
    // Summary's forward FLOPs per sample (stages it cannot count are left out, and the message says so).
    private static ModelDiagnostic? FlopsBudgetCheck(SymbolAnalysisContext context, INamedTypeSymbol type, ModelGraph graph)
    {
        var (declared, configured) = Budget(context, type, "MaxFlops", "modeldsl.max_flops");
        var budget = declared ?? configured ?? DefaultMaxFlops;
        long total = 0;
        var uncounted = false;
        foreach (var stage in graph.Stages.Where(s => !s.Broken))
        {
            if (stage.Flops < 0)
                uncounted = true;
            else
                total = total > long.MaxValue - stage.Flops ? long.MaxValue : total + stage.Flops;
        }
        if (total <= budget)
            return null;
        var source = declared is not null ? "[Model(MaxFlops)]" : configured is not null ? "modeldsl.max_flops" : "the default";
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        return new ModelDiagnostic(Descriptors.OverFlopsBudget, DiagnosticTarget.Class,
            new[] { graph.Spec.ClassName, total.ToString("N0", invariant), uncounted ? " (stages the Summary marks ? not counted)" : "",
                $"{budget.ToString("N0", invariant)} ({source})" }.ToEquatableArray(),
            System.Collections.Immutable.ImmutableDictionary<string, string?>.Empty);
    }

    // A budget from the [Model] attribute's named argument, else from .editorconfig for the declaration's file.
    private static (long? Declared, long? Configured) Budget(SymbolAnalysisContext context, INamedTypeSymbol type, string argument, string key)
    {
        var declared = type.GetAttributes().FirstOrDefault(a => StageCatalog.Is(a.AttributeClass, StageCatalog.ModelAttribute))?
            .NamedArguments.FirstOrDefault(n => n.Key == argument).Value.Value is long value && value > 0 ? value : (long?)null;
        long? configured = null;
        if (declared is null && type.DeclaringSyntaxReferences.FirstOrDefault()?.SyntaxTree is { } tree
            && context.Options.AnalyzerConfigOptionsProvider.GetOptions(tree).TryGetValue(key, out var text)
            && long.TryParse(text.Replace("_", "").Replace(",", ""), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var fromConfig) && fromConfig > 0)
            configured = fromConfig;
        return (declared, configured);
    }

    // <ModelDslMaxWeightsHeaderBytes> in the project (build/ModelDsl.targets makes it visible), else the default.
    private static long HeaderLimit(SymbolAnalysisContext context) =>
        context.Options.AnalyzerConfigOptionsProvider.GlobalOptions.TryGetValue("build_property.ModelDslMaxWeightsHeaderBytes", out var value)
        && long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var limit) && limit > 0
            ? limit
            : WeightsCheck.DefaultMaxHeaderBytes;
}
