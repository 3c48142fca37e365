using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;
using ModelDsl.Analyzers;

namespace ModelDsl.Generators.Tests.Infrastructure;

/// <summary>
/// Microsoft.CodeAnalysis.Testing's analyzer test, kept hermetic: no reference-assembly package
/// (which it would download), the same explicit references as <see cref="TestCompilation"/>, C# 13.
/// The generator does not run here, so the compiler's complaints about the partial members it
/// would implement are not checked (<see cref="CompilerDiagnostics.None"/>).
/// </summary>
internal sealed class ModelAnalyzerTest : CSharpAnalyzerTest<ModelAnalyzer, DefaultVerifier>
{
    public ModelAnalyzerTest(string markup)
    {
        TestCode = markup;
        ReferenceAssemblies = new ReferenceAssemblies("net10.0");
        TestState.AdditionalReferences.AddRange(TestCompilation.References);
        CompilerDiagnostics = CompilerDiagnostics.None;
    }

    protected override ParseOptions CreateParseOptions() =>
        ((CSharpParseOptions)base.CreateParseOptions()).WithLanguageVersion(LanguageVersion.CSharp13);

    protected override CompilationOptions CreateCompilationOptions() =>
        ((CSharpCompilationOptions)base.CreateCompilationOptions()).WithNullableContextOptions(NullableContextOptions.Enable);
}
