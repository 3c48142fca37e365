using System;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis.CodeFixes;
using ModelDsl.CodeFixes;
using ModelDsl.Generators.Tests.Infrastructure;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// Each code fix on a declaration with the diagnostic it fixes: the exact text after the fix
/// (place, formatting, trivia), then generator and analyzer on the fixed text, which must be
/// clean: no ModelDsl diagnostic, no compiler warning or error in the model file.
/// </summary>
public class CodeFixTests
{
    private const string Valid = Declarations.Usings + """
        namespace Samples.Fixes;

        [Model]
        public partial class Vit
        {
            public partial VitOutput Forward([Shape("B,1,28,28")] Tensor image);

            [PatchEmbedding(PatchSize = 7, Dim = 64)]
            public partial PatchEmbedding Patches { get; }

            [ClsToken]
            public partial Parameter Cls { get; }

            [PositionEmbedding]
            public partial Parameter Positions { get; }

            [TransformerEncoder(Depth = 2, Heads = 4)]
            public partial TransformerEncoder Encoder { get; }

            [ClassifierHead(Classes = 10)]
            public partial ClassifierHead Head { get; }

            [CrossEntropyLoss(LabelSmoothing = 0.1)]
            public partial CrossEntropyLoss Loss { get; }
        }
        """;

    private const string ClsMember = "    [ClsToken]\n    public partial Parameter Cls { get; }\n\n";

    /// <summary>Applies (from, to) edits to a template; each "from" must occur exactly once.</summary>
    private static string Edit(string template, params (string From, string To)[] edits)
    {
        template = template.Replace("\r\n", "\n");
        foreach (var (from, to) in edits)
        {
            var at = template.IndexOf(from, StringComparison.Ordinal);
            if (at < 0 || template.IndexOf(from, at + 1, StringComparison.Ordinal) >= 0)
                throw new ArgumentException($"'{from}' must occur exactly once in the template.");
            template = template.Remove(at, from.Length).Insert(at, to);
        }
        return template;
    }

    private static async Task Verify<TFix>(string markup, string fixedSource)
        where TFix : CodeFixProvider, new()
    {
        await new ModelCodeFixTest<TFix>(markup.Replace("\r\n", "\n"), fixedSource.Replace("\r\n", "\n")).RunAsync();
        DiagnosticAssert.Clean(fixedSource);
    }

    // MD0004: the width the graph gives the stage.

    [Fact]
    public Task Width_of_a_token_is_set_to_the_embedding_width() => Verify<SetArgumentValueFix>(
        Edit(Valid, ("[ClsToken]", "[ClsToken({|MD0004:Dim = 32|})]")),
        Edit(Valid, ("[ClsToken]", "[ClsToken(Dim = 64)]")));

    [Fact]
    public Task Width_of_the_head_is_set_to_the_encoder_width_keeping_the_other_arguments() => Verify<SetArgumentValueFix>(
        Edit(Valid, ("[ClassifierHead(Classes = 10)]", "[ClassifierHead(Classes = 10, {|MD0004:Dim = 128|} /* was wider */)]")),
        Edit(Valid, ("[ClassifierHead(Classes = 10)]", "[ClassifierHead(Classes = 10, Dim = 64 /* was wider */)]")));

    [Fact]
    public Task Every_mismatched_width_is_fixed_at_once() => Verify<SetArgumentValueFix>(
        Edit(Valid, ("[ClsToken]", "[ClsToken({|MD0004:Dim = 32|})]"), ("[PositionEmbedding]", "[PositionEmbedding({|MD0004:Dim=16|})]")),
        Edit(Valid, ("[ClsToken]", "[ClsToken(Dim = 64)]"), ("[PositionEmbedding]", "[PositionEmbedding(Dim=64)]")));

    // MD0072: the largest ToMe R that merges fully in every block of the range.

    [Fact]
    public Task Merged_tokens_per_block_are_set_to_the_largest_that_fits() => Verify<SetArgumentValueFix>(
        Edit(Valid, ("    [ClassifierHead", "    [TokenMerging({|MD0072:R = 7|})]\n    public partial TokenMerging Merging { get; }\n\n    [ClassifierHead")),
        Edit(Valid, ("    [ClassifierHead", "    [TokenMerging(R = 5)]\n    public partial TokenMerging Merging { get; }\n\n    [ClassifierHead")));

    // MD0005: the nearest divisor of the width.

    [Fact]
    public Task Heads_are_set_to_the_nearest_divisor() => Verify<SetArgumentValueFix>(
        Edit(Valid, ("Heads = 4", "{|MD0005:Heads = 5|}")),
        Valid);

    [Fact]
    public Task Pool_heads_are_set_to_the_nearest_divisor() => Verify<SetArgumentValueFix>(
        Edit(Valid, ("[ClassifierHead(Classes = 10)]", "[ClassifierHead(Classes = 10, Pool = Pool.Map, {|MD0005:PoolHeads = 6|})]")),
        Edit(Valid, ("[ClassifierHead(Classes = 10)]", "[ClassifierHead(Classes = 10, Pool = Pool.Map, PoolHeads = 4)]")));

    // MD0006: a patch size that divides the image.

    [Fact]
    public Task Patch_size_is_set_to_a_divisor_of_the_image() => Verify<SetArgumentValueFix>(
        Edit(Valid, ("PatchSize = 7", "{|MD0006:PatchSize = 5|}")),
        Edit(Valid, ("PatchSize = 7", "PatchSize = 4")));

    [Fact]
    public Task Patch_size_is_set_to_a_divisor_of_both_sides() => Verify<SetArgumentValueFix>(
        Edit(Valid, ("[Shape(\"B,1,28,28\")]", "[Shape(\"B,1,28,30\")]"), ("PatchSize = 7", "{|MD0006:PatchSize = 7|}")),
        Edit(Valid, ("[Shape(\"B,1,28,28\")]", "[Shape(\"B,1,28,30\")]"), ("PatchSize = 7", "PatchSize = 2")));

    // MD0019: the one stage of the right kind.

    [Fact]
    public Task Reference_to_a_stage_of_another_kind_becomes_nameof_the_head() => Verify<SetArgumentValueFix>(
        Edit(Valid, ("[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[CrossEntropyLoss({|MD0019:Of = nameof(Encoder)|}, LabelSmoothing = 0.1)]")),
        Edit(Valid, ("[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[CrossEntropyLoss(Of = nameof(Head), LabelSmoothing = 0.1)]")));

    [Fact]
    public Task Reference_to_no_stage_becomes_nameof_the_head() => Verify<SetArgumentValueFix>(
        Edit(Valid, ("[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[CrossEntropyLoss(LabelSmoothing = 0.1, {|MD0019:Of = \"Nope\"|})]")),
        Edit(Valid, ("[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[CrossEntropyLoss(LabelSmoothing = 0.1, Of = nameof(Head))]")));

    // MD0053: nameof of another type's member of the same name becomes nameof of this model's.

    [Fact]
    public Task Nameof_of_another_types_member_becomes_nameof_of_this_models() => Verify<SetArgumentValueFix>(
        Edit(Valid, ("[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[CrossEntropyLoss({|MD0053:Of = nameof(Other.Head)|}, LabelSmoothing = 0.1)]"))
            + "\npublic static class Other { public static int Head => 0; }\n",
        Edit(Valid, ("[CrossEntropyLoss(LabelSmoothing = 0.1)]", "[CrossEntropyLoss(Of = nameof(Head), LabelSmoothing = 0.1)]"))
            + "\npublic static class Other { public static int Head => 0; }\n");

    // MD0040: the input's channel count.

    [Fact]
    public Task Channel_count_is_set_to_the_input_s() => Verify<SetArgumentValueFix>(
        TokenFamilyDiagnosticTests.ChannelVit(", {|MD0040:Channels = 4|}"),
        TokenFamilyDiagnosticTests.ChannelVit(", Channels = 3"));

    // MD0035, MD0037: a position table as long as the text; per-class prompts for the class rows.

    [Fact]
    public Task Max_length_is_set_to_the_text_length() => Verify<SetArgumentValueFix>(
        Edit(PromptDiagnosticTests.Prompted, ("    [PromptTokens(Count = 4)]\n    public partial PromptTokens Context { get; }\n\n", ""), ("\"C,8\"", "\"C,20\""), ("MaxLength = 16", "{|MD0035:MaxLength = 16|}")),
        Edit(PromptDiagnosticTests.Prompted, ("    [PromptTokens(Count = 4)]\n    public partial PromptTokens Context { get; }\n\n", ""), ("\"C,8\"", "\"C,20\""), ("MaxLength = 16", "MaxLength = 20")));

    [Fact]
    public Task Per_class_prompt_count_is_set_to_the_class_rows() => Verify<SetArgumentValueFix>(
        Edit(PromptDiagnosticTests.Prompted, ("\"C,8\"", "\"5,8\""), ("[PromptTokens(Count = 4)]", "[PromptTokens(Count = 4, PerClass = true, {|MD0037:Classes = 3|})]")),
        Edit(PromptDiagnosticTests.Prompted, ("\"C,8\"", "\"5,8\""), ("[PromptTokens(Count = 4)]", "[PromptTokens(Count = 4, PerClass = true, Classes = 5)]")));

    // MD0060: a language model's position table as long as its input.

    [Fact]
    public Task Language_model_context_is_set_to_the_input_length() => Verify<SetArgumentValueFix>(
        LanguageModelTests.Failing["an input longer than the position table"].Markup,
        Edit(LanguageModelTests.Lm, ("Context = 32", "Context = 24")));

    // MD0041: vocabulary tokens up to the vocabulary's last id.

    [Fact]
    public Task Vocabulary_token_count_is_set_to_end_at_the_last_id() => Verify<SetArgumentValueFix>(
        PromptDiagnosticTests.WithVocabulary("First = 30, {|MD0041:Count = 13|}"),
        PromptDiagnosticTests.WithVocabulary("First = 30, Count = 10"));

    // MD0024, MD0026, MD0027: the one task without a head, the one head of the loss's kind.

    [Fact]
    public Task Unknown_task_becomes_the_task_no_head_reads() => Verify<SetArgumentValueFix>(
        Edit(TaskTokenDiagnosticCases.Tasks, ("[ClassifierHead(Task = \"Category\", Classes = 10)]", "[ClassifierHead({|MD0024:Task = \"Colour\"|}, Classes = 10)]")),
        TaskTokenDiagnosticCases.Tasks);

    [Fact]
    public Task Positional_reference_to_a_head_of_another_kind_becomes_the_right_head() => Verify<SetArgumentValueFix>(
        Edit(TaskTokenDiagnosticCases.Tasks, ("[MseLoss(nameof(Angle), Optional = true)]", "[MseLoss({|MD0026:nameof(Category)|}, Optional = true)]")),
        TaskTokenDiagnosticCases.Tasks);

    [Fact]
    public Task Second_head_on_a_task_moves_to_the_task_no_head_reads() => Verify<SetArgumentValueFix>(
        Edit(TaskTokenDiagnosticCases.Tasks, ("[RegressionHead(Task = \"Angle\")]", "[RegressionHead({|MD0027:Task = \"Category\"|})]")),
        TaskTokenDiagnosticCases.Tasks);

    // MD0007: a CLS token right after the patch embedding.

    [Fact]
    public Task Cls_token_is_added_after_the_patch_embedding() => Verify<AddClsTokenFix>(
        Edit(Valid, (ClsMember, ""), ("[ClassifierHead(Classes = 10)]", "[{|MD0007:ClassifierHead(Classes = 10)|}]")),
        Valid);

    [Fact]
    public Task Cls_token_is_added_for_an_explicit_Pool_Cls_before_the_registers() => Verify<AddClsTokenFix>(
        Edit(Declarations.FashionVit, ("    [ClsToken]\n    public partial Parameter Cls { get; }\n\n", ""), ("Pool = Pool.Cls", "{|MD0007:Pool = Pool.Cls|}")),
        Declarations.FashionVit);

    [Fact]
    public Task Cls_token_gets_a_name_no_member_has() => Verify<AddClsTokenFix>(
        Edit(Valid, (ClsMember, ""), ("[ClassifierHead(Classes = 10)]", "[{|MD0007:ClassifierHead(Classes = 10)|}]"),
            ("    [CrossEntropyLoss", "    public static int Cls() => 1;\n\n    [CrossEntropyLoss")),
        Edit(Valid, (ClsMember, ClsMember.Replace("Cls {", "Cls2 {")),
            ("    [CrossEntropyLoss", "    public static int Cls() => 1;\n\n    [CrossEntropyLoss")));

    // MD0001, MD0002: partial where it is missing.

    [Fact]
    public Task Public_class_is_made_partial() => Verify<MakePartialFix>(
        Edit(Valid, ("public partial class Vit", "public class {|MD0001:Vit|}")),
        Valid);

    [Fact]
    public Task Sealed_class_is_made_partial_after_its_modifiers() => Verify<MakePartialFix>(
        Edit(Valid, ("public partial class Vit", "public sealed class {|MD0001:Vit|}")),
        Edit(Valid, ("public partial class Vit", "public sealed partial class Vit")));

    [Fact]
    public Task Class_without_modifiers_is_made_partial_after_its_attribute_and_comment() => Verify<MakePartialFix>(
        Edit(Valid, ("[Model]\npublic partial class Vit", "[Model]\n// The model.\nclass {|MD0001:Vit|}")),
        Edit(Valid, ("[Model]\npublic partial class Vit", "[Model]\n// The model.\npartial class Vit")));

    [Fact]
    public Task Stage_member_is_made_partial() => Verify<MakePartialFix>(
        Edit(Valid, ("public partial PatchEmbedding Patches { get; }", "public PatchEmbedding {|MD0002:Patches|} { get; }")),
        Valid);

    [Fact]
    public Task Every_stage_member_is_made_partial_at_once() => Verify<MakePartialFix>(
        Edit(Valid,
            ("public partial PatchEmbedding Patches { get; }", "public PatchEmbedding {|MD0002:Patches|} { get; }"),
            ("public partial Parameter Cls { get; }", "internal Parameter {|MD0002:Cls|} { get; }"),
            ("public partial ClassifierHead Head { get; }", "public ClassifierHead {|MD0002:Head|} { get; }")),
        Edit(Valid, ("public partial Parameter Cls { get; }", "internal partial Parameter Cls { get; }")));

    [Fact]
    public Task Stage_member_without_modifiers_is_made_partial_after_its_attribute() => Verify<MakePartialFix>(
        Edit(Valid, ("public partial PatchEmbedding Patches { get; }", "/* patches */ PatchEmbedding {|MD0002:Patches|} { get; }")),
        Edit(Valid, ("public partial PatchEmbedding Patches { get; }", "/* patches */ partial PatchEmbedding Patches { get; }")));
}
