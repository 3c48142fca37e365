using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using ModelDsl.Generators.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// Seeded random mutations of valid declarations (every stage kind, custom modules, pretrained
/// weights), as a user produces them while typing: odd argument values and values of the wrong
/// type, arguments and stages added, members deleted, moved or retyped, broken shapes and
/// contracts, other kinds of type, half-typed lines, unclosed brackets and truncated text. Neither
/// the generator nor the analyzer may throw (no exception, no AD0001, no CS8784/CS8785).
/// </summary>
/// <remarks>
/// Cost: the mutants are compiled <see cref="BatchSize"/> to a compilation, each in its own file
/// and namespace, so that the per-compilation work (the analyzer driver, the compiler's pass over
/// the compilation, the generator driver) is paid once per batch, and generator and analyzer run
/// side by side; a failing batch is split in
/// halves until the failing mutant is alone. The test project turns tiered PGO off (see the
/// csproj): the instrumented tier costs this test, which runs a great deal of Roslyn once, about
/// a third of its time.
/// </remarks>
public class FuzzTests(ITestOutputHelper output)
{
    private const int Seed = 20261130;
    internal const int Iterations = 1024;
    private const int BatchSize = 32;

    private static readonly Regex Namespace = new(@"namespace [\w.]+;", RegexOptions.Compiled);

    /// <summary>
    /// Open bugs outside the front end, by the exception they throw. A mutant whose every exception
    /// is one of these is listed in the test output, not failed; any other exception fails the test.
    /// Empty: the three found so far (sizes past int.MaxValue, long.MinValue in a shape, [Model] on
    /// two declarations of one class) are fixed and kept by <see cref="FuzzFindingsTests"/>.
    /// </summary>
    internal static readonly (string Name, string[] Signature)[] KnownBugs =
    [
        // By message and component, not by the innermost frame, which the JIT may inline away.
    ];

    [Fact]
    public void Random_mutations_never_crash_generator_or_analyzer()
    {
        var clock = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var random = new Random(Seed);
        // Mutant #i is reproducible from the seed.
        var mutants = Enumerable.Range(0, Iterations).Select(i => Mutator.Create(i, random)).ToArray();

        var failures = new List<string>();
        var known = new List<string>();
        var generated = 0;
        var reported = new HashSet<string>();
        for (var start = 0; start < Iterations; start += BatchSize)
        {
            var batch = mutants.Skip(start).Take(BatchSize).ToArray();
            var run = Check(batch, start);
            generated += run.Generated;
            reported.UnionWith(run.Reported);
            if (run.Failed)
                Locate(batch, start, run, failures, known);
        }

        var cpuTime = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        output.WriteLine($"{Iterations} mutants (seed {Seed}, {BatchSize} to a compilation) in {clock.Elapsed.TotalSeconds:0.0} s " +
            $"({cpuTime.TotalSeconds:0.0} s CPU of this process): {generated} modules generated, {reported.Count} mutants got ModelDsl diagnostics, " +
            $"{failures.Count} crashed, {known.Count} hit a known bug.");
        foreach (var line in known)
            output.WriteLine("known bug: " + line);
        Assert.True(failures.Count == 0, $"{failures.Count} mutant(s) crashed (seed {Seed}):\n" + string.Join("\n", failures.Take(5)));
        // Not vacuous: most mutants still reach the generator, and many reach a diagnostic.
        Assert.True(generated > Iterations / 2, $"Only {generated} modules were generated for {Iterations} mutants.");
        Assert.True(reported.Count > Iterations / 3, $"Only {reported.Count} mutants got a ModelDsl diagnostic.");
    }

    /// <summary>Splits a failing batch in halves until each failing mutant is alone, and classifies it.</summary>
    private static void Locate(Mutator.Mutant[] batch, int first, BatchRun run, List<string> failures, List<string> known)
    {
        if (batch.Length == 1)
        {
            var bugs = run.Exceptions.Select(e => KnownBugs.FirstOrDefault(b => b.Signature.All(e.Contains)).Name).ToList();
            var description = $"#{first} [{string.Join("; ", batch[0].Log)}]";
            // Every AD0001/CS8785 comes with the exception it reports; one without is a failure of its own.
            if (run.Exceptions.Count > 0 && bugs.All(b => b is not null))
                known.Add($"{description}: {string.Join(", ", bugs.Distinct())}");
            else
                failures.Add($"{description}: {string.Join(" | ", run.Exceptions.Concat(run.Crashes))}\n--- source ---\n{batch[0].Source}\n---");
            return;
        }
        var count = failures.Count + known.Count;
        var half = batch.Length / 2;
        foreach (var (part, at) in new[] { (batch[..half], first), (batch[half..], first + half) })
        {
            var partRun = Check(part, at);
            if (partRun.Failed)
                Locate(part, at, partRun, failures, known);
        }
        if (failures.Count + known.Count == count)
            failures.Add($"#{first}..#{first + batch.Length - 1} fail only together: {string.Join(" | ", run.Exceptions.Concat(run.Crashes))}");
    }

    private sealed record BatchRun(List<string> Exceptions, List<string> Crashes, int Generated, IEnumerable<string> Reported)
    {
        public bool Failed => Exceptions.Count > 0 || Crashes.Count > 0;
    }

    /// <summary>
    /// Generator and analyzer each over the user's compilation, as an editor runs them side by side
    /// (on two threads: on a quiet two-core machine the batch takes the longer of the two). (A build runs the analyzer over the generator's output: same model symbols and attributes,
    /// but binding the generated method bodies makes each mutant several times slower.)
    /// </summary>
    private static BatchRun Check(Mutator.Mutant[] mutants, int first)
    {
        var trees = mutants.Select((m, j) => TestCompilation.Parse(Namespace.Replace(m.Source, $"namespace Fuzz.Case{first + j};", 1), $"Case{first + j}.cs"));
        var compilation = TestCompilation.Create(trees);
        // Side by side, as an editor runs them: the analyzer binds its own copy of the compilation.
        var generatorRun = Task.Run(() => TestCompilation.CreateDriver().RunGenerators(compilation).GetRunResult().Results.Single());
        var analyzer = TestCompilation.RunAnalyzer(compilation);
        var generator = generatorRun.GetAwaiter().GetResult();

        var exceptions = new List<string>();
        if (generator.Exception is { } exception)
            exceptions.Add("generator threw " + exception);
        exceptions.AddRange(analyzer.Exceptions.Select(e => "analyzer threw " + e));
        var crashes = analyzer.Diagnostics.Concat(generator.Diagnostics)
            .Where(d => d.Id is "AD0001" or "CS8785" or "CS8784")
            .Select(d => d.Id + ": " + d.GetMessage())
            .ToList();
        var reported = analyzer.Diagnostics
            .Where(d => d.Id.StartsWith("MD", StringComparison.Ordinal) && d.Location.SourceTree is not null)
            .Select(d => d.Location.SourceTree!.FilePath)
            .Distinct()
            .ToList();
        return new BatchRun(exceptions, crashes, generator.GeneratedSources.Length, reported);
    }

    /// <summary>
    /// Issue 16: no declaration error surfaces only as a compiler error inside a generated file. For every mutant whose
    /// generated file does not compile, the user's own file must carry an error too (a ModelDsl diagnostic, or the
    /// compiler's own about the user's code), so the user is told where the problem is.
    /// </summary>
    [Fact]
    public void A_generated_file_never_fails_to_compile_while_the_declaration_shows_no_error()
    {
        var random = new Random(Seed + 1);
        var mutants = Enumerable.Range(0, GeneratedFileIterations).Select(i => Mutator.Create(i, random)).ToArray();
        var silent = new List<string>();
        var failing = 0;
        for (var start = 0; start < mutants.Length; start += BatchSize)
        {
            var batch = mutants.Skip(start).Take(BatchSize).ToArray();
            var trees = batch.Select((m, j) => TestCompilation.Parse(Namespace.Replace(m.Source, $"namespace Fuzz.Case{start + j};", 1), $"Case{start + j}.cs"));
            var compilation = TestCompilation.Create(trees);
            TestCompilation.CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
            var analyzer = TestCompilation.RunAnalyzer(compilation);
            var errors = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && d.Location.SourceTree is not null).ToList();
            for (var j = 0; j < batch.Length; j++)
            {
                var user = $"Case{start + j}.cs";
                var generated = errors.Where(d => d.Location.SourceTree!.FilePath.Contains($".Case{start + j}.", StringComparison.Ordinal)).ToList();
                if (generated.Count == 0)
                    continue;
                failing++;
                var shown = errors.Any(d => d.Location.SourceTree!.FilePath == user)
                    || analyzer.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error && d.Location.SourceTree?.FilePath == user);
                if (!shown)
                    silent.Add($"#{start + j} [{string.Join("; ", batch[j].Log)}]: {generated[0].Id} {generated[0].GetMessage()}");
            }
        }
        output.WriteLine($"{mutants.Length} mutants (seed {Seed + 1}): {failing} generated files with errors, {silent.Count} of them with no error in the user's file.");
        Assert.True(silent.Count == 0, $"{silent.Count} mutant(s) fail only inside generated code:\n" + string.Join("\n", silent.Take(8)));
    }

    internal const int GeneratedFileIterations = 4096;

    [Fact]
    public void Mutations_are_reproducible_from_the_seed()
    {
        static List<string> Sources()
        {
            var random = new Random(Seed);
            return Enumerable.Range(0, 40).Select(i => Mutator.Create(i, random).Source).ToList();
        }

        var a = Sources();
        Assert.Equal(a, Sources());
        Assert.True(a.Distinct().Count() > 35, "The mutations hardly vary.");
    }

    [Fact]
    public void Every_template_is_a_clean_declaration()
    {
        foreach (var template in Mutator.Templates)
            DiagnosticAssert.Clean(template);
    }
}

/// <summary>The mutations, from valid templates to what an editor holds mid-keystroke.</summary>
internal static class Mutator
{
    private const string Modules = """


        public sealed class Identity : TorchSharp.torch.nn.Module<Tensor, Tensor>
        {
            public Identity() : base(nameof(Identity)) { }

            public override Tensor forward(Tensor x) => x;
        }

        public sealed class NeedsWidth : TorchSharp.torch.nn.Module<Tensor, Tensor>
        {
            public NeedsWidth(int width) : base(nameof(NeedsWidth)) { }

            public override Tensor forward(Tensor x) => x;
        }
        """;

    /// <summary>Valid declarations covering every stage kind; each must be clean (see the test).</summary>
    public static readonly string[] Templates =
    [
        Declarations.FashionVit,
        Declarations.AvgVit,
        Declarations.MapVit,
        Declarations.TaskVit,
        Declarations.Usings + """
            namespace Samples.Vpt;

            [Model]
            public partial class VptVit
            {
                public partial VptVitOutput Forward([Shape("B,1,28,28")] Tensor image);

                [PatchEmbedding(PatchSize = 7, Dim = 32, Frozen = true)] public partial PatchEmbedding Patches { get; }
                [ClsToken(Frozen = true)] public partial Parameter Cls { get; }
                [PositionEmbedding(Frozen = true)] public partial Parameter Positions { get; }
                [TransformerEncoder(Depth = 2, Heads = 4, Frozen = true)] public partial TransformerEncoder Encoder { get; }
                [DeepPromptTokens(Count = 3, Into = nameof(Encoder))] public partial Parameter Prompts { get; }
                [ClassifierHead(Classes = 5)] public partial ClassifierHead Head { get; }
                [CrossEntropyLoss(Of = nameof(Head))] public partial CrossEntropyLoss Loss { get; }
            }
            """,
        Declarations.Usings + """
            namespace Samples.Vqt;

            [Model]
            public partial class VqtVit
            {
                public partial VqtVitOutput Forward([Shape("B,1,28,28")] Tensor image);

                [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
                [ClsToken] public partial Parameter Cls { get; }
                [RegisterTokens(Count = 2)] public partial Parameter Registers { get; }
                [PositionEmbedding] public partial Parameter Positions { get; }
                [TransformerEncoder(Depth = 2, Heads = 4)] public partial TransformerEncoder Encoder { get; }
                [QueryTokens(Count = 2, Into = nameof(Encoder))] public partial Parameter Queries { get; }
                [ClassifierHead(Classes = 5, Also = nameof(Queries))] public partial ClassifierHead Head { get; }
                [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
            }
            """,
        Declarations.Usings + """
            namespace Samples.Resampled;

            [Model]
            public partial class ResampledVit
            {
                public partial ResampledVitOutput Forward([Shape("B,1,28,28")] Tensor image);

                [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
                [ClsToken] public partial Parameter Cls { get; }
                [PositionEmbedding] public partial Parameter Positions { get; }
                [TransformerEncoder(Depth = 1, Heads = 4)] public partial TransformerEncoder Encoder { get; }
                [Resampler(Queries = 4, Heads = 2, Dim = 16, Over = nameof(Encoder))] public partial Resampler Compress { get; }
                [ClassifierHead(Classes = 10, Pool = Pool.Avg)] public partial ClassifierHead Head { get; }
                [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
            }
            """,
        Declarations.Usings + """
            namespace Samples.Channels;

            [Model]
            public partial class ChannelVit
            {
                public partial ChannelVitOutput Forward([Shape("B,3,28,28")] Tensor image);

                [ChannelPatchEmbedding(PatchSize = 7, Dim = 32, SampleChannels = true)] public partial ChannelPatchEmbedding Patches { get; }
                [ClsToken] public partial Parameter Cls { get; }
                [TransformerEncoder(Depth = 1, Heads = 4)] public partial TransformerEncoder Encoder { get; }
                [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
                [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
            }
            """,
        Declarations.Usings + """
            namespace Samples.Custom;

            [Model]
            public partial class CustomVit
            {
                public partial CustomVitOutput Forward([Shape("B,1,28,28")] Tensor image);

                [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
                [ClsToken] public partial Parameter Cls { get; }
                [CustomModule("B,N,D -> B,N,D")] public partial Identity Mixer { get; }
                [TransformerEncoder(Depth = 1, Heads = 4, MlpRatio = 2.0)] public partial TransformerEncoder Encoder { get; }
                [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
                [CrossEntropyLoss(LabelSmoothing = 0.1, Target = "target", Weight = 0.5)] public partial CrossEntropyLoss Loss { get; }
            }
            """ + Modules,
        // The open DSL: placed tokens and a head reading them, layer ranges, a user-defined stage.
        Declarations.Usings + """
            namespace Samples.Open;

            [Model]
            public partial class OpenVit
            {
                public partial OpenVitOutput Forward([Shape("B,1,28,28")] Tensor image);

                [PatchEmbedding(PatchSize = 7, Dim = 32, Input = "image")] public partial PatchEmbedding Patches { get; }
                [ClsToken] public partial Parameter Cls { get; }
                [Tokens(Count = 2, Place = Place.AfterContent)] public partial Parameter Readout { get; }
                [PositionEmbedding(Covers = PositionCoverage.All)] public partial Parameter Positions { get; }
                [UseStage(Sizes = "K=19,E=32")] public partial Summarize Mixer { get; }
                [TransformerEncoder(Depth = 4, Heads = 4)] public partial TransformerEncoder Encoder { get; }
                [DeepPromptTokens(Count = 3, Into = nameof(Encoder), Layers = "0..1")] public partial Parameter Early { get; }
                [QueryTokens(Count = 2, Into = nameof(Encoder), Layers = "2..")] public partial Parameter Late { get; }
                [ClassifierHead(Classes = 10, Also = nameof(Late))] public partial ClassifierHead Head { get; }
                [RegressionHead(Reads = nameof(Readout), Pool = Pool.Avg, Outputs = 1)] public partial RegressionHead Score { get; }
                [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
                [MseLoss(Of = nameof(Score))] public partial MseLoss ScoreLoss { get; }
            }
            """ + UserStageDiagnosticTests.Module,
        // Family 1: a text tower with learned vocabulary and prompts; a CLIP of two towers.
        PromptDiagnosticTests.WithVocabulary("First = 30, Count = 10"),
        PromptDiagnosticTests.Clip,
    ];

    // Values typed into any argument: in range, out of range, non-finite, of another type, not
    // constant, half-typed. Integers may be huge: the divisor searches are O(sqrt).
    private static readonly string[] Values =
    [
        "0", "-1", "-7", "1", "2", "3", "4", "5", "7", "13", "16", "64", "100", "1000", "65536", "1000000000",
        "int.MaxValue", "int.MinValue", "2147483647", "-2147483648", "1 << 20", "unchecked((int)0xFFFFFFFF)", "int.MaxValue / 65536",
        "0.0", "-0.5", "0.5", "0.99999", "1.5", "4.0", "1e308", "-1e308", "1e-320", "double.NaN", "double.PositiveInfinity",
        "double.NegativeInfinity", "-double.Epsilon", "double.MaxValue", "float.NaN", "1.5f", "2m", "64L", "64u", "(byte)64", "'c'",
        "Pool.Cls", "Pool.Avg", "Pool.Map", "(Pool)7", "(Pool)(-1)", "Pool.Cls | Pool.Avg", "default(Pool)",
        "PositionCoverage.PatchesOnly", "PositionCoverage.PrefixAndPatches", "(PositionCoverage)9", "PositionCoverage.All",
        "Place.AfterContent", "Place.Prefix", "(Place)4", "Pool.First", "Pool.Last", "\"0..1\"", "\"2..\"", "\"..9\"", "\"5..2\"", "\"a..b\"",
        "\"-1..2\"", "\"99999999999..\"", "\"..\"", "\"K=4,E=32\"", "\"K=0\"", "\"K=4,K=5\"", "\"=4\"", "\"K=99999999999\"", "nameof(Readout)", "\"Readout\"",
        "Reparam.BiLstm", "Reparam.Mlp", "(Reparam)5", "FeaturePool.EndToken", "FeaturePool.Cls", "(FeaturePool)9", "39", "40", "41",
        "true", "false", "!true", "\"label\"", "\"\"", "\" \"", "\"image\"", "\"64\"", "\"Head\"", "\"Encoder\"", "\"Queries\"",
        "\"\\u0000\"", "$\"{1}\"", "\"B,N,D -> B,N,D\"", "null", "default", "default(int)", "typeof(int)", "new[] { 1, 2 }",
        "new string[0]", "new[] { \"head\", null }", "nameof(Head)", "nameof(Encoder)", "nameof(Patches)", "nameof(Nope)", "nameof(Vit)",
        "nameof(Forward)", "Dim", "this", "x => x", "", "4 +", "(4", "\"unclosed", "4)", "Dim =", "Heads: 4",
    ];

    private static readonly string[] Shapes =
    [
        "B,1,28,28", "B,3,32,32", "B,3,28,28", "B,1,28", "B,C,H,W", "", " ", "B,1,0,0", "B,1,-28,28", "B,1,28/0,28",
        "B,1,(28,28", "[B,1,28,28", "B,1,28*28,28", "B,1,H,28", "N+1,1,28,28", "B,1,2*14,28-0", "B,,28,28",
        "B,1,28,28,1", "B,1,H/7,W", "B,1,28,28]", "b,1,28,28", "B, 1, 28, 28 ", "B,1,1000000007,1000000007",
        "B,1,9223372036854775807,9223372036854775807", "B,1,99999999999999999999,28", "B,1,3037000500*3037000500,28",
        "B,1,2*(3+4),28/(2-2)", "B,1,9223372036854775807,28", "B,3,999999999999999989,999999999999999989",
        "B,1,28,28/B*B", "B,-1,28,28", "0,1,28,28", "B,1,28,28 -> B,1,28,28", "1,2,3,4,5,6,7,8,9", "B,\u0661,28,28", "B,1,2\u00b2,28",
        "B,1,(-9223372036854775807-1)/-1,28", "B,1,28,(-9223372036854775807-1)*B/-B",
    ];

    private static readonly string[] Contracts =
    [
        "B,N,D -> B,N,D", "B,N,D -> B,N,D*2", "B,N,D -> B,N,D/2", "->", "B,N,D ->", "-> B,N,D", "B,N,D", "B,N,D -> B,N,E",
        "B,N,D -> B,N,D -> B,N,D", "B,D -> B,D", "B,N,0 -> B,N,D", "B,N,D*0 -> B,N,D", "B,N,D/0 -> B,N,D", "B,N,D-D -> B,N,D",
        "B,N,D -> B,N,D*9223372036854775807", "B,N,D*4611686018427387904 -> B,N,D", "B,N,D -> B,N,D/D", "B,N,D/D -> B,N,1",
        "B,N,D -> B,(N+1)/0,D", "[B,N,D] -> [B,N,D]", "", "B,N,D-->B,N,D", "B,17,64 -> B,17,64",
        "B,N,(-9223372036854775807-1)/-1 -> B,N,D",
    ];

    private static readonly string[] StageKinds =
    [
        "PatchEmbedding", "ChannelPatchEmbedding", "ClsToken", "RegisterTokens", "PositionEmbedding", "TransformerEncoder",
        "ClassifierHead", "CrossEntropyLoss", "CustomModule", "DeepPromptTokens", "QueryTokens", "Resampler",
        "TaskTokens", "TaskDecoder", "RegressionHead", "MaskHead", "MseLoss", "BinaryCrossEntropyLoss",
        "TokenEmbedding", "VocabularyTokens", "PromptTokens", "FeatureProjection", "CosineLogits", "ContrastiveLoss", "Tower",
        "Tokens", "UseStage", "Stage", "StageParameter",
        "ModelDsl.ClsToken", "ClsTokenAttribute", "global::ModelDsl.TransformerEncoderAttribute", "Model", "Shape", "Nope", "Obsolete",
    ];

    private static readonly string[] ArgumentNames =
    [
        "PatchSize", "Dim", "Frozen", "Count", "Covers", "Depth", "Heads", "MlpRatio", "Classes", "Pool", "PoolHeads", "Also",
        "Of", "LabelSmoothing", "Target", "Weight", "Contract", "Into", "Queries", "Over", "SampleChannels", "Prefix", "Exclude",
        "Task", "Optional", "Outputs", "PixelDim",
        "Vocab", "MaxLength", "Input", "First", "After", "PerClass", "Reparameterize", "Hidden", "Residual", "EndToken", "LearnScale", "Scale", "Output",
        "Layers", "Reads", "Place", "Sizes", "RegisteredAs",
        "dim", "Nope", "Dim2",
    ];

    private static readonly string[] MemberTypes =
    [
        "PatchEmbedding", "ChannelPatchEmbedding", "Parameter", "TransformerEncoder", "ClassifierHead", "CrossEntropyLoss", "Resampler",
        "TaskDecoder", "RegressionHead", "MaskHead", "MseLoss", "BinaryCrossEntropyLoss",
        "TokenEmbedding", "VocabularyTokens", "PromptTokens", "FeatureProjection", "CosineLogits", "ContrastiveLoss", "ImageTower", "TextTower",
        "Identity", "NeedsWidth", "Summarize", "NotAStage", "TakesAName", "Tensor", "int", "string", "Nope", "TorchSharp.torch.nn.Module<Tensor, Tensor>", "Parameter?",
        "Parameter[]", "List<Parameter>", "dynamic", "object",
    ];

    private static readonly string[] MemberNames = ["Patches", "Cls", "Registers", "Positions", "Encoder", "Head", "Loss", "Extra", "Forward", "Vit", "@class", "_"];

    private static readonly string[] Forwards =
    [
        "public partial VitOutput Forward();",
        "public partial VitOutput Forward([Shape(\"B,1,28,28\")] Tensor image, [Shape(\"B,3,32,32\")] Tensor other);",
        "public partial VitOutput Forward([Shape(\"B,1,28,28\")] params Tensor[] images);",
        "public partial VitOutput Forward([Shape(\"B,1,28,28\")] ref Tensor image);",
        "public partial VitOutput Forward([Shape(\"B,1,28,28\")] out Tensor image);",
        "public partial VitOutput Forward<T>([Shape(\"B,1,28,28\")] T image);",
        "public partial void Forward([Shape(\"B,1,28,28\")] Tensor image);",
        "public partial VitOutput Forward([Shape(\"B,1,28,28\")] int image);",
        "public partial VitOutput Forward([Shape(\"B,1,28,28\")] Tensor image = null);",
        "public static partial VitOutput Forward([Shape(\"B,1,28,28\")] Tensor image);",
        "public VitOutput Forward([Shape(\"B,1,28,28\")] Tensor image) => throw null!;",
        "public partial VitOutput Forward([Shape(\"B,1,28,28\")] Tensor image);\n    public partial VitOutput Forward([Shape(\"B,3,32,32\")] Tensor image, int n);",
        "public partial VitOutput Forward([Shape] Tensor image);",
        "public partial VitOutput Forward([Shape(null)] Tensor image);",
        "public partial VitOutput Forward([Shape(\"B,1,28,28\"), Shape(\"B,1,32,32\")] Tensor image);",
        "public Tensor Forward { get; }",
        "public partial VitOutput Forward([Shape(\"B,1,28,28\")] Tensor image",
        "public partial VitOutput Forward([Shape(\"B,1,28,28\")",
        "public partial VitOutput Forward(",
        "public partial",
    ];

    private static readonly (string From, string To)[] ClassEdits =
    [
        ("partial class", "partial struct"), ("partial class", "partial record"), ("partial class", "partial record struct"),
        ("partial class", "partial interface"), ("partial class", "static partial class"), ("partial class", "abstract partial class"),
        ("partial class", "sealed partial class"), ("partial class", "file partial class"), ("partial class", "partial class"),
        ("[Model]", "[Model, Model]"), ("[Model]", "[Model(1)]"), ("[Model]", "[Model()]"), ("[Model]", "[ModelDsl.Model]"),
        ("[Model]", "[Model"), ("[Model]", "[ModelAttribute]"), ("[Model]", "[Obsolete]"), ("[Model]", "[Model][Shape(\"B\")]"),
        ("[Model]", "[Model]\n[PretrainedWeights(\"weights/vit.safetensors\", Prefix = \"model.\", Exclude = new[] { \"head\" })]"),
        ("[Model]", "[Model, PretrainedWeights(null, Prefix = null, Exclude = null)]"), ("[Model]", "[Model, PretrainedWeights(\"\")]"),
        ("[Model]", "[Model, PretrainedWeights(\"../../x.safetensors\", Exclude = new[] { \"\", null })]"), ("[Model]", "[Model, PretrainedWeights]"),
        ("{\n", "<T> where T : class\n{\n"), ("{\n", "<T>\n{\n"), ("{\n", " : Vit\n{\n"), ("{\n", " : TorchSharp.torch.nn.Module\n{\n"),
        ("{\n", " : System.IDisposable\n{\n"), ("public partial class", "internal partial class"), ("public partial class", "private partial class"),
    ];

    private static readonly char[] Noise = ['(', ')', '[', ']', '"', ',', '=', ';', '{', '}', '<', '>', ' ', '\n', '0', '-', '@', '#', '/', '*', '\\'];

    private static readonly Regex NamedArgument = new(@"\b(\w+) = ([^,)\]\n]+)", RegexOptions.Compiled);
    private static readonly Regex ShapeArgument = new("Shape\\(\"([^\"]*)\"\\)", RegexOptions.Compiled);
    private static readonly Regex ContractArgument = new("CustomModule\\(\"([^\"]*)\"", RegexOptions.Compiled);
    private static readonly Regex AttributeArguments = new(@"\[(\w+)(\(([^\]\n]*)\))?\]", RegexOptions.Compiled);
    private static readonly Regex Property = new(@"(public|internal|private)?( ?partial)? ([\w.<>,?\[\] ]+?) (\w+) \{ get; \}", RegexOptions.Compiled);
    private static readonly Regex ForwardLine = new(@"[^\n]*Forward\([^\n]*\n", RegexOptions.Compiled);

    public sealed record Mutant(string Source, List<string> Log);

    public static Mutant Create(int index, Random random)
    {
        var template = Templates[index % Templates.Length];
        var (source, log) = Mutate(template, random);
        return new Mutant(source, log);
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    internal static (string Source, List<string> Log) Mutate(string source, Random random)
    {
        var log = new List<string>();
        var count = random.Next(1, 5);
        for (var m = 0; m < count; m++)
            source = MutateOnce(source, random, log);
        return (source, log);
    }

    private static string MutateOnce(string source, Random random, List<string> log)
    {
        switch (random.Next(16))
        {
            case 0 or 1:
            {
                var matches = NamedArgument.Matches(source);
                if (matches.Count == 0) return Insert(source, random, log);
                var match = matches[random.Next(matches.Count)];
                var value = Pick(random, Values);
                log.Add($"{match.Groups[1].Value} = {value}");
                return Replace(source, match.Groups[2], value);
            }
            case 2:
            {
                var matches = random.Next(4) == 0 ? ContractArgument.Matches(source) : ShapeArgument.Matches(source);
                if (matches.Count == 0) return Insert(source, random, log);
                var match = matches[random.Next(matches.Count)];
                var value = match.Value.StartsWith("Custom", StringComparison.Ordinal) ? Pick(random, Contracts) : Pick(random, Shapes);
                log.Add($"string \"{value}\"");
                return Replace(source, match.Groups[1], value);
            }
            case 3:
            {
                // Delete a member: an attribute line and the line after it, or any one line.
                var lines = source.Split('\n').ToList();
                var attributes = lines.Select((l, i) => (l, i)).Where(x => x.l.TrimStart().StartsWith('[')).Select(x => x.i).ToList();
                if (attributes.Count > 0 && random.Next(3) > 0)
                {
                    var at = Pick(random, attributes);
                    log.Add($"delete member at line {at + 1}: {lines[at].Trim()}");
                    lines.RemoveRange(at, lines[at].Contains('{') ? 1 : Math.Min(2, lines.Count - at));
                }
                else
                {
                    var at = random.Next(lines.Count);
                    log.Add($"delete line {at + 1}: {lines[at].Trim()}");
                    lines.RemoveAt(at);
                }
                return string.Join('\n', lines);
            }
            case 4:
            {
                var occurrences = Regex.Matches(source, @"\bpartial ").Select(x => x.Index).ToList();
                if (occurrences.Count == 0) return Insert(source, random, log);
                var at = Pick(random, occurrences);
                log.Add($"delete 'partial' at {at}");
                return source.Remove(at, "partial ".Length);
            }
            case 5:
            {
                // Typing at the end of the file: everything after the cursor is not there yet.
                var at = random.Next(source.Length);
                log.Add($"truncate at {at}");
                return source.Substring(0, at);
            }
            case 6:
                return Insert(source, random, log);
            case 7:
            {
                // A half-typed line in the middle of the file: the rest of the line is not typed yet.
                var lines = source.Split('\n').ToList();
                var at = random.Next(lines.Count);
                var cut = lines[at].Length == 0 ? 0 : random.Next(lines[at].Length);
                log.Add($"half-type line {at + 1} to '{lines[at].Substring(0, cut).Trim()}'");
                lines[at] = lines[at].Substring(0, cut);
                return string.Join('\n', lines);
            }
            case 8:
            {
                // Delete a bracket, quote or separator: unclosed code.
                var positions = source.Select((c, i) => (c, i)).Where(x => "()[]{}\";,<>".Contains(x.c)).Select(x => x.i).ToList();
                if (positions.Count == 0) return Insert(source, random, log);
                var at = Pick(random, positions);
                log.Add($"delete '{source[at]}' at {at}");
                return source.Remove(at, 1);
            }
            case 9:
            {
                // Add an argument to a stage attribute: named or positional, known or not, maybe twice.
                var matches = AttributeArguments.Matches(source);
                if (matches.Count == 0) return Insert(source, random, log);
                var match = matches[random.Next(matches.Count)];
                var argument = random.Next(5) == 0 ? Pick(random, Values) : $"{Pick(random, ArgumentNames)} = {Pick(random, Values)}";
                var arguments = match.Groups[3].Success && match.Groups[3].Length > 0
                    ? (random.Next(2) == 0 ? argument + ", " + match.Groups[3].Value : match.Groups[3].Value + ", " + argument)
                    : argument;
                log.Add($"[{match.Groups[1].Value}({arguments})]");
                return source.Remove(match.Index, match.Length).Insert(match.Index, $"[{match.Groups[1].Value}({arguments})]");
            }
            case 10:
            {
                // A new stage member, anywhere between members.
                var member = RandomMember(random);
                var lines = source.Split('\n').ToList();
                var at = random.Next(lines.Count + 1);
                log.Add($"insert at line {at + 1}: {member}");
                lines.Insert(at, "    " + member);
                return string.Join('\n', lines);
            }
            case 11:
            {
                var matches = Property.Matches(source);
                if (matches.Count == 0) return Insert(source, random, log);
                var match = matches[random.Next(matches.Count)];
                if (random.Next(2) == 0)
                {
                    var type = Pick(random, MemberTypes);
                    log.Add($"{match.Groups[4].Value} has type {type}");
                    return Replace(source, match.Groups[3], type);
                }
                var name = Pick(random, MemberNames);
                log.Add($"{match.Groups[4].Value} renamed {name}");
                return Replace(source, match.Groups[4], name);
            }
            case 12:
            {
                var (from, to) = Pick(random, ClassEdits);
                var at = source.IndexOf(from, StringComparison.Ordinal);
                if (at < 0) return Insert(source, random, log);
                log.Add($"'{from}' -> '{to}'");
                return source.Remove(at, from.Length).Insert(at, to);
            }
            case 13:
            {
                var match = ForwardLine.Match(source);
                if (!match.Success) return Insert(source, random, log);
                var name = Regex.Match(source, @"class (\w+)") is { Success: true } c ? c.Groups[1].Value : "Vit";
                var forward = Pick(random, Forwards).Replace("VitOutput", name + "Output");
                log.Add($"forward: {forward}");
                return source.Remove(match.Index, match.Length).Insert(match.Index, "    " + forward + "\n");
            }
            case 14:
            {
                // Move or duplicate a member line (copy-paste).
                var lines = source.Split('\n').ToList();
                var members = lines.Select((l, i) => (l, i)).Where(x => x.l.Contains("{ get; }")).Select(x => x.i).ToList();
                if (members.Count == 0) return Insert(source, random, log);
                var from = Pick(random, members);
                var line = lines[from];
                var attribute = from > 0 && lines[from - 1].TrimStart().StartsWith('[') ? lines[from - 1] + "\n" : "";
                var duplicate = random.Next(2) == 0;
                if (!duplicate)
                {
                    lines.RemoveAt(from);
                    if (attribute.Length > 0) lines.RemoveAt(from - 1);
                }
                var to = random.Next(lines.Count + 1);
                lines.Insert(to, attribute + line);
                log.Add($"{(duplicate ? "duplicate" : "move")} '{line.Trim()}' to line {to + 1}");
                return string.Join('\n', lines);
            }
            default:
            {
                // Nest the model in another type, or add a second declaration of it.
                var name = Regex.Match(source, @"class (\w+)") is { Success: true } c ? c.Groups[1].Value : "Vit";
                var at = source.IndexOf("[Model]", StringComparison.Ordinal);
                if (at < 0) return Insert(source, random, log);
                switch (random.Next(4))
                {
                    case 0:
                        log.Add("nest in a generic class");
                        return source.Insert(at, "public partial class Outer<T>\n{\n") + "\n}\n";
                    case 1:
                        log.Add("nest in a non-partial struct");
                        return source.Insert(at, "public struct Outer\n{\n") + "\n}\n";
                    case 2:
                        log.Add("second partial declaration");
                        return source + $"\n\npublic partial class {name}\n{{\n    [ClsToken] public partial Parameter Cls2 {{ get; }}\n    public partial {name}Output Forward([Shape(\"B,3,32,32\")] Tensor x);\n}}\n";
                    case 3 when random.Next(2) == 0:
                        log.Add("[Model] on a second partial declaration");
                        return source + $"\n\n[Model]\npublic partial class {name}\n{{\n    [ClsToken] public partial Parameter Cls2 {{ get; }}\n}}\n";
                    default:
                        var second = "Second" + Regex.Matches(source, @"class Second").Count;
                        log.Add($"model {second} added to the file");
                        return source + $"\n\n[Model]\npublic partial class {second}\n{{\n    [PatchEmbedding(PatchSize = 4)] public partial PatchEmbedding Patches {{ get; }}\n}}\n";
                }
            }
        }
    }

    private static string RandomMember(Random random)
    {
        var kind = Pick(random, StageKinds);
        var arguments = Enumerable.Range(0, random.Next(4)).Select(_ => random.Next(4) == 0
            ? "\"" + Pick(random, Contracts) + "\""
            : $"{Pick(random, ArgumentNames)} = {Pick(random, Values)}");
        var list = random.Next(4) == 0 ? "" : $"({string.Join(", ", arguments)})";
        var modifiers = Pick(random, new[] { "public partial", "partial", "public", "internal partial", "public static partial", "public required partial", "" });
        var accessors = Pick(random, new[] { "{ get; }", "{ get; set; }", "{ get; init; }", "=> null!;", "{ get => null!; }", ";", "{ get;" });
        return $"[{kind}{list}] {modifiers} {Pick(random, MemberTypes)} {Pick(random, MemberNames)} {accessors}";
    }

    private static string Replace(string source, Group group, string value) =>
        source.Remove(group.Index, group.Length).Insert(group.Index, value);

    private static string Insert(string source, Random random, List<string> log)
    {
        var at = random.Next(source.Length + 1);
        var c = Pick(random, Noise);
        log.Add($"insert '{(c == '\n' ? "\\n" : c.ToString())}' at {at}");
        return source.Insert(at, c.ToString());
    }
}
