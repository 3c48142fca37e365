using System;
using System.Collections.Generic;
using ModelDsl.Generators.Tests.Infrastructure;
using static ModelDsl.Generators.Tests.DiagnosticTests;

namespace ModelDsl.Generators.Tests;

/// <summary>Shallow-prompt diagnostics (MD0035-MD0039): a failing case at its exact span and a passing case each.</summary>
public class PromptDiagnosticTests
{
    /// <summary>A frozen text tower with four learned context tokens after the start token.</summary>
    internal const string Prompted = Declarations.Usings + """
        namespace Samples.Prompts;

        [Model]
        public partial class Prompted
        {
            public partial PromptedOutput Forward([Shape("C,8")] Tensor classNames);

            [TokenEmbedding(Vocab = 40, Dim = 64, MaxLength = 16, Frozen = true)]
            public partial TokenEmbedding Embed { get; }

            [PromptTokens(Count = 4)]
            public partial PromptTokens Context { get; }

            [TransformerEncoder(Depth = 1, Heads = 4, Causal = true, Frozen = true)]
            public partial TransformerEncoder Encoder { get; }

            [FeatureProjection(Dim = 32, Pool = FeaturePool.EndToken, EndToken = 2)]
            public partial FeatureProjection Projection { get; }
        }
        """;

    /// <summary>A CLIP of an image tower and a text tower (without prompts) with the contrastive loss.</summary>
    internal const string Clip = Declarations.Usings + """
        namespace Samples.Prompts;

        [Model]
        public partial class ImageTower
        {
            public partial ImageTowerOutput Forward([Shape("B,1,28,28")] Tensor image);

            [PatchEmbedding(PatchSize = 7, Dim = 64)]
            public partial PatchEmbedding Patches { get; }

            [ClsToken]
            public partial Parameter Cls { get; }

            [TransformerEncoder(Depth = 1, Heads = 4)]
            public partial TransformerEncoder Encoder { get; }

            [FeatureProjection(Dim = 32, Pool = FeaturePool.Cls)]
            public partial FeatureProjection Projection { get; }
        }

        [Model]
        public partial class TextTower
        {
            public partial TextTowerOutput Forward([Shape("B,8")] Tensor text);

            [TokenEmbedding(Vocab = 40, Dim = 64, MaxLength = 16)]
            public partial TokenEmbedding Embed { get; }

            [TransformerEncoder(Depth = 1, Heads = 4, Causal = true)]
            public partial TransformerEncoder Encoder { get; }

            [FeatureProjection(Dim = 32, Pool = FeaturePool.EndToken, EndToken = 2)]
            public partial FeatureProjection Projection { get; }
        }

        [Model]
        public partial class Clip
        {
            public partial ClipOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("B,8")] Tensor text);

            [Tower]
            public partial ImageTower Image { get; }

            [Tower]
            public partial TextTower Text { get; }

            [CosineLogits(nameof(Image), nameof(Text), LearnScale = true)]
            public partial CosineLogits Logits { get; }

            [ContrastiveLoss]
            public partial ContrastiveLoss Loss { get; }
        }
        """;

    private const string ContextMember = "    [PromptTokens(Count = 4)]\n    public partial PromptTokens Context { get; }\n\n";

    /// <summary><see cref="Prompted"/> with CSP's learned vocabulary (the given arguments) declared before the prompts.</summary>
    internal static string WithVocabulary(string arguments) =>
        Edit(Prompted, ("    [PromptTokens(Count = 4)]", $"    [VocabularyTokens({arguments})]\n    public partial VocabularyTokens Concepts {{ get; }}\n\n    [PromptTokens(Count = 4)]"));

    public static readonly IReadOnlyDictionary<string, Case> Failing = new Dictionary<string, Case>
    {
        ["MD0035 more prompts than the position table holds"] = new("MD0035",
            Edit(Prompted, ("[PromptTokens(Count = 4)]", "[PromptTokens({|MD0035:Count = 9|})]")),
            ["'Context' has Count = 9", "expected 1 to 8", "'Embed' has MaxLength = 16 and 'classNames' has 8 tokens"]),
        ["MD0035 text longer than the position table"] = new("MD0035",
            Edit(Prompted, (ContextMember, ""), ("\"C,8\"", "\"C,20\""), ("MaxLength = 16", "{|MD0035:MaxLength = 16|}")),
            ["'Embed' has MaxLength = 16", "expected at least 20", "'classNames' has 20 tokens ([C,20])"], Fix: "20"),
        ["MD0035 prompts after the end of the text"] = new("MD0035",
            Edit(Prompted, ("[PromptTokens(Count = 4)]", "[PromptTokens(Count = 4, {|MD0035:After = 9|})]")),
            ["'Context' has After = 9", "expected 0 to 8"]),
        ["MD0036 prompts into the encoder's output"] = new("MD0036",
            Edit(Prompted, (ContextMember, ""), ("    [FeatureProjection", "    [{|MD0036:PromptTokens(Count = 4)|}]\n    public partial PromptTokens Context { get; }\n\n    [FeatureProjection")),
            ["'Context' places prompt tokens into the output [C,8,64] of 'Encoder', a [TransformerEncoder] stage", "expected the token sequence of a [TokenEmbedding]"]),
        ["MD0037 per-class prompts for another class count"] = new("MD0037",
            Edit(Prompted, ("\"C,8\"", "\"5,8\""), ("[PromptTokens(Count = 4)]", "[PromptTokens(Count = 4, PerClass = true, {|MD0037:Classes = 3|})]")),
            ["Classes = 3", "token rows are 5 ('classNames' is [5,8])", "expected Classes = 5"], Fix: "5"),
        ["MD0038 contrastive loss over class logits"] = new("MD0038",
            Edit(Clip, ("[Shape(\"B,8\")] Tensor text);\n\n    [Tower]", "[Shape(\"C,8\")] Tensor text);\n\n    [Tower]"), ("[ContrastiveLoss]", "[{|MD0038:ContrastiveLoss|}]")),
            ["'Loss' contrasts the logits of 'Logits', which are [B,C]", "expected square logits [B,B]", "the rows are B and the columns C"]),
        ["MD0039 end-token pooling without token ids"] = new("MD0039",
            Edit(Clip, ("[FeatureProjection(Dim = 32, Pool = FeaturePool.Cls)]", "[FeatureProjection(Dim = 32, {|MD0039:Pool = FeaturePool.EndToken|})]"),
                ("    [Tower]\n    public partial ImageTower Image { get; }\n\n    [Tower]\n    public partial TextTower Text { get; }\n\n    [CosineLogits(nameof(Image), nameof(Text), LearnScale = true)]\n    public partial CosineLogits Logits { get; }\n\n    [ContrastiveLoss]\n    public partial ContrastiveLoss Loss { get; }\n",
                 "    [Tower]\n    public partial TextTower Text { get; }\n"),
                ("Forward([Shape(\"B,1,28,28\")] Tensor image, [Shape(\"B,8\")] Tensor text)", "Forward([Shape(\"B,8\")] Tensor text)")),
            ["'Projection' pools with FeaturePool.EndToken", "expects token ids with an end token", "its tokens come from 'Encoder'"]),
        ["MD0041 vocabulary tokens past the last id"] = new("MD0041",
            WithVocabulary("First = 30, {|MD0041:Count = 13|}"),
            ["'Concepts' learns the ids 30..42", "'Embed' has Vocab = 40 (ids 0..39)", "expected Count in 1..10, so that First + Count <= 40"], Fix: "10"),
        ["MD0041 first vocabulary token outside the vocabulary"] = new("MD0041",
            WithVocabulary("{|MD0041:First = 40|}, Count = 2"),
            ["'Concepts' learns the ids 40..41", "expected First in 0..39"]),
        ["MD0008 no vocabulary tokens"] = new("MD0008",
            WithVocabulary("First = 30, {|MD0008:Count = 0|}"),
            ["'Concepts' has Count = 0", "expected a positive number of learned ids"]),
        ["MD0036 vocabulary tokens after the prompts"] = new("MD0036",
            Edit(Prompted, ("    [TransformerEncoder", "    [{|MD0036:VocabularyTokens(First = 27, Count = 13)|}]\n    public partial VocabularyTokens Concepts { get; }\n\n    [TransformerEncoder")),
            ["'Concepts' places prompt tokens into the output [C,12,64] of 'Context', a [PromptTokens] stage"]),
        ["MD0039 end token outside the vocabulary"] = new("MD0039",
            Edit(Prompted, ("EndToken = 2", "{|MD0039:EndToken = 40|}")),
            ["EndToken = 40 is not an id of the vocabulary 0..39"]),
    };

    public static readonly IReadOnlyDictionary<string, string> Passing = new Dictionary<string, string>
    {
        ["MD0035 prompts that fill the position table"] = Edit(Prompted, ("[PromptTokens(Count = 4)]", "[PromptTokens(Count = 8, After = 0)]")),
        ["MD0036 prompts right after the embedding, reparameterised"] = Edit(Prompted, ("[PromptTokens(Count = 4)]", "[PromptTokens(Count = 4, Reparameterize = Reparam.BiLstm, Hidden = 16)]")),
        ["MD0037 per-class prompts with the class count inferred"] = Edit(Prompted, ("\"C,8\"", "\"5,8\""), ("[PromptTokens(Count = 4)]", "[PromptTokens(Count = 4, PerClass = true, Reparameterize = Reparam.Mlp)]")),
        ["MD0038 contrastive loss over image-caption pairs"] = Clip,
        ["MD0041 vocabulary tokens that end at the last id, before prompts"] = WithVocabulary("First = 27, Count = 13"),
        ["MD0041 one vocabulary token at id 0"] = WithVocabulary("First = 0, Count = 1"),
        ["MD0039 average pooling without a CLS token"] = Edit(Clip,
            ("    [ClsToken]\n    public partial Parameter Cls { get; }\n\n", ""), ("Pool = FeaturePool.Cls", "Pool = FeaturePool.Avg")),
    };

    public static TheoryData<string> FailingNames => new(Failing.Keys);

    public static TheoryData<string> PassingNames => new(Passing.Keys);

    [Theory]
    [MemberData(nameof(FailingNames))]
    public void Failing_declaration_reports_at_the_marked_span(string name)
    {
        var @case = Failing[name];

        var diagnostic = Assert.Single(DiagnosticAssert.Verify(@case.Markup));

        var message = diagnostic.GetMessage();
        foreach (var part in @case.Message)
            Assert.True(message.Contains(part, StringComparison.Ordinal), $"The message lacks \"{part}\":\n{message}");
        Assert.Equal(@case.Id, diagnostic.Id);
        if (@case.Fix is not null)
        {
            Assert.True(diagnostic.Properties.TryGetValue(ModelDsl.Generators.Diagnostics.ModelDiagnostic.FixValue, out var fix), "The diagnostic offers no FixValue.");
            Assert.Equal(@case.Fix, fix);
        }
    }

    [Theory]
    [MemberData(nameof(PassingNames))]
    public void Passing_declaration_reports_nothing(string name) => DiagnosticAssert.Clean(Passing[name]);

    [Fact]
    public void Prompt_models_match_the_approved_baselines()
    {
        var run = TestCompilation.RunGenerator(TestCompilation.Create(
            Repo.ReadText("examples/PromptLearning/Models.cs"), Repo.ReadText("examples/PromptLearning/Vocabulary.cs")));

        foreach (var name in new[] { "CoOpText", "PreText", "Clip", "CoOp", "CspText" })
        {
            var source = System.Linq.Enumerable.Single(run.Result.GeneratedSources, s => s.HintName == $"PromptLearningExample.{name}.g.cs");
            Snapshot.Verify("PromptLearning." + name, source.SourceText.ToString().Replace("\r\n", "\n"));
        }
    }

    [Fact]
    public void The_example_models_compile_cleanly()
    {
        var run = TestCompilation.Run(Repo.ReadText("examples/PromptLearning/Models.cs"), Repo.ReadText("examples/PromptLearning/Vocabulary.cs"));

        DiagnosticAssert.AssertNoCrash(run);
        var problems = System.Linq.Enumerable.ToList(System.Linq.Enumerable.Where(run.AllDiagnostics, d => d.Severity >= Microsoft.CodeAnalysis.DiagnosticSeverity.Warning));
        Assert.True(problems.Count == 0, TestCompilation.Describe(problems));
    }
}
