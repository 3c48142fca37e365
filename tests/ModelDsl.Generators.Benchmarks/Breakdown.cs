using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.Benchmarks;

/// <summary>
/// Where the time of a run after an unrelated edit goes, measured side by side in one process:
/// the whole driver run (step tracking off and on), Roslyn's own per-step timers, generators that
/// stop after a given part of the pipeline (the same <c>ForAttributeWithMetadataName</c> with a
/// transform that only names the class, then one that only runs our first-declaration check), and
/// the pieces of our transform replayed by hand on a fresh copy of the edited compilation.
/// </summary>
internal static class Breakdown
{
    /// <summary>Roslyn's part: the same attribute lookup, a transform that reads nothing.</summary>
    private sealed class NameOnlyGenerator : IIncrementalGenerator
    {
        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            var names = context.SyntaxProvider.ForAttributeWithMetadataName(
                StageCatalog.ModelAttribute,
                static (node, _) => node is ClassDeclarationSyntax,
                static (ctx, _) => ctx.TargetSymbol.Name);
            context.RegisterSourceOutput(names, static (_, _) => { });
        }
    }

    /// <summary>A generator with no input: the driver's fixed cost of a run on a new compilation.</summary>
    private sealed class EmptyGenerator : IIncrementalGenerator
    {
        public void Initialize(IncrementalGeneratorInitializationContext context) =>
            context.RegisterSourceOutput(context.ParseOptionsProvider, static (_, _) => { });
    }

    public static void Run(
        Func<CSharpCompilation> fresh,
        Func<CSharpCompilation, CSharpCompilation> edit,
        Func<bool, GeneratorDriver> createDriver,
        CSharpParseOptions parseOptions,
        int modelCount,
        int runs)
    {
        GeneratorDriver Driver(IIncrementalGenerator generator) =>
            CSharpGeneratorDriver.Create([generator.AsSourceGenerator()], parseOptions: parseOptions,
                driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: false));

        var rows = new Dictionary<string, List<double>>();
        var stepTimes = new Dictionary<string, List<double>>();
        void Add(Dictionary<string, List<double>> into, string key, double value)
        {
            if (!into.TryGetValue(key, out var list))
                into[key] = list = [];
            list.Add(value);
        }

        for (var run = -2; run < runs; run++)
        {
            var before = fresh();
            var untracked = createDriver(false).RunGenerators(before);
            var tracked = createDriver(true).RunGenerators(before);
            var nameOnly = Driver(new NameOnlyGenerator()).RunGenerators(before);
            var empty = Driver(new EmptyGenerator()).RunGenerators(before);
            var beforeSpecs = Specs(before, modelCount);

            // Each measurement gets its own edited compilation: an edited compilation binds afresh,
            // and one that a measurement already bound would flatter the next.
            var tUntracked = Time(() => untracked = untracked.RunGenerators(edit(before)), out _);
            var timing = untracked.GetTimingInfo();
            var tTracked = Time(() => tracked = tracked.RunGenerators(edit(before)), out _);
            var tNameOnly = Time(() => nameOnly = nameOnly.RunGenerators(edit(before)), out _);
            var tEmpty = Time(() => empty = empty.RunGenerators(edit(before)), out _);

            // Our transform replayed by hand on a fresh edited compilation, in the driver's order.
            var after = edit(before);
            var trees = after.SyntaxTrees.Where(t => t.FilePath.StartsWith("Models/", StringComparison.Ordinal)).ToArray();
            var symbols = new INamedTypeSymbol[trees.Length];
            var tSymbols = Time(() =>
            {
                for (var i = 0; i < trees.Length; i++)
                {
                    var model = after.GetSemanticModel(trees[i]);
                    var node = trees[i].GetRoot().DescendantNodes().OfType<ClassDeclarationSyntax>().First();
                    symbols[i] = model.GetDeclaredSymbol(node)!;
                    _ = symbols[i].GetAttributes(); // what ForAttributeWithMetadataName binds to match [Model]
                }
            }, out _);
            var tFirst = Time(() =>
            {
                foreach (var symbol in symbols)
                    _ = symbol.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == StageCatalog.ModelAttribute)?.ApplicationSyntaxReference;
            }, out _);
            var afterSpecs = new ModelSpec[symbols.Length];
            var tRead = Time(() => { for (var i = 0; i < symbols.Length; i++) afterSpecs[i] = DeclarationReader.Read(symbols[i], CancellationToken.None); }, out _);
            // The same read again on the now bound symbols: our own work without Roslyn's binding.
            var tReread = Time(() => { for (var i = 0; i < symbols.Length; i++) _ = DeclarationReader.Read(symbols[i], CancellationToken.None); }, out _);
            var equal = true;
            var tEquals = Time(() => { for (var i = 0; i < afterSpecs.Length; i++) equal &= afterSpecs[i].Equals(beforeSpecs[i]); }, out _);
            var tHash = Time(() => { foreach (var spec in afterSpecs) _ = spec.GetHashCode(); }, out _);
            if (!equal)
                throw new InvalidOperationException("An unrelated edit changed a spec.");

            if (run < 0)
                continue;
            Add(rows, "driver run, step tracking off (what an IDE or a build runs)", tUntracked);
            Add(rows, "  the driver's own timer for the generator (GeneratorDriverTimingInfo)", timing.GeneratorTimes.Single().ElapsedTime.TotalMilliseconds);
            Add(rows, "driver run, step tracking on", tTracked);
            Add(rows, "same ForAttributeWithMetadataName, transform returns the class name (Roslyn's floor)", tNameOnly);
            Add(rows, "a generator with no syntax input (the driver's fixed cost)", tEmpty);
            Add(rows, "by hand: semantic model, declared symbol, its attributes (what the lookup binds)", tSymbols);
            Add(rows, "by hand: the first-[Model]-declaration check", tFirst);
            Add(rows, "by hand: DeclarationReader.Read on the fresh symbols (binds the members' attributes)", tRead);
            Add(rows, "by hand: DeclarationReader.Read again, symbols bound (our own work)", tReread);
            Add(rows, "by hand: comparing the new specs with the old (ModelSpec.Equals)", tEquals);
            Add(rows, "by hand: hashing the new specs (ModelSpec.GetHashCode)", tHash);
            foreach (var (name, steps) in tracked.GetRunResult().Results.Single().TrackedSteps)
                Add(stepTimes, name, steps.Sum(s => s.ElapsedTime.TotalMilliseconds));
            foreach (var (name, steps) in tracked.GetRunResult().Results.Single().TrackedOutputSteps)
                Add(stepTimes, name, steps.Sum(s => s.ElapsedTime.TotalMilliseconds));
        }

        Console.WriteLine("## Where an unrelated edit's time goes (a method body edited in an unrelated file)");
        Console.WriteLine();
        Console.WriteLine("Medians; every row in the same runs, side by side. The by-hand rows replay the generator's transform on a fresh copy of the edited compilation.");
        Console.WriteLine();
        Console.WriteLine("| what | ms |");
        Console.WriteLine("| --- | ---: |");
        foreach (var (what, values) in rows)
            Console.WriteLine($"| {what} | {Median(values).ToString("0.00", CultureInfo.InvariantCulture)} |");
        Console.WriteLine();
        Console.WriteLine("Roslyn's per-step timers (IncrementalGeneratorRunStep.ElapsedTime, summed over a step's runs; a step's time includes none of its inputs'):");
        Console.WriteLine();
        Console.WriteLine("| step | ms |");
        Console.WriteLine("| --- | ---: |");
        foreach (var (name, values) in stepTimes.OrderByDescending(s => Median(s.Value)))
            Console.WriteLine($"| {name} | {Median(values).ToString("0.00", CultureInfo.InvariantCulture)} |");
        Console.WriteLine();
    }

    private static ModelSpec[] Specs(CSharpCompilation compilation, int modelCount) =>
        compilation.SyntaxTrees.Where(t => t.FilePath.StartsWith("Models/", StringComparison.Ordinal))
            .Select(t => (INamedTypeSymbol)compilation.GetSemanticModel(t).GetDeclaredSymbol(t.GetRoot().DescendantNodes().OfType<ClassDeclarationSyntax>().First())!)
            .Select(s => DeclarationReader.Read(s, CancellationToken.None))
            .ToArray() is { } specs && specs.Length == modelCount ? specs : throw new InvalidOperationException("Not every model was found.");

    private static double Time(Action action, out double elapsed)
    {
        var clock = Stopwatch.StartNew();
        action();
        return elapsed = clock.Elapsed.TotalMilliseconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
