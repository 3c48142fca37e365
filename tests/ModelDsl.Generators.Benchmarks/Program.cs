using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection.PortableExecutable;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using ModelDsl.Analyzers;
using ModelDsl.Generators.FrontEnd;

namespace ModelDsl.Generators.Benchmarks;

/// <summary>
/// The generator and the analyzers on a project of 100 model classes (varied images, patch sizes,
/// widths, depths, heads, CLS/avg/map pooling, registers, deep prompts, query tokens) and a few
/// unrelated files. It prints, as Markdown tables with medians over several runs:
/// <list type="bullet">
/// <item>cold time per model: the generator on a fresh driver and a fresh compilation of the
/// sources (so it includes binding the declarations it reads), the same on a compilation whose
/// declarations are already bound (the generator's own work), and the analyzer over the
/// generator's output (its own time, from the analyzer driver's telemetry, and the whole analysis
/// pass, which includes the compiler binding the generated code);</item>
/// <item>with step tracking on, which steps re-ran after an unrelated edit, an edit inside one
/// model that leaves its declaration alone, and an attribute change: the count of outputs of each
/// tracked step by reason, and whether the source output (the emission) ran again.</item>
/// </list>
/// Last, where the time of a run after an unrelated edit goes (see <see cref="Breakdown"/>).
/// Usage: <c>dotnet run -c Release --project tests/ModelDsl.Generators.Benchmarks [-- --runs 9 --models 100 --steps --breakdown]</c>
/// (<c>--steps</c> also lists Roslyn's own tracked steps; <c>--breakdown</c> prints only the breakdown).
/// </summary>
public static class Program
{
    private static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.CSharp13, DocumentationMode.Parse);

    private static readonly CSharpCompilationOptions Options = new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary)
        .WithNullableContextOptions(NullableContextOptions.Enable)
        .WithSpecificDiagnosticOptions(new Dictionary<string, ReportDiagnostic> { ["CS1701"] = ReportDiagnostic.Suppress, ["CS1702"] = ReportDiagnostic.Suppress });

    private static readonly string[] OurSteps = [TrackingNames.Specs, TrackingNames.Graphs, WellKnownGeneratorOutputs.SourceOutput];

    public static int Main(string[] args)
    {
        var runs = Argument(args, "--runs", 9);
        var modelCount = Argument(args, "--models", 100);
        var listSteps = args.Contains("--steps");
        var loadBefore = Load();

        // Compilations made from this one share its bound references, as successive compilations
        // of one project in an IDE or a build server do; their sources are bound afresh.
        var empty = CSharpCompilation.Create("BenchProject", [], LoadReferences(), Options);
        var project = Sources.Create(modelCount);
        var trees = project.Select(s => CSharpSyntaxTree.ParseText(s.Text, ParseOptions, s.Path)).ToArray();
        CSharpCompilation Fresh() => empty.AddSyntaxTrees(trees);

        Console.WriteLine($"# ModelDsl generator and analyzer benchmark");
        Console.WriteLine();
        Console.WriteLine($"{modelCount} models + {project.Count - modelCount} unrelated files; {runs} runs (medians); " +
            $"{Environment.ProcessorCount} cores; .NET {Environment.Version}; Roslyn {typeof(Compilation).Assembly.GetName().Version}; " +
            $"load average before: {loadBefore}");
        Console.WriteLine();

        if (!Sane(Fresh(), modelCount))
            return 1;

        CSharpCompilation UnrelatedEdit(CSharpCompilation c) => Replace(c, "Util/Helper0.cs", "value * 2", "value + value");
        if (args.Contains("--breakdown"))
        {
            Breakdown.Run(Fresh, UnrelatedEdit, CreateDriver, ParseOptions, modelCount, runs);
            Console.WriteLine($"Load average after: {Load()}");
            return 0;
        }

        // Cold: the first run in this process (JIT), then medians of fresh drivers on fresh compilations.
        var firstInProcess = Time(() => CreateDriver(false).RunGenerators(Fresh()));
        var generatorCold = new List<double>();
        var generatorBound = new List<double>();
        var frontEndRead = new List<double>();
        var frontEndCompile = new List<double>();
        var emission = new List<double>();
        var parsing = new List<double>();
        var analyzerFrontEnd = new List<double>();
        var analyzerOwn = new List<double>();
        var analyzerPass = new List<double>();
        for (var run = -2; run < runs; run++)
        {
            var compilation = Fresh();
            var cold = Time(() => CreateDriver(false).RunGenerators(compilation));

            var bound = Fresh();
            foreach (var tree in bound.SyntaxTrees)
                bound.GetSemanticModel(tree).GetDeclarationDiagnostics();
            var own = Time(() => CreateDriver(false).RunGenerators(bound));

            var types = Enumerable.Range(0, modelCount).Select(i => bound.GetTypeByMetadataName($"Bench.Models.Model{i:000}")!).ToArray();
            var specs = new ModelDsl.Generators.Model.ModelSpec[modelCount];
            var read = Time(() => { for (var i = 0; i < types.Length; i++) specs[i] = DeclarationReader.Read(types[i], CancellationToken.None); });
            var graphs = new ModelDsl.Generators.Model.ModelGraph[modelCount];
            var compile = Time(() => { for (var i = 0; i < specs.Length; i++) graphs[i] = ModelCompiler.Compile(specs[i]).Graph; });
            var texts = new string[modelCount];
            var emit = Time(() => { for (var i = 0; i < graphs.Length; i++) texts[i] = Emit(graphs[i]); });
            var parse = Time(() => { foreach (var text in texts) CSharpSyntaxTree.ParseText(text, ParseOptions); });
            var located = Time(() => { foreach (var type in types) ModelCompiler.Compile(DeclarationReader.ReadWithLocations(type, CancellationToken.None).Spec); });

            CreateDriver(false).RunGeneratorsAndUpdateCompilation(Fresh(), out var output, out _);
            var (pass, analyzer) = Analyze(output);
            if (run < 0)
                continue; // warm-up
            generatorCold.Add(cold);
            generatorBound.Add(own);
            frontEndRead.Add(read);
            frontEndCompile.Add(compile);
            emission.Add(emit);
            parsing.Add(parse);
            analyzerFrontEnd.Add(located);
            analyzerPass.Add(pass);
            analyzerOwn.Add(analyzer);
        }

        Console.WriteLine("## Cold time per model");
        Console.WriteLine();
        Console.WriteLine("| what | total (ms) | per model (ms) |");
        Console.WriteLine("| --- | ---: | ---: |");
        Row("generator, first run in the process (JIT included)", firstInProcess, modelCount);
        Row("generator, fresh driver on a fresh compilation (binds the declarations it reads)", Median(generatorCold), modelCount);
        Row("generator, fresh driver on a compilation with bound declarations (its own work)", Median(generatorBound), modelCount);
        Row("  of which: reading the declarations (DeclarationReader.Read, bound symbols)", Median(frontEndRead), modelCount);
        Row("  of which: shape inference (ModelCompiler.Compile)", Median(frontEndCompile), modelCount);
        Row("  of which: emission (ModelEmitter.Emit)", Median(emission), modelCount);
        Row("parsing the emitted text (not in the generator's time: the driver parses lazily, the compiler pays it)", Median(parsing), modelCount);
        Row("analyzer, its own time (analyzer driver telemetry), over the generator's output", Median(analyzerOwn), modelCount);
        Row("  of which: its front end on bound symbols (ReadWithLocations + Compile; the rest binds the stage attributes)", Median(analyzerFrontEnd), modelCount);
        Row("analysis pass, whole (GetAnalyzerDiagnosticsAsync: includes the compiler binding the generated code)", Median(analyzerPass), modelCount);
        Console.WriteLine();

        // Incremental: one tracked run, an edit, a second run; which steps re-ran.
        var middle = $"Models/Model{modelCount / 2:000}.cs";
        var edits = new (string Name, Func<CSharpCompilation, CSharpCompilation> Apply)[]
        {
            ("(a) new unrelated file", c => c.AddSyntaxTrees(CSharpSyntaxTree.ParseText(Sources.Unrelated, ParseOptions, "Elsewhere/Unrelated.cs"))),
            ("(a) method body edited in an unrelated file", UnrelatedEdit),
            ("(b) comment added inside one model", c => Replace(c, middle, "    [TransformerEncoder", "    // Four blocks were not enough.\n    [TransformerEncoder")),
            ("(b) user method added to one model", c => Replace(c, middle, "    [TransformerEncoder", "    public static int Twice(int value) => value * 2;\n\n    [TransformerEncoder")),
            ("(c) attribute changed in one model (Depth)", c => ChangeDepth(c, middle)),
        };

        Console.WriteLine("## Incremental runs (step tracking on)");
        Console.WriteLine();
        Console.WriteLine("Counts of each tracked step's outputs by reason: Cached / Unchanged / Modified / New / Removed. " +
            $"`{TrackingNames.Specs}` reads each declaration, `{TrackingNames.Graphs}` infers the shapes, " +
            $"`{WellKnownGeneratorOutputs.SourceOutput}` emits the module (it re-ran where an output is Modified or New).");
        Console.WriteLine();
        Console.WriteLine($"| edit | run (ms) | {string.Join(" | ", OurSteps)} | emission re-ran | generated files changed |");
        Console.WriteLine($"| --- | ---: | {string.Join(" | ", OurSteps.Select(_ => "---"))} | --- | ---: |");
        var allSteps = new List<string>();
        foreach (var (name, apply) in edits)
        {
            var times = new List<double>();
            Dictionary<string, int[]>? counts = null;
            var changedFiles = 0;
            for (var run = -1; run < runs; run++)
            {
                var before = Fresh();
                var driver = CreateDriver(true).RunGenerators(before);
                var beforeSources = GeneratedTexts(driver);
                var after = apply(before);
                var elapsed = Time(() => driver = driver.RunGenerators(after));
                if (run < 0)
                    continue;
                times.Add(elapsed);
                var result = driver.GetRunResult().Results.Single();
                counts = Count(result);
                var afterSources = GeneratedTexts(driver);
                changedFiles = afterSources.Count(s => !beforeSources.TryGetValue(s.Key, out var text) || text != s.Value)
                    + beforeSources.Keys.Count(k => !afterSources.ContainsKey(k));
                if (listSteps && allSteps.Count == 0)
                    allSteps.AddRange(result.TrackedSteps.Keys.Concat(result.TrackedOutputSteps.Keys));
            }
            var source = counts![WellKnownGeneratorOutputs.SourceOutput];
            var reran = source[(int)IncrementalStepRunReason.Modified] + source[(int)IncrementalStepRunReason.New] > 0;
            Console.WriteLine($"| {name} | {Median(times).ToString("0.0", CultureInfo.InvariantCulture)} | " +
                string.Join(" | ", OurSteps.Select(s => Format(counts[s]))) + $" | {(reran ? "yes" : "no")} | {changedFiles} |");
        }
        Console.WriteLine();
        if (listSteps)
            Console.WriteLine("Tracked steps: " + string.Join(", ", allSteps.Distinct()));

        Breakdown.Run(Fresh, UnrelatedEdit, CreateDriver, ParseOptions, modelCount, runs);

        var perModel = Median(generatorCold) / modelCount;
        Console.WriteLine($"Targets: cold generator <= 1 ms per model: {(perModel <= 1 ? "met" : "NOT met")} ({perModel.ToString("0.000", CultureInfo.InvariantCulture)} ms); " +
            "an unrelated edit re-runs no emission step: see the (a) rows.");
        Console.WriteLine($"Load average after: {Load()}");
        return 0;
    }

    // ModelEmitter is internal to the generator; the benchmark reaches it by reflection.
    private static readonly Func<ModelDsl.Generators.Model.ModelGraph, string> Emit =
        typeof(ModelGenerator).Assembly.GetType("ModelDsl.Generators.Emit.ModelEmitter", throwOnError: true)!
            .GetMethod("Emit", [typeof(ModelDsl.Generators.Model.ModelGraph)])!
            .CreateDelegate<Func<ModelDsl.Generators.Model.ModelGraph, string>>();

    private static GeneratorDriver CreateDriver(bool trackSteps) =>
        CSharpGeneratorDriver.Create(
            [new ModelGenerator().AsSourceGenerator()],
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>Every model generates, and nothing reports: the benchmark measures the clean path.</summary>
    private static bool Sane(CSharpCompilation compilation, int modelCount)
    {
        var driver = CreateDriver(false).RunGeneratorsAndUpdateCompilation(compilation, out var output, out var driverDiagnostics);
        var result = driver.GetRunResult().Results.Single();
        var analyzer = output.WithAnalyzers([new ModelAnalyzer()]).GetAnalyzerDiagnosticsAsync(CancellationToken.None).GetAwaiter().GetResult();
        var problems = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error)
            .Concat(driverDiagnostics).Concat(result.Diagnostics).Concat(analyzer)
            .ToList();
        if (result.Exception is null && problems.Count == 0 && result.GeneratedSources.Length == modelCount)
            return true;
        Console.Error.WriteLine($"The benchmark project is not clean ({result.GeneratedSources.Length} of {modelCount} generated; exception: {result.Exception?.Message ?? "none"}):");
        foreach (var problem in problems.Take(20))
            Console.Error.WriteLine($"  {problem}");
        return false;
    }

    private static (double Pass, double Own) Analyze(Compilation compilation)
    {
        var analyzer = new ModelAnalyzer();
        var withAnalyzers = compilation.WithAnalyzers([analyzer],
            new CompilationWithAnalyzersOptions(new AnalyzerOptions([]), onAnalyzerException: null, concurrentAnalysis: false, logAnalyzerExecutionTime: true));
        var pass = Time(() => withAnalyzers.GetAnalyzerDiagnosticsAsync(CancellationToken.None).GetAwaiter().GetResult());
        var telemetry = withAnalyzers.GetAnalyzerTelemetryInfoAsync(analyzer, CancellationToken.None).GetAwaiter().GetResult();
        return (pass, telemetry.ExecutionTime.TotalMilliseconds);
    }

    private static Dictionary<string, int[]> Count(GeneratorRunResult result)
    {
        var counts = new Dictionary<string, int[]>();
        foreach (var step in OurSteps)
        {
            var runs = result.TrackedSteps.TryGetValue(step, out var tracked) ? tracked
                : result.TrackedOutputSteps.TryGetValue(step, out var output) ? output
                : ImmutableArray<IncrementalGeneratorRunStep>.Empty;
            var byReason = new int[Enum.GetValues<IncrementalStepRunReason>().Max(r => (int)r) + 1];
            foreach (var (_, reason) in runs.SelectMany(r => r.Outputs))
                byReason[(int)reason]++;
            counts[step] = byReason;
        }
        return counts;
    }

    private static string Format(int[] c) =>
        string.Join(" / ", new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged, IncrementalStepRunReason.Modified, IncrementalStepRunReason.New, IncrementalStepRunReason.Removed }
            .Select(reason => c[(int)reason]));

    private static Dictionary<string, string> GeneratedTexts(GeneratorDriver driver) =>
        driver.GetRunResult().Results.Single().GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());

    private static CSharpCompilation Replace(CSharpCompilation compilation, string path, string from, string to)
    {
        var tree = compilation.SyntaxTrees.Single(t => t.FilePath == path);
        var text = tree.GetText();
        var at = text.ToString().IndexOf(from, StringComparison.Ordinal);
        if (at < 0)
            throw new InvalidOperationException($"'{from}' is not in {path}.");
        return compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(text.Replace(at, from.Length, to)));
    }

    private static CSharpCompilation ChangeDepth(CSharpCompilation compilation, string path)
    {
        var text = compilation.SyntaxTrees.Single(t => t.FilePath == path).GetText().ToString();
        var at = text.IndexOf("Depth = ", StringComparison.Ordinal) + "Depth = ".Length;
        var end = at;
        while (char.IsDigit(text[end])) end++;
        var depth = int.Parse(text.AsSpan(at, end - at), CultureInfo.InvariantCulture);
        return Replace(compilation, path, $"Depth = {depth}", $"Depth = {depth + 1}");
    }

    private static double Time(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalMilliseconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static void Row(string what, double total, int models) =>
        Console.WriteLine($"| {what} | {total.ToString("0.0", CultureInfo.InvariantCulture)} | {(total / models).ToString("0.000", CultureInfo.InvariantCulture)} |");

    private static int Argument(string[] args, string name, int fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length && int.TryParse(args[at + 1], out var value) ? value : fallback;
    }

    private static string Load()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
        catch (UnauthorizedAccessException)
        {
            return "unknown";
        }
    }

    /// <summary>What a user project of ModelDsl compiles against: the running framework, ModelDsl.dll and TorchSharp.dll.</summary>
    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        var frameworkDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        return Directory.GetFiles(frameworkDirectory, "*.dll").Where(HasMetadata)
            .Append(typeof(ModelAttribute).Assembly.Location)
            .Append(typeof(TorchSharp.torch).Assembly.Location)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray();
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
}
