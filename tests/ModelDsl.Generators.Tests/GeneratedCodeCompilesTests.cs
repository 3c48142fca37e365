using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelDsl.Generators.Tests.Infrastructure;

namespace ModelDsl.Generators.Tests;

/// <summary>The user's declaration plus the generated module compile cleanly, and the generator run itself is clean.</summary>
public class GeneratedCodeCompilesTests
{
    /// <summary>Valid declarations beyond the snapshot ones: each must compile with no warning or error.</summary>
    public static TheoryData<string> ValidDeclarations => new()
    {
        "FashionVit", "AvgVit", "MapVit", "TaskVit", "InferenceOnly", "GlobalNamespace", "TokenFree",
    };

    internal static string Source(string name) => name switch
    {
        "InferenceOnly" => Declarations.Usings + """
            namespace Samples.Inference;

            /// <summary>No loss: a plain module, no batch record, no training members.</summary>
            [Model]
            public partial class Encoder
            {
                public partial EncoderOutput Forward([Shape("B,1,28,28")] Tensor image);

                [PatchEmbedding(PatchSize = 14, Dim = 16)]
                public partial PatchEmbedding Patches { get; }

                [ClsToken]
                public partial Parameter Cls { get; }

                [PositionEmbedding]
                public partial Parameter Positions { get; }

                [TransformerEncoder(Depth = 1, Heads = 2)]
                public partial TransformerEncoder Blocks { get; }

                [ClassifierHead(Classes = 3)]
                public partial ClassifierHead Head { get; }
            }
            """,
        "GlobalNamespace" => Declarations.Usings + """
            [Model]
            internal partial class GlobalVit
            {
                public partial GlobalVitOutput Forward([Shape("B,1,28,28")] Tensor image);

                [PatchEmbedding(PatchSize = 7, Dim = 32)]
                public partial PatchEmbedding Patches { get; }

                [ClsToken]
                public partial Parameter Cls { get; }

                [TransformerEncoder(Depth = 1, Heads = 2)]
                public partial TransformerEncoder Encoder { get; }

                [ClassifierHead(Classes = 10)]
                public partial ClassifierHead Head { get; }

                [CrossEntropyLoss]
                public partial CrossEntropyLoss Loss { get; }
            }
            """,
        // No CLS/register/position tokens and no attention pool: nothing is exempt from weight decay.
        "TokenFree" => Declarations.Usings + """
            namespace Samples.TokenFree;

            [Model]
            public partial class PlainVit
            {
                public partial PlainVitOutput Forward([Shape("B,1,28,28")] Tensor image);

                [PatchEmbedding(PatchSize = 7, Dim = 32)]
                public partial PatchEmbedding Patches { get; }

                [TransformerEncoder(Depth = 1, Heads = 2)]
                public partial TransformerEncoder Encoder { get; }

                [ClassifierHead(Classes = 10, Pool = Pool.Avg)]
                public partial ClassifierHead Head { get; }

                [CrossEntropyLoss]
                public partial CrossEntropyLoss Loss { get; }
            }
            """,
        _ => SnapshotTests.Source(name),
    };

    [Theory]
    [MemberData(nameof(ValidDeclarations))]
    public void The_generator_run_is_clean(string name)
    {
        var run = TestCompilation.RunGenerator(TestCompilation.Create(Source(name)));

        Assert.Null(run.Result.Exception);
        Assert.True(run.Result.Diagnostics.IsEmpty && run.DriverDiagnostics.IsEmpty,
            "The generator reported:\n" + TestCompilation.Describe(run.Result.Diagnostics.Concat(run.DriverDiagnostics)));
        Assert.Single(run.Result.GeneratedSources);
    }

    [Theory]
    [MemberData(nameof(ValidDeclarations))]
    public void Declaration_and_generated_module_compile_without_warnings(string name)
    {
        var run = TestCompilation.Run(Source(name));

        var problems = run.AllDiagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0,
            $"{problems.Count} warning(s)/error(s) compiling '{name}' with its generated module:\n{TestCompilation.Describe(problems)}");

        using var peStream = new MemoryStream();
        var emit = run.Generator.Output.Emit(peStream);
        Assert.True(emit.Success, TestCompilation.Describe(emit.Diagnostics));
    }

    /// <summary>
    /// A user project with GenerateDocumentationFile: the generated XML comments must be
    /// well-formed and their crefs must resolve (CS1591, a missing comment, is the user's business).
    /// </summary>
    [Theory]
    [MemberData(nameof(ValidDeclarations))]
    public void Generated_documentation_comments_are_valid(string name)
    {
        // The diagnostics that documentation mode adds over a plain compile are the documentation's own.
        var plain = GeneratedDiagnostics(name, DocumentationMode.Parse).Select(Key).ToHashSet();
        var problems = GeneratedDiagnostics(name, DocumentationMode.Diagnose)
            .Where(d => d.Severity >= DiagnosticSeverity.Warning && d.Id != "CS1591" && !plain.Contains(Key(d)))
            .ToList();

        Assert.True(problems.Count == 0, TestCompilation.Describe(problems));
    }

    private static string Key(Diagnostic d) => d.Id + d.Location.GetLineSpan();

    private static Diagnostic[] GeneratedDiagnostics(string name, DocumentationMode mode)
    {
        var options = TestCompilation.ParseOptions.WithDocumentationMode(mode);
        var compilation = TestCompilation.Create([CSharpSyntaxTree.ParseText(Source(name), options, "Model.cs")]);
        CSharpGeneratorDriver.Create([new ModelGenerator().AsSourceGenerator()], parseOptions: options)
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        return output.GetDiagnostics().Where(d => d.Location.SourceTree?.FilePath.EndsWith(".g.cs") == true).ToArray();
    }
}
