using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit.Sdk;

namespace ModelDsl.Generators.Tests.Infrastructure;

/// <summary>Runs generator and analyzer over inline markup and checks the analyzer's diagnostics by ID and exact span.</summary>
internal static class DiagnosticAssert
{
    /// <summary>
    /// The analyzer must report exactly the marked diagnostics (no more, no fewer), each at its
    /// marked span; neither generator nor analyzer may throw. Returns the analyzer's diagnostics.
    /// </summary>
    public static IReadOnlyList<Diagnostic> Verify(string markup)
    {
        var (source, expected) = Markup.Parse(markup);
        var run = TestCompilation.Run(source);
        AssertNoCrash(run);

        var actual = run.Analyzer.Diagnostics.OrderBy(d => d.Location.SourceSpan.Start).ThenBy(d => d.Id).ToList();
        var expectedKeys = expected.Select(e => (e.Id, e.Span)).OrderBy(k => k.Span.Start).ThenBy(k => k.Id).ToList();
        var actualKeys = actual.Select(d => (d.Id, d.Location.SourceSpan)).ToList();
        if (!expectedKeys.SequenceEqual(actualKeys) || actual.Any(d => d.Location.SourceTree?.FilePath != "Model.cs"))
        {
            throw new XunitException(
                "The analyzer's diagnostics differ from the markup.\nExpected:\n" +
                (expected.Count == 0 ? "  (none)" : string.Join("\n", expected.Select(e => $"  {e.Id} on \"{e.Text}\""))) +
                "\nActual:\n" + TestCompilation.Describe(actual));
        }
        return actual;
    }

    /// <summary>No diagnostics at all from analyzer or generator, no warning or error in the user's source, and no error in the generated files.</summary>
    public static void Clean(string source)
    {
        var run = TestCompilation.Run(source);
        AssertNoCrash(run);
        // Info diagnostics (MD0049: a [CustomModule]'s parameters are not counted) inform; they are not problems.
        var problems = run.Analyzer.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning)
            .Concat(run.Generator.Result.Diagnostics)
            .Concat(run.Generator.DriverDiagnostics)
            // Warnings in the user's source; errors anywhere, the generated files included (issue 16: never a
            // compiler error inside a generated file for a declaration the diagnostics accept).
            .Concat(run.Generator.Output.GetDiagnostics().Where(d =>
                d.Location.SourceTree?.FilePath == "Model.cs" && d.Severity >= DiagnosticSeverity.Warning || d.Severity == DiagnosticSeverity.Error))
            .ToList();
        if (problems.Count > 0)
            throw new XunitException("Expected no diagnostics, got:\n" + TestCompilation.Describe(problems));
    }

    public static void AssertNoCrash(FullRun run)
    {
        if (run.Generator.Result.Exception is { } generatorException)
            throw new XunitException("The generator threw: " + generatorException);
        if (run.Analyzer.Exceptions.Count > 0)
            throw new XunitException("The analyzer threw: " + run.Analyzer.Exceptions[0]);
        var crashes = run.Analyzer.Diagnostics.Concat(run.Generator.DriverDiagnostics).Where(d => d.Id is "AD0001" or "CS8785" or "CS8784").ToList();
        if (crashes.Count > 0)
            throw new XunitException("A component failed:\n" + TestCompilation.Describe(crashes));
    }
}
