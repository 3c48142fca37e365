using System.Collections.Immutable;
using System.Composition;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ModelDsl.Generators.Diagnostics;

namespace ModelDsl.CodeFixes;

/// <summary>Adds the missing <c>partial</c> to a model class (MD0001) or a stage property (MD0002).</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(MakePartialFix)), Shared]
public sealed class MakePartialFix : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } =
        [Descriptors.ModelNotPartial.Id, Descriptors.StageNotPartial.Id];

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (var diagnostic in context.Diagnostics)
        {
            var node = root?.FindNode(diagnostic.Location.SourceSpan);
            MemberDeclarationSyntax? member = (MemberDeclarationSyntax?)node?.FirstAncestorOrSelf<TypeDeclarationSyntax>() is { } type && diagnostic.Id == Descriptors.ModelNotPartial.Id
                ? type
                : node?.FirstAncestorOrSelf<PropertyDeclarationSyntax>();
            if (root is null || member is null || member.Modifiers.Any(SyntaxKind.PartialKeyword))
                continue;
            context.RegisterCodeFix(
                CodeAction.Create("Make it partial", _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(member, AddPartial(member)))),
                    equivalenceKey: nameof(MakePartialFix)),
                diagnostic);
        }
    }

    // 'partial' goes last among the modifiers, just before the type or the 'class' keyword; with
    // no modifiers it takes over that token's leading trivia (attributes stay where they are).
    private static MemberDeclarationSyntax AddPartial(MemberDeclarationSyntax member)
    {
        var partial = SyntaxFactory.Token(SyntaxKind.PartialKeyword).WithTrailingTrivia(SyntaxFactory.Space);
        if (member.Modifiers.Count > 0)
            return member.WithModifiers(member.Modifiers.Add(partial));
        var next = member switch
        {
            PropertyDeclarationSyntax property => property.Type.GetFirstToken(),
            TypeDeclarationSyntax type => type.Keyword,
            _ => member.GetFirstToken(),
        };
        var moved = member.ReplaceToken(next, next.WithLeadingTrivia());
        return moved.WithModifiers(SyntaxFactory.TokenList(partial.WithLeadingTrivia(next.LeadingTrivia)));
    }
}
