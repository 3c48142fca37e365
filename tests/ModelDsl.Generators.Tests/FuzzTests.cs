using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text.RegularExpressions;
using ModelDsl.Generators.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// Seeded random mutations of the FashionVit declaration, as a user produces them while typing:
/// odd argument values, broken shapes, deleted members and modifiers, truncated text. Neither the
/// generator nor the analyzer may throw (no exception, no AD0001, no CS8785).
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    private const int Seed = 20261130;
    private const int Iterations = 300;

    // Integers stay below the values that make the nearest-divisor searches slow (see
    // FrontEndRobustnessTests.Huge_values_are_checked_quickly); that is a hang, not a crash.
    private static readonly string[] Values =
    [
        "0", "-1", "-7", "1", "2", "3", "4", "5", "7", "13", "16", "64", "100", "1000", "65536",
        "0.0", "-0.5", "0.5", "1.5", "4.0", "1e308", "double.NaN", "double.PositiveInfinity", "-double.Epsilon",
        "Pool.Cls", "Pool.Avg", "Pool.Map", "(Pool)7", "(Pool)(-1)",
        "PositionCoverage.PatchesOnly", "PositionCoverage.PrefixAndPatches", "(PositionCoverage)9",
        "true", "false", "\"label\"", "\"\"", "\"image\"", "null", "", "Dim", "4 +", "int.MaxValue / 65536",
    ];

    private static readonly string[] Shapes =
    [
        "B,1,28,28", "B,3,32,32", "B,1,28", "B,C,H,W", "", "B,1,0,0", "B,1,-28,28", "B,1,28/0,28",
        "B,1,(28,28", "[B,1,28,28", "B,1,28*28,28", "B,1,H,28", "N+1,1,28,28", "B,1,2*14,28-0", "B,,28,28",
        "B,1,28,28,1", "B,1,H/7,W", "B,1,28,28]", "b,1,28,28", "B, 1, 28, 28 ",
    ];

    private static readonly char[] Noise = ['(', ')', '[', ']', '"', ',', '=', ';', '{', '}', ' ', '\n', '0', '-'];

    private static readonly Regex NamedArgument = new(@"\b(\w+) = ([^,)\]\n]+)", RegexOptions.Compiled);
    private static readonly Regex ShapeArgument = new("Shape\\(\"([^\"]*)\"\\)", RegexOptions.Compiled);

    internal static (string Source, List<string> Log) Mutate(string source, Random random)
    {
        var log = new List<string>();
        var count = random.Next(1, 4);
        for (var m = 0; m < count; m++)
        {
            switch (random.Next(7))
            {
                case 0 or 1:
                {
                    var matches = NamedArgument.Matches(source);
                    if (matches.Count == 0) goto case 6;
                    var match = matches[random.Next(matches.Count)];
                    var value = Values[random.Next(Values.Length)];
                    source = source.Remove(match.Groups[2].Index, match.Groups[2].Length).Insert(match.Groups[2].Index, value);
                    log.Add($"{match.Groups[1].Value} = {value}");
                    break;
                }
                case 2:
                {
                    var match = ShapeArgument.Match(source);
                    if (!match.Success) goto case 6;
                    var shape = Shapes[random.Next(Shapes.Length)];
                    source = source.Remove(match.Groups[1].Index, match.Groups[1].Length).Insert(match.Groups[1].Index, shape);
                    log.Add($"Shape(\"{shape}\")");
                    break;
                }
                case 3:
                {
                    // Delete a member: an attribute line and the line after it, or any one line.
                    var lines = source.Split('\n').ToList();
                    var attributes = lines.Select((l, i) => (l, i)).Where(x => x.l.TrimStart().StartsWith('[')).Select(x => x.i).ToList();
                    if (attributes.Count > 0 && random.Next(3) > 0)
                    {
                        var at = attributes[random.Next(attributes.Count)];
                        log.Add($"delete member at line {at + 1}: {lines[at].Trim()}");
                        lines.RemoveRange(at, Math.Min(2, lines.Count - at));
                    }
                    else
                    {
                        var at = random.Next(lines.Count);
                        log.Add($"delete line {at + 1}: {lines[at].Trim()}");
                        lines.RemoveAt(at);
                    }
                    source = string.Join('\n', lines);
                    break;
                }
                case 4:
                {
                    var occurrences = Regex.Matches(source, @"\bpartial ").Select(x => x.Index).ToList();
                    if (occurrences.Count == 0) goto case 6;
                    var at = occurrences[random.Next(occurrences.Count)];
                    source = source.Remove(at, "partial ".Length);
                    log.Add($"delete 'partial' at {at}");
                    break;
                }
                case 5:
                {
                    var at = random.Next(source.Length);
                    source = source.Substring(0, at);
                    log.Add($"truncate at {at}");
                    break;
                }
                case 6:
                {
                    var at = random.Next(source.Length + 1);
                    var c = Noise[random.Next(Noise.Length)];
                    source = source.Insert(at, c.ToString());
                    log.Add($"insert '{(c == '\n' ? "\\n" : c.ToString())}' at {at}");
                    break;
                }
            }
        }
        return (source, log);
    }

    [Fact]
    public void Random_mutations_of_FashionVit_never_crash_generator_or_analyzer()
    {
        var original = Declarations.FashionVit;
        var random = new Random(Seed);
        // Mutant #i is reproducible from the seed.
        var mutants = Enumerable.Range(0, Iterations).Select(_ => Mutate(original, random)).ToArray();
        var failures = new List<string>();
        var generatedSomething = 0;
        var reportedSomething = 0;
        var clock = Stopwatch.StartNew();

        for (var i = 0; i < Iterations; i++)
        {
            var (source, log) = mutants[i];
            // Generator and analyzer each over the user's compilation, as an editor runs them side by
            // side. (A build runs the analyzer over the generator's output: same model symbols and
            // attributes, but binding the generated method bodies makes each mutant ~6x slower.)
            var compilation = TestCompilation.Create(source);
            var generator = TestCompilation.CreateDriver().RunGenerators(compilation).GetRunResult().Results.Single();
            var analyzer = TestCompilation.RunAnalyzer(compilation);

            var problems = new List<string>();
            if (generator.Exception is { } exception)
                problems.Add("generator threw " + exception);
            problems.AddRange(analyzer.Exceptions.Select(e => "analyzer threw " + e));
            problems.AddRange(analyzer.Diagnostics.Concat(generator.Diagnostics)
                .Where(d => d.Id is "AD0001" or "CS8785" or "CS8784")
                .Select(d => d.Id + ": " + d.GetMessage()));
            if (problems.Count > 0)
                failures.Add($"#{i} [{string.Join("; ", log)}]: {string.Join(" | ", problems)}");

            if (generator.GeneratedSources.Length > 0) generatedSomething++;
            if (analyzer.Diagnostics.Any(d => d.Id.StartsWith("MD", StringComparison.Ordinal))) reportedSomething++;
        }
        output.WriteLine($"{Iterations} mutants (seed {Seed}) in {clock.Elapsed.TotalSeconds:0.0} s: " +
            $"{generatedSomething} generated a module, {reportedSomething} got ModelDsl diagnostics.");
        Assert.True(failures.Count == 0, $"{failures.Count} mutant(s) crashed (seed {Seed}):\n" + string.Join("\n", failures.Take(10)));
        // Not vacuous: most mutants still reach the generator, and many reach a diagnostic.
        Assert.True(generatedSomething > Iterations / 3, $"Only {generatedSomething} mutants generated a module.");
        Assert.True(reportedSomething > Iterations / 10, $"Only {reportedSomething} mutants got a ModelDsl diagnostic.");
    }

    [Fact]
    public void Mutations_are_reproducible_from_the_seed()
    {
        var a = Enumerable.Range(0, 20).Select(_ => 0).Aggregate((new Random(Seed), new List<string>()), (s, _) => { s.Item2.Add(Mutate(Declarations.FashionVit, s.Item1).Source); return s; }).Item2;
        var b = Enumerable.Range(0, 20).Select(_ => 0).Aggregate((new Random(Seed), new List<string>()), (s, _) => { s.Item2.Add(Mutate(Declarations.FashionVit, s.Item1).Source); return s; }).Item2;

        Assert.Equal(a, b);
        Assert.True(a.Distinct().Count() > 15, "The mutations hardly vary.");
    }
}
