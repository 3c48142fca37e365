using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ModelDsl.Generators.Diagnostics;

namespace ModelDsl.CodeFixes;

/// <summary>
/// Sets an attribute argument to the value the shape graph needs: the width a stage receives
/// (MD0004), the nearest divisor for heads (MD0005), a patch size that divides the image (MD0006),
/// the one stage of the right kind for a reference (MD0019: <c>nameof(Head)</c>), the one head of the
/// right kind for a loss (MD0026), the one task no head reads yet (MD0024, MD0027: <c>"Angle"</c>), the
/// input's channel count (MD0040), a position table long enough for the text (MD0035), the class
/// count of per-class prompts (MD0037), a count of vocabulary tokens that ends at the vocabulary's last id (MD0041), the
/// largest ToMe R that fits every merging block (MD0072) and a language model's position table as long as its input (MD0060).
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(SetArgumentValueFix)), Shared]
public sealed class SetArgumentValueFix : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } =
        [Descriptors.WidthMismatch.Id, Descriptors.HeadsDoNotDivideWidth.Id, Descriptors.ImageNotDivisibleByPatch.Id, Descriptors.BadReference.Id,
            Descriptors.TaskNotFound.Id, Descriptors.LossReadsWrongHead.Id, Descriptors.TaskReadTwice.Id, Descriptors.ChannelCountMismatch.Id,
            Descriptors.TokenSequenceTooLong.Id, Descriptors.PerClassPromptCount.Id, Descriptors.VocabularyTokensOutOfRange.Id, Descriptors.NameofOtherType.Id,
            Descriptors.MergesMoreThanLeft.Id, Descriptors.LanguageModelSequenceTooLong.Id];

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue(ModelDiagnostic.FixValue, out var value) || value is null)
                continue;
            if (root?.FindNode(diagnostic.Location.SourceSpan) is not { } node)
                continue;
            var argument = node.FirstAncestorOrSelf<AttributeArgumentSyntax>();
            if (argument is null)
                continue;
            // A positional argument ([MseLoss(nameof(Category))]) is replaced the same way.
            var title = argument.NameEquals is { } named ? $"Set {named.Name.Identifier.Text} = {value}" : $"Use {value}";
            context.RegisterCodeFix(
                CodeAction.Create(
                    title,
                    _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(
                        argument.Expression,
                        SyntaxFactory.ParseExpression(value).WithTriviaFrom(argument.Expression)))),
                    equivalenceKey: $"{nameof(SetArgumentValueFix)}.{diagnostic.Id}"),
                diagnostic);
        }
    }
}
