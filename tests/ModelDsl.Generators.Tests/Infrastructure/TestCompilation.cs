using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection.PortableExecutable;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using ModelDsl.Analyzers;

namespace ModelDsl.Generators.Tests.Infrastructure;

/// <summary>
/// Compilations as a user project of ModelDsl sees them: the running framework's assemblies,
/// ModelDsl.dll and TorchSharp.dll, C# 13, nullable enabled. Nothing is downloaded.
/// </summary>
internal static class TestCompilation
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.CSharp13, DocumentationMode.Parse);

    // The SDK's default NoWarn for C# projects: assembly unification (TorchSharp is built against an older framework).
    private static readonly ImmutableDictionary<string, ReportDiagnostic> SdkNoWarn = new Dictionary<string, ReportDiagnostic>
    {
        ["CS1701"] = ReportDiagnostic.Suppress,
        ["CS1702"] = ReportDiagnostic.Suppress,
    }.ToImmutableDictionary();

    public static readonly CSharpCompilationOptions Options = new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary)
        .WithNullableContextOptions(NullableContextOptions.Enable)
        .WithSpecificDiagnosticOptions(SdkNoWarn);

    /// <summary>The framework assemblies, ModelDsl.dll and TorchSharp.dll.</summary>
    public static readonly ImmutableArray<MetadataReference> References = LoadReferences();

    public static string ModelDslAssemblyPath => typeof(ModelAttribute).Assembly.Location;

    public static string TorchSharpAssemblyPath => typeof(TorchSharp.torch).Assembly.Location;

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        var frameworkDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var paths = Directory.GetFiles(frameworkDirectory, "*.dll").Where(HasMetadata)
            .Append(ModelDslAssemblyPath)
            .Append(TorchSharpAssemblyPath);
        return paths.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToImmutableArray();
    }

    private static bool HasMetadata(string path)
    {
        try
        {
            using var reader = new PEReader(File.OpenRead(path));
            return reader.HasMetadata;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }

    public static SyntaxTree Parse(string source, string path = "Model.cs") =>
        CSharpSyntaxTree.ParseText(source.Replace("\r\n", "\n"), ParseOptions, path);

    public static CSharpCompilation Create(params string[] sources) =>
        Create(sources.Select((s, i) => Parse(s, i == 0 ? "Model.cs" : $"Source{i}.cs")));

    public static CSharpCompilation Create(IEnumerable<SyntaxTree> trees) => Empty.AddSyntaxTrees(trees);

    // Compilations derived from one compilation share its bound references (Roslyn reuses the
    // reference manager), which makes a new compilation of a small file cheap.
    private static readonly CSharpCompilation Empty = CSharpCompilation.Create("UserProject", [], References, Options);

    public static GeneratorDriver CreateDriver(bool trackSteps = false) =>
        CSharpGeneratorDriver.Create(
            [new ModelGenerator().AsSourceGenerator()],
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>Runs the generator; the result holds the generator's own diagnostics and exception.</summary>
    public static GeneratorRun RunGenerator(Compilation compilation)
    {
        var driver = CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var driverDiagnostics);
        var result = driver.GetRunResult();
        return new GeneratorRun(output, result.Results.Single(), driverDiagnostics);
    }

    /// <summary>Runs <see cref="ModelAnalyzer"/> over <paramref name="compilation"/>; analyzer exceptions are collected, not swallowed.</summary>
    public static AnalyzerRun RunAnalyzer(Compilation compilation, AnalyzerOptions? options = null)
    {
        var exceptions = new List<Exception>();
        var withAnalyzers = compilation.WithAnalyzers(
            [new ModelAnalyzer()],
            new CompilationWithAnalyzersOptions(
                options ?? new AnalyzerOptions([]),
                onAnalyzerException: (exception, _, _) => { lock (exceptions) exceptions.Add(exception); },
                concurrentAnalysis: false,
                logAnalyzerExecutionTime: false));
        var diagnostics = withAnalyzers.GetAnalyzerDiagnosticsAsync(CancellationToken.None).GetAwaiter().GetResult();
        return new AnalyzerRun(diagnostics, exceptions);
    }

    /// <summary>Generator, then the analyzer over the generator's output, as a build does.</summary>
    public static FullRun Run(params string[] sources)
    {
        var generated = RunGenerator(Create(sources));
        var analyzed = RunAnalyzer(generated.Output);
        return new FullRun(generated, analyzed);
    }

    public static string Describe(IEnumerable<Diagnostic> diagnostics)
    {
        var lines = diagnostics.Select(d =>
        {
            var span = d.Location.IsInSource ? d.Location.SourceTree!.GetText().ToString(d.Location.SourceSpan) : "";
            var where = d.Location.IsInSource ? $"{Path.GetFileName(d.Location.SourceTree!.FilePath)}{d.Location.GetLineSpan().StartLinePosition}" : "(no location)";
            return $"  {d.Id} {d.Severity} at {where} on \"{span}\": {d.GetMessage()}";
        }).ToList();
        return lines.Count == 0 ? "  (none)" : string.Join("\n", lines);
    }
}

internal sealed record GeneratorRun(Compilation Output, GeneratorRunResult Result, ImmutableArray<Diagnostic> DriverDiagnostics)
{
    public string SingleSource() => Result.GeneratedSources.Single().SourceText.ToString().Replace("\r\n", "\n");
}

internal sealed record AnalyzerRun(ImmutableArray<Diagnostic> Diagnostics, IReadOnlyList<Exception> Exceptions);

internal sealed record FullRun(GeneratorRun Generator, AnalyzerRun Analyzer)
{
    /// <summary>Every diagnostic a build would show: compiler (after generation), generator and analyzer.</summary>
    public IEnumerable<Diagnostic> AllDiagnostics =>
        Generator.Output.GetDiagnostics()
            .Concat(Generator.DriverDiagnostics)
            .Concat(Generator.Result.Diagnostics)
            .Concat(Analyzer.Diagnostics);
}
