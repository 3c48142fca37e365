using System.Threading;
using Microsoft.CodeAnalysis;

namespace ModelDsl.Generators.Tests.Infrastructure;

/// <summary>
/// Per-file diagnostic severities from .editorconfig text, parsed by Roslyn's own
/// <see cref="AnalyzerConfigSet"/>, as the command-line compiler applies them.
/// </summary>
internal sealed class EditorConfigOptions(string path, string text) : SyntaxTreeOptionsProvider
{
    private readonly AnalyzerConfigSet set = AnalyzerConfigSet.Create(System.Collections.Immutable.ImmutableArray.Create(AnalyzerConfig.Parse(text, path)));

    public override GeneratedKind IsGenerated(SyntaxTree tree, CancellationToken cancellationToken) => GeneratedKind.Unknown;

    public override bool TryGetDiagnosticValue(SyntaxTree tree, string diagnosticId, CancellationToken cancellationToken, out ReportDiagnostic severity) =>
        set.GetOptionsForSourcePath(tree.FilePath).TreeOptions.TryGetValue(diagnosticId, out severity);

    public override bool TryGetGlobalDiagnosticValue(string diagnosticId, CancellationToken cancellationToken, out ReportDiagnostic severity) =>
        set.GlobalConfigOptions.TreeOptions.TryGetValue(diagnosticId, out severity);
}
