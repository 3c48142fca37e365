using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;
using ModelDsl.Generators.Tests.Infrastructure;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// The analyzer reports through the compiler's diagnostic pipeline, so #pragma and .editorconfig
/// severities apply. Checked with Microsoft.CodeAnalysis.Testing, which also re-checks every
/// failing case of <see cref="DiagnosticTests"/> as a second, independent verifier.
/// </summary>
public class SuppressionTests
{
    private static readonly string AllFrozen = DiagnosticTests.Edit(DiagnosticTests.Valid,
        ("Dim = 64)]", "Dim = 64, Frozen = true)]"),
        ("[ClsToken]", "[ClsToken(Frozen = true)]"),
        ("[PositionEmbedding]", "[PositionEmbedding(Frozen = true)]"),
        ("Heads = 4)]", "Heads = 4, Frozen = true)]"),
        ("Classes = 10)]", "Classes = 10, Frozen = true)]"));

    private const string ClassLine = "public partial class Vit";

    [Fact]
    public async Task MD0015_is_reported_as_a_warning_without_configuration()
    {
        var test = new ModelAnalyzerTest(DiagnosticTests.Edit(AllFrozen, (ClassLine, "public partial class {|#0:Vit|}")));
        test.ExpectedDiagnostics.Add(new DiagnosticResult("MD0015", DiagnosticSeverity.Warning).WithLocation(0).WithArguments("Vit"));

        await test.RunAsync();
    }

    [Fact]
    public async Task Pragma_warning_disable_suppresses_MD0015()
    {
        var test = new ModelAnalyzerTest(DiagnosticTests.Edit(AllFrozen, ("[Model]", "#pragma warning disable MD0015\n[Model]")));

        await test.RunAsync();
    }

    [Fact]
    public async Task Pragma_for_another_id_does_not_suppress_MD0015()
    {
        var test = new ModelAnalyzerTest(DiagnosticTests.Edit(AllFrozen,
            ("[Model]", "#pragma warning disable MD0014\n[Model]"),
            (ClassLine, "public partial class {|MD0015:Vit|}")));

        await test.RunAsync();
    }

    [Fact]
    public async Task Editorconfig_severity_none_suppresses_MD0015()
    {
        var test = new ModelAnalyzerTest(AllFrozen);
        test.TestState.AnalyzerConfigFiles.Add(("/.editorconfig", "root = true\n\n[*.cs]\ndotnet_diagnostic.MD0015.severity = none\n"));

        await test.RunAsync();
    }

    [Theory]
    [InlineData("none", null)]
    [InlineData("suggestion", DiagnosticSeverity.Info)]
    [InlineData("warning", DiagnosticSeverity.Warning)]
    [InlineData("error", DiagnosticSeverity.Error)]
    public void Editorconfig_severity_applies_to_MD0015_in_a_build(string configured, DiagnosticSeverity? expected)
    {
        // Microsoft.CodeAnalysis.Testing 1.1.4 with Workspaces 4.14 applies "none" but not an
        // escalation to "error" (it still reports a warning), so severities are checked on the
        // compiler's path: Roslyn's AnalyzerConfigSet over the files' paths, then CompilationWithAnalyzers.
        var tree = TestCompilation.Parse(AllFrozen, "/project/Model.cs");
        var compilation = TestCompilation.Create([tree]);
        compilation = compilation.WithOptions(compilation.Options.WithSyntaxTreeOptionsProvider(
            new EditorConfigOptions("/project/.editorconfig", $"root = true\n\n[*.cs]\ndotnet_diagnostic.MD0015.severity = {configured}\n")));

        var run = TestCompilation.RunAnalyzer(compilation);

        Assert.Empty(run.Exceptions);
        if (expected is null)
        {
            Assert.Empty(run.Diagnostics);
        }
        else
        {
            var diagnostic = Assert.Single(run.Diagnostics);
            Assert.Equal("MD0015", diagnostic.Id);
            Assert.Equal(expected, diagnostic.Severity);
        }
    }

    [Fact]
    public void Editorconfig_for_other_files_leaves_MD0015_alone()
    {
        var tree = TestCompilation.Parse(AllFrozen, "/project/Model.cs");
        var compilation = TestCompilation.Create([tree]);
        compilation = compilation.WithOptions(compilation.Options.WithSyntaxTreeOptionsProvider(
            new EditorConfigOptions("/project/.editorconfig", "root = true\n\n[Other.cs]\ndotnet_diagnostic.MD0015.severity = none\n")));

        var diagnostic = Assert.Single(TestCompilation.RunAnalyzer(compilation).Diagnostics);
        Assert.Equal(DiagnosticSeverity.Warning, diagnostic.Severity);
    }

    [Fact]
    public void Pragma_suppresses_MD0015_in_a_full_build_too()
    {
        // The same through the generator + CompilationWithAnalyzers path the other tests use.
        DiagnosticAssert.Verify(DiagnosticTests.Edit(AllFrozen, (ClassLine, "public partial class {|MD0015:Vit|}")));
        DiagnosticAssert.Verify(DiagnosticTests.Edit(AllFrozen, ("[Model]", "#pragma warning disable MD0015\n[Model]")));
    }

    public static TheoryData<string> FailingNames => DiagnosticTests.FailingNames;

    [Theory]
    [MemberData(nameof(FailingNames))]
    public async Task Testing_framework_agrees_on_each_failing_case(string name)
    {
        var @case = DiagnosticTests.AllFailing[name];

        await new ModelAnalyzerTest(@case.Markup).RunAsync();
    }
}
