using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Simplification;
using ModelDsl.Generators.Diagnostics;

namespace ModelDsl.CodeFixes;

/// <summary>
/// MD0007: CLS pooling without a CLS token. Declares the token right after the patch embedding,
/// where timm puts it (first in the sequence).
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(AddClsTokenFix)), Shared]
public sealed class AddClsTokenFix : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = [Descriptors.ClsPoolingWithoutClsToken.Id];

    public override FixAllProvider? GetFixAllProvider() => null;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var diagnostic = context.Diagnostics[0];
        if (root?.FindNode(diagnostic.Location.SourceSpan).FirstAncestorOrSelf<ClassDeclarationSyntax>() is not { } model)
            return;
        context.RegisterCodeFix(
            CodeAction.Create("Add a CLS token", _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(model, AddToken(model)))),
                equivalenceKey: nameof(AddClsTokenFix)),
            diagnostic);
    }

    private static ClassDeclarationSyntax AddToken(ClassDeclarationSyntax model)
    {
        var token = (PropertyDeclarationSyntax)SyntaxFactory.ParseMemberDeclaration(
            "[global::ModelDsl.ClsToken] public partial global::TorchSharp.Modules.Parameter Cls { get; }\n")!;
        token = token.WithAdditionalAnnotations(Formatter.Annotation, Simplifier.Annotation);
        var patches = model.Members.OfType<PropertyDeclarationSyntax>().FirstOrDefault(p =>
            p.AttributeLists.SelectMany(l => l.Attributes).Any(a => a.Name.ToString().EndsWith("PatchEmbedding")));
        return patches is null
            ? model.WithMembers(model.Members.Insert(0, token))
            : model.InsertNodesAfter(patches, [token]);
    }
}
