using System;
using System.IO;
using System.Linq;
using DeepTokensExample;
using ModelDsl.Blocks;
using ModelDsl.Data;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace ModelDsl.Tests.Examples;

// Tiny versions of the example's four models (examples/DeepTokens/Models.cs): same stages and names, width 16, depth 2.

[Model]
public partial class TinyDeepTokensPretrain
{
    public partial TinyDeepTokensPretrainOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 16)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 2)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 5)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss(LabelSmoothing = 0.1)] public partial CrossEntropyLoss Loss { get; }
}

[Model]
public partial class TinyDeepTokensProbe
{
    public partial TinyDeepTokensProbeOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 16, Frozen = true)] public partial PatchEmbedding Patches { get; }
    [ClsToken(Frozen = true)] public partial Parameter Cls { get; }
    [PositionEmbedding(Frozen = true)] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 2, Frozen = true)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 5)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

[Model]
public partial class TinyDeepTokensVpt
{
    public partial TinyDeepTokensVptOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 16, Frozen = true)] public partial PatchEmbedding Patches { get; }
    [ClsToken(Frozen = true)] public partial Parameter Cls { get; }
    [PositionEmbedding(Frozen = true)] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 2, Frozen = true)] public partial TransformerEncoder Encoder { get; }
    [DeepPromptTokens(Count = 2, Into = nameof(Encoder))] public partial Parameter Prompts { get; }
    [ClassifierHead(Classes = 5)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

[Model]
public partial class TinyDeepTokensVqt
{
    public partial TinyDeepTokensVqtOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 16, Frozen = true)] public partial PatchEmbedding Patches { get; }
    [ClsToken(Frozen = true)] public partial Parameter Cls { get; }
    [PositionEmbedding(Frozen = true)] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 2, Frozen = true)] public partial TransformerEncoder Encoder { get; }
    [QueryTokens(Count = 2, Into = nameof(Encoder))] public partial Parameter Queries { get; }
    [ClassifierHead(Classes = 5, Also = nameof(Queries))] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

public sealed class DeepTokensSmokeTests
{
    // The backbone's registered tensors: patch_embed (2), cls_token, pos_embed, blocks (2 x 12), norm (2).
    private const int BackboneTensors = 2 + 1 + 1 + 2 * 12 + 2;

    [Fact]
    public void Smoke_run_fills_every_row_of_the_results_table_with_values_in_range()
    {
        var (train, test) = FashionMnist.LoadEmbedded();
        using var trainOwner = train;
        using var testOwner = test;
        var output = Path.Combine(Path.GetTempPath(), $"deep-tokens-smoke-{Guid.NewGuid():N}");
        try
        {
            var pretrain = Recipe.Of("pretrain", "Pretrained ViT", 2e-3, d => new TinyDeepTokensPretrain(d));
            var methods = new[]
            {
                Recipe.Of("probe", "Linear probe (CLS)", 1e-2, d => new TinyDeepTokensProbe(d), "head"),
                Recipe.Of("vpt", "VPT-deep", 1e-2, d => new TinyDeepTokensVpt(d), "head", "prompts"),
                Recipe.Of("vqt", "VQT", 1e-2, d => new TinyDeepTokensVqt(d), "head", "queries"),
            };
            var settings = new ExperimentSettings
            {
                PretrainEpochs = 1,
                PretrainBatchSize = 16,
                Shots = 4,
                FewShotEpochs = 1,
                FewShotBatchSize = 8,
                MemoryBatchSize = 8,
                MemorySteps = 2,
                Seed = 3,
                Smoke = true,
                Device = CPU,
                OutputDirectory = output,
                TuneAllocator = false,   // leave the test host's malloc settings alone
                Log = TextWriter.Null,
            };

            var result = FewShotExperiment.Run(train, test, pretrain, methods, settings);

            Assert.True(File.Exists(result.PretrainedWeights));
            var rows = result.Table.Rows;
            Assert.Equal(new[] { "Pretrained ViT", "Linear probe (CLS)", "VPT-deep", "VQT" }, rows.Select(r => r.Method));
            Assert.Equal(new[] { "0-4", "5-9", "5-9", "5-9" }, rows.Select(r => r.Classes));
            Assert.Equal(8, result.Table.MemoryBatchSize);
            foreach (var row in rows)
            {
                Assert.InRange(row.TestAccuracy, 0.0, 1.0);
                Assert.InRange(row.TrainSeconds, 0.0, 600.0);
                Assert.True(row.CpuSeconds >= 0, $"{row.Method}: CPU time {row.CpuSeconds}");
                Assert.InRange(row.TrainableParameters, 1, row.TotalParameters);
            }

            // Parameter counts: what the declarations say at compile time.
            var summaries = new[] { TinyDeepTokensPretrain.Summary, TinyDeepTokensProbe.Summary, TinyDeepTokensVpt.Summary, TinyDeepTokensVqt.Summary };
            Assert.Equal(summaries.Select(s => s.TrainableParameters), rows.Select(r => r.TrainableParameters));
            Assert.Equal(summaries.Select(s => s.TotalParameters), rows.Select(r => r.TotalParameters));
            Assert.Equal(5 * 16 + 5, rows[1].TrainableParameters);                              // head only
            Assert.Equal(5 * 16 + 5 + 2 * 2 * 16, rows[2].TrainableParameters);                 // head + [Depth,Count,D] prompts
            Assert.Equal(5 * (16 + 2 * 2 * 16) + 5 + 2 * 2 * 16, rows[3].TrainableParameters);  // head on CLS + query outputs, + queries

            Assert.Null(rows[0].PeakMemoryBytes);
            Assert.Null(rows[0].HeldMemoryBytes);
            foreach (var row in rows.Skip(1))
            {
                Assert.Equal(5L * 4, row.TrainImages);
                Assert.NotNull(row.PeakMemoryBytes);
                Assert.InRange(row.PeakMemoryBytes!.Value, 0L, 4L << 30);
                Assert.InRange(row.HeldMemoryBytes!.Value, 0L, 4L << 30);
            }
            Assert.All(result.FewShot, r => Assert.Equal(BackboneTensors, r.LoadedTensors));
            Assert.All(result.Memory, m => Assert.Equal(2, m.Steps));

            var markdown = result.Table.ToMarkdown().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2 + rows.Count, markdown.Length);
            Assert.Contains("VQT", markdown[^1]);
            Assert.True(File.Exists(Path.Combine(output, "vqt", "metrics.jsonl")));
        }
        finally
        {
            if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public void Few_shot_selection_remaps_labels_and_takes_the_same_shots_for_the_same_seed()
    {
        var (train, test) = FashionMnist.LoadEmbedded();
        using var trainOwner = train;
        using var testOwner = test;

        using var novel = FewShotData.SelectClasses(train, 5, 5, shotsPerClass: 3, seed: 7);
        using var again = FewShotData.SelectClasses(train, 5, 5, shotsPerClass: 3, seed: 7);
        using var rest = FewShotData.SelectClasses(train, 5, 5, shotsPerClass: 3, seed: 7, complement: true);
        using var basis = FewShotData.SelectClasses(test, 0, 5);

        var labels = novel["label"].data<long>().ToArray();
        Assert.Equal(15, labels.Length);
        Assert.Equal(new long[] { 0, 1, 2, 3, 4 }, labels.Distinct().OrderBy(l => l));
        Assert.All(Enumerable.Range(0, 5), c => Assert.Equal(3, labels.Count(l => l == c)));
        Assert.True(novel["image"].eq(again["image"]).all().item<bool>());
        Assert.Equal(5 * 800 - 15, rest.Count);
        Assert.Equal(5 * 200, basis.Count);
        Assert.True(basis["label"].max().item<long>() <= 4);
    }
}
