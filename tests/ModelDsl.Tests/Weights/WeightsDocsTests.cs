using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;

namespace ModelDsl.Tests.Weights;

/// <summary>
/// docs/weights.md's table of names ("Names: every stage kind") held against the stage definitions: every kind has a
/// row, and every parameter name the definitions give the test and example models is in the table (block and layer
/// indices as <c>i</c>/<c>j</c>, member-named kinds as <c>M</c>).
/// </summary>
public sealed class WeightsDocsTests
{
    [Fact]
    public void Every_stage_kind_has_a_row()
    {
        var missing = ModelDsl.Generators.Stages.StageDefinitions.All.Select(d => d.ShortName).Where(k => !Section.Value.Contains($"`[{k}", StringComparison.Ordinal)).ToList();

        Assert.True(missing.Count == 0, "docs/weights.md has no row for: " + string.Join(", ", missing));
    }

    [Fact]
    public void Every_parameter_name_of_every_model_is_in_the_table()
    {
        var documented = Regex.Matches(Normalize(Section.Value), @"`([^`\s\[]+)").Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        var missing = new SortedSet<string>(StringComparer.Ordinal);
        var checkedNames = 0;
        foreach (var graph in Graphs.Value)
        {
            foreach (var stage in graph.Stages.Where(s => !s.Broken && s.Kind != ModelDsl.Generators.Stages.StageKind.Tower
                && s.Kind != ModelDsl.Generators.Stages.StageKind.UserStage && s.Kind != ModelDsl.Generators.Stages.StageKind.CustomModule))
            {
                var definition = ModelDsl.Generators.Stages.StageDefinitions.Of(stage.Kind);
                var registered = definition.RegisteredName(stage.Spec);
                foreach (var (name, _) in ParameterTable.Of(stage))
                {
                    // Kinds registered under the member's name are written M in the table.
                    var generic = registered != definition.TimmName && (name == registered || name.StartsWith(registered + ".", StringComparison.Ordinal))
                        ? "M" + name.Substring(registered.Length)
                        : name;
                    generic = Regex.Replace(generic, @"\.\d+(?=\.|$)", ".#");
                    checkedNames++;
                    if (!documented.Contains(generic))
                        missing.Add($"{generic} ({graph.Spec.ClassName}.{stage.Member})");
                }
            }
        }

        Assert.True(checkedNames > 500, $"only {checkedNames} names were checked");
        Assert.True(missing.Count == 0, "docs/weights.md lacks: " + string.Join("; ", missing));
    }

    // The doc's shorthand expanded: "X.weight/bias [D]" is both names; block and layer indices i, j are "#".
    private static string Normalize(string text)
    {
        text = Regex.Replace(text, @"`([\w\.]+)\.weight/bias", "`$1.weight` `$1.bias");
        return Regex.Replace(text, @"\.(i|j)(?=\.)", ".#");
    }

    private static readonly Lazy<string> Section = new(() =>
    {
        var text = File.ReadAllText(Path.Combine(Repo, "docs", "weights.md"));
        var start = text.IndexOf("## Names: every stage kind", StringComparison.Ordinal);
        var end = text.IndexOf("### Known differences from timm", start, StringComparison.Ordinal);
        return text.Substring(start, end - start);
    });

    private static readonly Lazy<List<ModelGraph>> Graphs = new(() =>
    {
        var tests = Path.Combine(Repo, "tests", "ModelDsl.Tests");
        var sources = Directory.GetFiles(Path.Combine(tests, "Generated"), "*.cs")
            .Append(Path.Combine(tests, "Weights", "WeightsTestModels.cs"))
            .Concat(new[] { "ChannelVit", "PromptLearning", "Resampler", "TaskTokens", "UserStage", "DeepTokens" }.Select(e => Path.Combine(Repo, "examples", e, "Models.cs")))
            .Append(Path.Combine(Repo, "examples", "UserStage", "ChannelPatches.cs"))
            .Select(p => CSharpSyntaxTree.ParseText(File.ReadAllText(p), new CSharpParseOptions(LanguageVersion.Preview), p));
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat([typeof(ModelAttribute).Assembly.Location, typeof(TorchSharp.torch).Assembly.Location])
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create("WeightsDocsTests", sources, references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        return compilation.SyntaxTrees
            .SelectMany(t => t.GetRoot().DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.ClassDeclarationSyntax>().Select(c => compilation.GetSemanticModel(t).GetDeclaredSymbol(c)))
            .OfType<INamedTypeSymbol>()
            .Where(t => t.GetAttributes().Any(a => a.AttributeClass?.Name == "ModelAttribute"))
            .Select(t => ModelCompiler.Compile(DeclarationReader.Read(t, default), DeclarationReader.ReadTowers(t, default)).Graph)
            .ToList();
    });

    private static string Repo => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(ThisFile())!, "..", "..", ".."));

    private static string ThisFile([CallerFilePath] string path = "") => path;
}
