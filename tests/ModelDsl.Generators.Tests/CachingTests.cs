using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelDsl.Generators.Tests.Infrastructure;

namespace ModelDsl.Generators.Tests;

/// <summary>The incremental pipeline: unrelated edits leave the tracked steps cached; a real change re-runs them.</summary>
public class CachingTests
{
    private const string Helper = """
        namespace FashionVitExample;

        public static class Helper
        {
            public static int Twice(int value) => value * 2;
        }
        """;

    private static readonly string[] TrackedSteps = [TrackingNames.Specs, TrackingNames.Graphs];

    private static (GeneratorDriver Driver, CSharpCompilation Compilation) FirstRun()
    {
        var compilation = TestCompilation.Create([
            TestCompilation.Parse(Declarations.FashionVit, "FashionVit.cs"),
            TestCompilation.Parse(Helper, "Helper.cs"),
        ]);
        var driver = TestCompilation.CreateDriver(trackSteps: true).RunGenerators(compilation);
        return (driver, compilation);
    }

    private static GeneratorRunResult Result(GeneratorDriver driver) => driver.GetRunResult().Results.Single();

    private static SyntaxTree Tree(Compilation compilation, string fileName) =>
        compilation.SyntaxTrees.Single(t => t.FilePath == fileName);

    private static CSharpCompilation Replace(CSharpCompilation compilation, string fileName, string from, string to)
    {
        var tree = Tree(compilation, fileName);
        var text = tree.GetText().ToString();
        Assert.Contains(from, text);
        return compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(tree.GetText().Replace(text.IndexOf(from), from.Length, to)));
    }

    private static void AssertAllCachedOrUnchanged(GeneratorRunResult result)
    {
        foreach (var step in TrackedSteps)
        {
            Assert.True(result.TrackedSteps.ContainsKey(step), $"Step '{step}' is not tracked; tracked: {string.Join(", ", result.TrackedSteps.Keys)}");
            var outputs = result.TrackedSteps[step].SelectMany(s => s.Outputs).ToList();
            Assert.NotEmpty(outputs);
            var reasons = outputs.Select(o => o.Reason).ToList();
            Assert.True(reasons.All(r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged),
                $"Step '{step}' re-ran: {string.Join(", ", reasons)}");
        }
    }

    private static IReadOnlyList<IncrementalStepRunReason> Reasons(GeneratorRunResult result, string step) =>
        result.TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();

    [Fact]
    public void The_tracked_steps_run_and_produce_one_output_per_model()
    {
        var (driver, _) = FirstRun();
        var result = Result(driver);

        foreach (var step in TrackedSteps)
        {
            Assert.True(result.TrackedSteps.ContainsKey(step), $"Step '{step}' is not tracked; tracked: {string.Join(", ", result.TrackedSteps.Keys)}");
            Assert.Equal([IncrementalStepRunReason.New], Reasons(result, step));
        }
        Assert.Single(result.GeneratedSources);
    }

    [Fact]
    public void Adding_an_unrelated_file_leaves_the_pipeline_cached()
    {
        var (driver, compilation) = FirstRun();
        var before = Result(driver).GeneratedSources.Single().SourceText.ToString();

        var edited = compilation.AddSyntaxTrees(TestCompilation.Parse("""
            namespace Elsewhere;

            public sealed class Unrelated
            {
                public string Name { get; init; } = "";
            }
            """, "Unrelated.cs"));
        var result = Result(driver.RunGenerators(edited));

        AssertAllCachedOrUnchanged(result);
        Assert.Equal(before, result.GeneratedSources.Single().SourceText.ToString());
    }

    [Fact]
    public void Editing_a_method_body_in_another_file_leaves_the_pipeline_cached()
    {
        var (driver, compilation) = FirstRun();

        var edited = Replace(compilation, "Helper.cs", "value * 2", "value + value");
        var result = Result(driver.RunGenerators(edited));

        AssertAllCachedOrUnchanged(result);
    }

    [Fact]
    public void Editing_whitespace_and_comments_of_the_model_file_leaves_the_graph_cached()
    {
        var (driver, compilation) = FirstRun();

        var edited = Replace(compilation, "FashionVit.cs", "public partial class FashionVit", "// A comment.\npublic   partial class FashionVit");
        var result = Result(driver.RunGenerators(edited));

        AssertAllCachedOrUnchanged(result);
    }

    [Fact]
    public void Changing_an_attribute_value_re_runs_the_graph_and_changes_the_source()
    {
        var (driver, compilation) = FirstRun();
        var before = Result(driver).GeneratedSources.Single().SourceText.ToString();

        var edited = Replace(compilation, "FashionVit.cs", "Depth = 4", "Depth = 6");
        var result = Result(driver.RunGenerators(edited));

        Assert.Equal([IncrementalStepRunReason.Modified], Reasons(result, TrackingNames.Specs));
        Assert.Equal([IncrementalStepRunReason.Modified], Reasons(result, TrackingNames.Graphs));
        var after = result.GeneratedSources.Single().SourceText.ToString();
        Assert.NotEqual(before, after);
        Assert.Contains("depth: 4", before);
        Assert.Contains("depth: 6", after);
    }

    [Fact]
    public void Equal_declarations_give_equal_specs_and_graphs()
    {
        // The pipeline caches by value: reading the same declaration twice must give equal models.
        var (driver1, _) = FirstRun();
        var (driver2, _) = FirstRun();

        foreach (var step in TrackedSteps)
        {
            var a = Result(driver1).TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Value).Single();
            var b = Result(driver2).TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Value).Single();
            Assert.NotSame(a, b);
            Assert.Equal(a, b);
            Assert.Equal(a.GetHashCode(), b.GetHashCode());
        }
    }
}
