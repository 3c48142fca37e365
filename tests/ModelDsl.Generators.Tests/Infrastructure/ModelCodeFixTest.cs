using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;
using ModelDsl.Analyzers;

namespace ModelDsl.Generators.Tests.Infrastructure;

/// <summary>
/// Microsoft.CodeAnalysis.Testing's code-fix test, hermetic like <see cref="ModelAnalyzerTest"/>:
/// no reference-assembly package, <see cref="TestCompilation.References"/>, C# 13. It checks the
/// marked diagnostics before, the exact fixed text after (formatting and trivia included), that
/// the fixed text has no diagnostic left, and Fix All where the provider has one. The generator
/// does not run here; <see cref="CodeFixTests"/> runs it on the fixed text separately.
/// </summary>
internal sealed class ModelCodeFixTest<TFix> : CSharpCodeFixTest<ModelAnalyzer, TFix, DefaultVerifier>
    where TFix : CodeFixProvider, new()
{
    public ModelCodeFixTest(string markup, string fixedSource)
    {
        TestCode = markup;
        FixedCode = fixedSource;
        ReferenceAssemblies = new ReferenceAssemblies("net10.0");
        TestState.AdditionalReferences.AddRange(TestCompilation.References);
        FixedState.AdditionalReferences.AddRange(TestCompilation.References);
        CompilerDiagnostics = CompilerDiagnostics.None;
    }

    protected override ParseOptions CreateParseOptions() =>
        ((CSharpParseOptions)base.CreateParseOptions()).WithLanguageVersion(LanguageVersion.CSharp13);

    protected override CompilationOptions CreateCompilationOptions() =>
        ((CSharpCompilationOptions)base.CreateCompilationOptions()).WithNullableContextOptions(NullableContextOptions.Enable);
}
