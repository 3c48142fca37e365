using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Weights;

/// <summary>
/// Every model of the examples, compiled by the front end as the generator compiles it: the parameter table (each
/// stage kind's one layout) equals TorchSharp's <c>named_parameters()</c> of the generated module, name by name and
/// shape by shape, and the Summary's counts (derived from the same layout) equal the runtime's.
/// </summary>
public sealed class ExampleParameterTableTests
{
    public static TheoryData<string> Models => new()
    {
        "ChannelVitExample.ChannelVit", "ChannelVitExample.PlainVit",
        "PromptLearningExample.ImageEncoder", "PromptLearningExample.TextEncoder", "PromptLearningExample.Clip", "PromptLearningExample.ZeroShot",
        "PromptLearningExample.CoOpText", "PromptLearningExample.PreText", "PromptLearningExample.CoOp", "PromptLearningExample.Pre",
        "PromptLearningExample.CspText", "PromptLearningExample.Csp",
        "ResamplerExample.AllTokensVit", "ResamplerExample.Resampled8Vit", "ResamplerExample.Resampled4Vit",
        "UserStageExample.UserChannelVit", "UserStageExample.BuiltInChannelVit",
        "TaskTokensExample.MultiTaskVit", "TaskTokensExample.CategoryVit", "TaskTokensExample.CoarseVit", "TaskTokensExample.AngleVit", "TaskTokensExample.MaskVit",
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Compile_time_table_equals_the_runtime_named_parameters(string model)
    {
        var graph = Graph(model);
        var table = ParameterTable.Of(graph);
        using var module = Create(model);

        var runtime = module.named_parameters().Select(p => (p.name, p.parameter.shape)).ToList();
        Assert.Equal(runtime.Select(p => p.name), table.Select(p => p.Name));
        for (var i = 0; i < runtime.Count; i++)
            Assert.True(runtime[i].shape.SequenceEqual(table[i].Shape), $"{runtime[i].name}: runtime {ParameterTable.Format(runtime[i].shape)}, table {ParameterTable.Format(table[i].Shape)}");
        Assert.Empty(ParameterTable.OpaquePrefixes(graph).Where(p => !p.EndsWith(".encoder", StringComparison.Ordinal)));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Summary_counts_equal_the_runtime_counts_and_show_no_unknowns(string model)
    {
        var graph = Graph(model);
        using var module = Create(model);
        var parameters = module.parameters().ToList();

        Assert.Equal(parameters.Sum(p => p.numel()), graph.TotalParameters);
        Assert.Equal(parameters.Where(p => p.requires_grad).Sum(p => p.numel()), graph.TrainableParameters);
        Assert.All(graph.Stages, s => Assert.True(s.Parameters >= 0, $"{model}.{s.Member}: parameters unknown"));
    }

    private static nn.Module Create(string model)
    {
        var type = typeof(ExampleParameterTableTests).Assembly.GetType(model, throwOnError: true)!;
        return (nn.Module)Activator.CreateInstance(type, CPU)!;
    }

    // The front end's graph of an example model, read from its source as the generator reads it.
    private static ModelGraph Graph(string model)
    {
        var type = Compilation.Value.GetTypeByMetadataName(model) ?? throw new InvalidOperationException($"No type {model} in the examples' sources.");
        var spec = DeclarationReader.Read(type, default);
        return ModelCompiler.Compile(spec, DeclarationReader.ReadTowers(type, default)).Graph;
    }

    private static readonly Lazy<CSharpCompilation> Compilation = new(() =>
    {
        var examples = Path.Combine(Path.GetDirectoryName(ThisFile())!, "..", "..", "..", "examples");
        var sources = new[] { "ChannelVit", "PromptLearning", "Resampler", "TaskTokens", "UserStage" }
            .Select(e => Path.Combine(examples, e, "Models.cs"))
            .Append(Path.Combine(examples, "UserStage", "ChannelPatches.cs"))
            .Select(p => CSharpSyntaxTree.ParseText(File.ReadAllText(p), new CSharpParseOptions(LanguageVersion.Preview), p));
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat([typeof(ModelAttribute).Assembly.Location, typeof(TorchSharp.torch).Assembly.Location])
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        return CSharpCompilation.Create("ExampleParameterTableTests", sources, references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
    });

    private static string ThisFile([CallerFilePath] string path = "") => path;
}
