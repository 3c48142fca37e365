using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
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
/// where timm puts it (first in the sequence), laid out like the stage members around it: the
/// attribute on its own line, the same indentation and line ending, a blank line before it.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(AddClsTokenFix)), Shared]
public sealed class AddClsTokenFix : CodeFixProvider
{
    private static readonly string[] EmbeddingAttributes = ["ModelDsl.PatchEmbeddingAttribute", "ModelDsl.ChannelPatchEmbeddingAttribute"];

    public override ImmutableArray<string> FixableDiagnosticIds { get; } = [Descriptors.ClsPoolingWithoutClsToken.Id];

    public override FixAllProvider? GetFixAllProvider() => null;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var diagnostic = context.Diagnostics[0];
        if (root?.FindNode(diagnostic.Location.SourceSpan).FirstAncestorOrSelf<ClassDeclarationSyntax>() is not { } model)
            return;
        context.RegisterCodeFix(
            CodeAction.Create("Add a CLS token", async cancellationToken =>
                {
                    var semanticModel = await context.Document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
                    return context.Document.WithSyntaxRoot(root.ReplaceNode(model, AddToken(model, semanticModel, cancellationToken)));
                },
                equivalenceKey: nameof(AddClsTokenFix)),
            diagnostic);
    }

    private static ClassDeclarationSyntax AddToken(ClassDeclarationSyntax model, SemanticModel? semanticModel, CancellationToken cancellationToken)
    {
        var patches = model.Members.OfType<PropertyDeclarationSyntax>().FirstOrDefault(p => IsEmbedding(p, semanticModel, cancellationToken));
        var neighbour = patches ?? model.Members.FirstOrDefault();
        var name = UniqueName(model, "Cls");
        if (neighbour is null)
        {
            var alone = (PropertyDeclarationSyntax)SyntaxFactory.ParseMemberDeclaration(
                $"[global::ModelDsl.ClsToken]\npublic partial global::TorchSharp.Modules.Parameter {name} {{ get; }}\n")!;
            return model.AddMembers(alone.WithAdditionalAnnotations(Formatter.Annotation, Simplifier.Annotation));
        }

        var indent = Indentation(neighbour);
        var eol = EndOfLine(model);
        var token = (PropertyDeclarationSyntax)SyntaxFactory.ParseMemberDeclaration(
            $"{indent}[global::ModelDsl.ClsToken]{eol}{indent}public partial global::TorchSharp.Modules.Parameter {name} {{ get; }}{eol}")!;
        token = token.WithAdditionalAnnotations(Simplifier.Annotation);
        if (patches is not null)
        {
            // A blank line before the token; the member after it keeps its own leading blank line.
            token = token.WithLeadingTrivia(token.GetLeadingTrivia().Insert(0, SyntaxFactory.EndOfLine(eol)));
            return model.InsertNodesAfter(patches, [token]);
        }
        // First member: it takes over the leading trivia (comments) of the member that was first,
        // which then gets a blank line and its indentation.
        var first = model.Members[0];
        var moved = first.WithLeadingTrivia(SyntaxFactory.EndOfLine(eol), SyntaxFactory.Whitespace(indent));
        token = token.WithLeadingTrivia(first.GetLeadingTrivia());
        return model.WithMembers(model.Members.Replace(first, moved).Insert(0, token));
    }

    private static bool IsEmbedding(PropertyDeclarationSyntax property, SemanticModel? semanticModel, CancellationToken cancellationToken) =>
        property.AttributeLists.SelectMany(l => l.Attributes).Any(attribute =>
            semanticModel?.GetTypeInfo(attribute, cancellationToken).Type is { } type
                ? EmbeddingAttributes.Contains(type.ToDisplayString())
                : attribute.Name.ToString() is var text && (text.EndsWith("PatchEmbedding") || text.EndsWith("PatchEmbeddingAttribute")));

    private static string Indentation(MemberDeclarationSyntax member)
    {
        var leading = member.GetLeadingTrivia();
        var last = leading.LastOrDefault();
        return last.IsKind(SyntaxKind.WhitespaceTrivia) ? last.ToString() : "    ";
    }

    private static string EndOfLine(SyntaxNode node) =>
        node.DescendantTrivia().FirstOrDefault(t => t.IsKind(SyntaxKind.EndOfLineTrivia)).ToString() is { Length: > 0 } eol ? eol : "\n";

    private static string UniqueName(ClassDeclarationSyntax model, string name)
    {
        var taken = model.Members.SelectMany(member => member switch
        {
            PropertyDeclarationSyntax p => new[] { p.Identifier.Text },
            MethodDeclarationSyntax m => new[] { m.Identifier.Text },
            FieldDeclarationSyntax f => f.Declaration.Variables.Select(v => v.Identifier.Text),
            BaseTypeDeclarationSyntax t => new[] { t.Identifier.Text },
            _ => Enumerable.Empty<string>(),
        }).ToImmutableHashSet();
        if (!taken.Contains(name) && model.Identifier.Text != name)
            return name;
        for (var i = 2; ; i++)
        {
            if (!taken.Contains(name + i))
                return name + i;
        }
    }
}
