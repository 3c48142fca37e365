using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace ModelDsl.Generators.Benchmarks;

/// <summary>The benchmark project: varied, valid model classes (one a file) and a few unrelated files.</summary>
internal static class Sources
{
    public sealed record File(string Path, string Text);

    private static readonly (int Channels, int Size, int[] Patches)[] Images =
    [
        (1, 28, [4, 7, 14]), (3, 32, [4, 8, 16]), (3, 64, [8, 16]), (1, 96, [8, 16, 32]), (3, 224, [14, 16, 32]),
    ];

    private static readonly int[] Widths = [32, 48, 64, 96, 128, 192, 256, 384];

    private static readonly int[] HeadCounts = [1, 2, 4, 8, 3, 6, 12, 16];

    private static readonly string[] Pools = ["Cls", "Avg", "Map"];

    private static readonly int[] ClassCounts = [10, 100, 1000];

    public const string Unrelated = """
        namespace Elsewhere;

        public sealed class Unrelated
        {
            public string Name { get; init; } = "";

            public override string ToString() => Name;
        }
        """;

    public static List<File> Create(int models)
    {
        var files = Enumerable.Range(0, models).Select(i => new File($"Models/Model{i:000}.cs", Model(i))).ToList();
        for (var k = 0; k < 5; k++)
            files.Add(new File($"Util/Helper{k}.cs", Helper(k)));
        return files;
    }

    private static string Model(int i)
    {
        var (channels, size, patches) = Images[i % Images.Length];
        var patch = patches[i / Images.Length % patches.Length];
        var dim = Widths[i * 3 % Widths.Length];
        var divisors = HeadCounts.Where(h => dim % h == 0).ToArray();
        var heads = divisors[i / 2 % divisors.Length];
        var depth = 1 + i * 7 % 12;
        var pool = Pools[i % Pools.Length];
        var cls = pool == "Cls" || i % 2 == 0;
        var registers = i % 4 == 1 ? 1 + i % 8 : 0;
        var prompts = i % 10 == 3;
        var queries = i % 10 == 7;
        var name = $"Model{i:000}";

        var s = new StringBuilder();
        s.Append("""
            using ModelDsl;
            using ModelDsl.Blocks;
            using Parameter = TorchSharp.Modules.Parameter;
            using static TorchSharp.torch;

            namespace Bench.Models;

            """);
        s.Append($"/// <summary>Benchmark model {i}: {channels}x{size}x{size}, patches of {patch}, width {dim}, {depth} blocks, {pool} pooling.</summary>\n");
        s.Append("[Model]\n");
        s.Append($"public partial class {name}\n{{\n");
        s.Append($"    public partial {name}Output Forward([Shape(\"B,{channels},{size},{size}\")] Tensor image);\n\n");
        s.Append($"    [PatchEmbedding(PatchSize = {patch}, Dim = {dim})]\n    public partial PatchEmbedding Patches {{ get; }}\n\n");
        if (cls)
            s.Append("    [ClsToken]\n    public partial Parameter Cls { get; }\n\n");
        if (registers > 0)
            s.Append($"    [RegisterTokens(Count = {registers})]\n    public partial Parameter Registers {{ get; }}\n\n");
        s.Append(i % 5 == 2
            ? "    [PositionEmbedding(Covers = PositionCoverage.PatchesOnly)]\n    public partial Parameter Positions { get; }\n\n"
            : "    [PositionEmbedding]\n    public partial Parameter Positions { get; }\n\n");
        var encoder = $"Depth = {depth}, Heads = {heads}" + (i % 6 == 0 ? ", MlpRatio = 2.0" : "") + (i % 7 == 0 ? ", Frozen = true" : "");
        s.Append($"    [TransformerEncoder({encoder})]\n    public partial TransformerEncoder Encoder {{ get; }}\n\n");
        if (prompts)
            s.Append("    [DeepPromptTokens(Count = 4, Into = nameof(Encoder))]\n    public partial Parameter Prompts { get; }\n\n");
        if (queries)
            s.Append("    [QueryTokens(Count = 2, Into = nameof(Encoder))]\n    public partial Parameter Queries { get; }\n\n");
        var head = $"Classes = {ClassCounts[i % ClassCounts.Length]}" + (pool == "Cls" ? "" : $", Pool = Pool.{pool}") + (queries ? ", Also = nameof(Queries)" : "");
        s.Append($"    [ClassifierHead({head})]\n    public partial ClassifierHead Head {{ get; }}\n\n");
        var loss = i % 9 == 0 ? "LabelSmoothing = 0.1, Target = \"target\", Weight = 0.5" : i % 2 == 0 ? "LabelSmoothing = 0.1" : "";
        s.Append(loss.Length > 0 ? $"    [CrossEntropyLoss({loss})]\n" : "    [CrossEntropyLoss]\n");
        s.Append("    public partial CrossEntropyLoss Loss { get; }\n}\n");
        return s.ToString();
    }

    private static string Helper(int k) => $$"""
        namespace Bench.Util;

        public static class Helper{{k}}
        {
            public static int Twice(int value) => value * 2;

            public static int Sum(int[] values)
            {
                var total = 0;
                foreach (var value in values)
                    total += value;
                return total;
            }

            public static string Describe(object? value) => value?.ToString() ?? "(null)";
        }
        """;
}
