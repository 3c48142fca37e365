using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Stages;
using ModelDsl.Generators.Tests.Infrastructure;
using static ModelDsl.Generators.Tests.DiagnosticTests;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// The <c>[LanguageModel]</c> and <c>[CausalLmLoss]</c> kinds: the generated code (snapshots), the GPT-2 124M layout
/// against the published names and shapes, and the diagnostics MD0060-MD0061 (a failing and a passing case each).
/// </summary>
public class LanguageModelTests
{
    internal static string Models => Repo.ReadText("tests/ModelDsl.Tests/LanguageModel/LanguageModels.cs");

    internal const string Lm = """
        using ModelDsl;
        using ModelDsl.Blocks;
        using TorchSharp;
        using static TorchSharp.torch;

        [Model]
        public partial class Lm
        {
            public partial LmOutput Forward([Shape("B,24")] Tensor ids);

            [LanguageModel(Vocab = 100, Context = 32, Dim = 64, Depth = 2, Heads = 4)]
            public partial DecoderTransformer Decoder { get; }

            [CausalLmLoss]
            public partial CausalLmLoss Loss { get; }
        }
        """;

    private const string Prefix = "    [PrefixTuning(Count = 10)]\n    public partial PrefixTuning Prefix { get; }\n\n";

    private const string SoftPrompt = "    [SoftPrompt(Count = 10)]\n    public partial SoftPrompt Prompt { get; }\n\n";

    public static readonly IReadOnlyDictionary<string, Case> Failing = new Dictionary<string, Case>
    {
        ["an input longer than the position table"] = new("MD0060",
            Edit(Lm, ("Context = 32", "{|MD0060:Context = 16|}")),
            ["'Decoder' reads 'ids' [B,24], 24 tokens", "Context = 16", "at least 24"], Fix: "24"),
        ["a causal LM loss over one-token sequences"] = new("MD0061",
            Edit(Lm, ("\"B,24\"", "\"B,1\""), ("[CausalLmLoss]", "[{|MD0061:CausalLmLoss|}]")),
            ["'Loss' reads 'Decoder'", "[B,1,100]", "no next token"]),
        ["a soft prompt and an input longer than the position table together"] = new("MD0060",
            Edit(Lm, ("Context = 32", "{|MD0060:Context = 32|}"), ("    [CausalLmLoss]", SoftPrompt + "    [CausalLmLoss]")),
            ["24 tokens after the 10 soft-prompt vectors of 'Prompt', 34 positions", "at least 34"], Fix: "34"),
        ["a soft prompt without a language model"] = new("MD0062",
            Edit(Lm, ("    [LanguageModel(Vocab = 100, Context = 32, Dim = 64, Depth = 2, Heads = 4)]\n    public partial DecoderTransformer Decoder { get; }\n\n", ""),
                ("    [CausalLmLoss]\n    public partial CausalLmLoss Loss { get; }\n", SoftPrompt.Replace("[SoftPrompt(", "[{|MD0062:SoftPrompt(Count = 10)|}]").Replace("{|MD0062:SoftPrompt(Count = 10)|}]Count = 10)]", "{|MD0062:SoftPrompt(Count = 10)|}]"))),
            ["'Prompt' is a [SoftPrompt]", "declares none"]),
        ["a prefix and an input longer than the position table together"] = new("MD0060",
            Edit(Lm, ("Context = 32", "{|MD0060:Context = 32|}"), ("    [CausalLmLoss]", Prefix + "    [CausalLmLoss]")),
            ["24 tokens after the 10 prefix positions of 'Prefix', 34 positions", "at least 34"], Fix: "34"),
        ["a prefix without a language model"] = new("MD0062",
            Edit(Lm, ("    [LanguageModel(Vocab = 100, Context = 32, Dim = 64, Depth = 2, Heads = 4)]\n    public partial DecoderTransformer Decoder { get; }\n\n", ""),
                ("    [CausalLmLoss]\n    public partial CausalLmLoss Loss { get; }\n", "    [{|MD0062:PrefixTuning(Count = 10)|}]\n    public partial PrefixTuning Prefix { get; }\n")),
            ["'Prefix' is a [PrefixTuning], whose keys and values go into the blocks", "declares none"]),
        ["heads that do not divide the width"] = new("MD0005",
            Edit(Lm, ("Heads = 4", "{|MD0005:Heads = 5|}")),
            ["Decoder", "5", "64"], Fix: "4"),
        ["dropout of 1"] = new("MD0008",
            Edit(Lm, ("Heads = 4", "Heads = 4, {|MD0008:Dropout = 1.0|}")),
            ["Decoder", "Dropout", "[0, 1)"]),
    };

    public static readonly IReadOnlyDictionary<string, string> Passing = new Dictionary<string, string>
    {
        ["MD0060 an input as long as the position table"] = Edit(Lm, ("Context = 32", "Context = 24")),
        ["MD0060 a symbolic length"] = Edit(Lm, ("\"B,24\"", "\"B,T\"")),
        ["MD0062 a soft prompt before a language model"] = Edit(Lm, ("    [CausalLmLoss]", SoftPrompt + "    [CausalLmLoss]"), ("\"B,24\"", "\"B,T\"")),
        ["MD0060 a soft prompt and an input that fit the position table together"] = Edit(Lm, ("    [CausalLmLoss]", SoftPrompt + "    [CausalLmLoss]"), ("\"B,24\"", "\"B,22\"")),
        ["MD0062 a prefix for a language model"] = Edit(Lm, ("    [CausalLmLoss]", Prefix + "    [CausalLmLoss]"), ("\"B,24\"", "\"B,T\"")),
        ["MD0060 a prefix, a soft prompt and an input that fit the position table together"] = Edit(Lm, ("    [CausalLmLoss]", Prefix.Replace("10", "4") + SoftPrompt.Replace("10", "4") + "    [CausalLmLoss]")),
        ["MD0061 a causal LM loss over two-token sequences"] = Edit(Lm, ("\"B,24\"", "\"B,2\"")),
        ["MD0061 one-token sequences without a loss"] = Edit(Lm, ("\"B,24\"", "\"B,1\""), ("    [CausalLmLoss]\n    public partial CausalLmLoss Loss { get; }\n", "")),
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
        if (@case.Fix is not null)
        {
            Assert.True(diagnostic.Properties.TryGetValue(Diagnostics.ModelDiagnostic.FixValue, out var fix), "The diagnostic offers no FixValue.");
            Assert.Equal(@case.Fix, fix);
        }
    }

    [Theory]
    [MemberData(nameof(PassingNames))]
    public void Passing_declaration_reports_nothing(string name) => DiagnosticAssert.Clean(Passing[name]);

    [Theory]
    [InlineData("TinyLm")]
    [InlineData("UntiedLm")]
    [InlineData("PromptTunedLm")]
    [InlineData("PrefixTunedLm")]
    public void Generated_source_matches_the_approved_baseline(string model)
    {
        var run = TestCompilation.RunGenerator(TestCompilation.Create(Models));
        var source = run.Result.GeneratedSources.Single(s => s.HintName == $"ModelDsl.Tests.LanguageModel.{model}.g.cs");
        Snapshot.Verify("LanguageModel." + model, source.SourceText.ToString().Replace("\r\n", "\n"));
    }

    [Fact]
    public void The_models_compile_without_diagnostics()
    {
        var run = TestCompilation.Run(Models);
        var shown = run.AllDiagnostics.Where(d => d.Severity >= Microsoft.CodeAnalysis.DiagnosticSeverity.Warning).ToList();
        Assert.True(shown.Count == 0, TestCompilation.Describe(shown));
    }

    private static ModelDsl.Generators.Model.ModelGraph Graph(string type)
    {
        var compilation = TestCompilation.Create(Models);
        var symbol = compilation.GetTypeByMetadataName("ModelDsl.Tests.LanguageModel." + type)!;
        var (graph, diagnostics) = ModelCompiler.Compile(DeclarationReader.Read(symbol, CancellationToken.None));
        Assert.Empty(diagnostics);
        return graph;
    }

    [Fact]
    public void A_gpt2_124m_declaration_has_the_published_names_and_shapes()
    {
        var graph = Graph("Gpt2Small");
        var table = ParameterTable.Of(graph);
        var header = SafetensorsHeader.Parse(Repo.ReadText("tests/ModelDsl.Tests/LanguageModel/Fixtures/gpt2_124m.header.json"));
        Assert.Empty(ParameterTable.Compare(table, header, mapFileName: ParameterTable.FileNameMap(graph)));

        // 148 tensors, 124,439,808 parameters: GPT-2 124M (the tied head adds none).
        Assert.Equal(148, table.Count);
        Assert.Equal(124_439_808L, table.Sum(p => p.Shape.Aggregate(1L, (a, b) => a * b)));
        Assert.Equal(124_439_808L, graph.TotalParameters);
        // Without the published-name map, every GPT2Model name differs by its prefix.
        Assert.Equal(table.Count, ParameterTable.Compare(table, header).Count(d => d.Kind == ParameterDifferenceKind.Missing));
    }

    [Fact]
    public void The_build_time_map_equals_the_runtimes()
    {
        var names = new[]
        {
            "wte.weight", "transformer.wte.weight", "h.0.attn.bias", "h.11.attn.masked_bias", "transformer.h.3.attn.bias",
            "h.0.attn.c_attn.bias", "h.x.attn.bias", "lm_head.weight", "ln_f.weight", "transformer.h.1.mlp.c_fc.weight", "attn.bias",
        };
        foreach (var tied in new[] { true, false })
            foreach (var name in names)
                Assert.Equal(ModelDsl.Blocks.Gpt2Names.MapFileName(name, tied), LanguageModelStage.PublishedName(name, tied));
    }
}
