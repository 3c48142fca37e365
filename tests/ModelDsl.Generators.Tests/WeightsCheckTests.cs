using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Tests.Infrastructure;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// The build-time check of a [PretrainedWeights] file: the build hands the analyzer the file's
/// safetensors header (build/ModelDsl.targets); here the tests make those headers.
/// </summary>
public class WeightsCheckTests
{
    private const string Declaration = """
        using ModelDsl;
        using ModelDsl.Blocks;
        using TorchSharp.Modules;
        using Tensor = TorchSharp.torch.Tensor;

        [Model]
        [PretrainedWeights("weights/backbone.safetensors", Exclude = new[] { "head" })]
        public partial class Prompted
        {
            public partial PromptedOutput Forward([Shape("B,1,28,28")] Tensor image);

            [PatchEmbedding(PatchSize = 7, Dim = 32, Frozen = true)] public partial PatchEmbedding Patches { get; }
            [ClsToken(Frozen = true)] public partial Parameter Cls { get; }
            [TransformerEncoder(Depth = 1, Heads = 4, Frozen = true)] public partial ModelDsl.Blocks.TransformerEncoder Encoder { get; }
            [ClassifierHead(Classes = 5)] public partial ClassifierHead Head { get; }
        }
        """;

    [Fact]
    public void A_file_with_every_parameter_passes()
    {
        var diagnostics = Analyze(Header(ExpectedParameters()));

        Assert.Empty(diagnostics.Where(d => d.Id.StartsWith("MD002")));
    }

    [Fact]
    public void Missing_and_reshaped_parameters_are_reported_at_the_path_argument()
    {
        var parameters = ExpectedParameters()
            .Where(p => p.Name != "cls_token")
            .Select(p => p.Name switch
            {
                "blocks.0.attn.qkv.weight" => (p.Name, new long[] { 48, 16 }),
                "head.weight" => (p.Name, new long[] { 10, 32 }),   // an old head: excluded, so not reported
                _ => p,
            })
            .ToList();

        var all = Analyze(Header(parameters));
        var diagnostics = all.Where(d => d.Id == "MD0021").ToList();

        Assert.True(diagnostics.Count == 2, TestCompilation.Describe(all) + "\n" + Header(parameters));
        Assert.Contains(diagnostics, d => d.GetMessage().Contains("cls_token [1,1,32]: missing from the file"));
        Assert.Contains(diagnostics, d => d.GetMessage().Contains("blocks.0.attn.qkv.weight: expected [96,32], found [48,16]"));
        Assert.All(diagnostics, d => Assert.Equal("\"weights/backbone.safetensors\"", d.Location.SourceTree!.GetText().ToString(d.Location.SourceSpan)));
    }

    [Fact]
    public void A_tensor_the_model_lacks_is_reported_as_the_strict_load_would_refuse_it()
    {
        var parameters = ExpectedParameters().Append(("dist_token", new long[] { 1, 1, 32 })).ToList();

        var diagnostic = Assert.Single(Analyze(Header(parameters)), d => d.Id == "MD0021");

        Assert.Contains("dist_token [1,1,32]: in the file, not in the model", diagnostic.GetMessage());
    }

    [Fact]
    public void A_file_the_build_did_not_hand_over_is_a_warning_naming_the_item_to_add()
    {
        var diagnostic = Assert.Single(Analyze(headerText: null), d => d.Id.StartsWith("MD002"));

        Assert.Equal("MD0022", diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Warning, diagnostic.Severity);
        Assert.Contains("<ModelWeights Include=\"weights/backbone.safetensors\" />", diagnostic.GetMessage());
    }

    [Fact]
    public void A_malformed_header_is_an_error_with_the_reason()
    {
        var diagnostic = Assert.Single(Analyze("{\"cls_token\": {\"dtype\": \"F32\""), d => d.Id.StartsWith("MD002"));

        Assert.Equal("MD0023", diagnostic.Id);
    }

    private static List<(string Name, long[] Shape)> ExpectedParameters()
    {
        var compilation = TestCompilation.Create(Declaration);
        var type = compilation.GetTypeByMetadataName("Prompted")!;
        var (graph, _) = ModelCompiler.Compile(DeclarationReader.Read(type, CancellationToken.None));
        return ParameterTable.Of(graph).ToList();
    }

    // The JSON header of a safetensors file holding float32 tensors of these names and shapes.
    private static string Header(IEnumerable<(string Name, long[] Shape)> parameters)
    {
        var json = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long offset = 0;
        foreach (var (name, shape) in parameters)
        {
            var bytes = shape.Aggregate(4L, (a, d) => a * d);
            json.Append($",\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{offset},{offset + bytes}]}}");
            offset += bytes;
        }
        return json.Append('}').ToString();
    }

    private static ImmutableArray<Diagnostic> Analyze(string? headerText)
    {
        var files = headerText is null
            ? ImmutableArray<AdditionalText>.Empty
            : [new InMemoryText("obj/modeldsl/backbone.safetensors.json", headerText)];
        var options = new AnalyzerOptions(files, new WeightsMetadata(files, "weights/backbone.safetensors"));
        var generated = TestCompilation.RunGenerator(TestCompilation.Create(Declaration));
        var run = TestCompilation.RunAnalyzer(generated.Output, options);
        Assert.Empty(run.Exceptions);
        return run.Diagnostics;
    }

    private sealed class InMemoryText(string path, string text) : AdditionalText
    {
        public override string Path => path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
    }

    // What MSBuild gives each extracted header: build_metadata.AdditionalFiles.ModelDslWeights.
    private sealed class WeightsMetadata(ImmutableArray<AdditionalText> files, string original) : AnalyzerConfigOptionsProvider
    {
        public override AnalyzerConfigOptions GlobalOptions => Options.Empty;

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Options.Empty;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) =>
            files.Contains(textFile) ? new Options(original) : Options.Empty;

        private sealed class Options(string? original) : AnalyzerConfigOptions
        {
            public static readonly Options Empty = new(null);

            public override bool TryGetValue(string key, out string value)
            {
                value = original ?? "";
                return original is not null && key == "build_metadata.AdditionalFiles.ModelDslWeights";
            }
        }
    }
}
