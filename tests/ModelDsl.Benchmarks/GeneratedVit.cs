using ModelDsl;
using ModelDsl.Blocks;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace ModelDsl.Benchmarks;

/// <summary>The foundation's ViT (examples/FashionVit) declared through the DSL: the generated side of the benchmark.</summary>
[Model]
public partial class GeneratedVit
{
    public partial GeneratedVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)]
    public partial PatchEmbedding Patches { get; }

    [ClsToken]
    public partial Parameter Cls { get; }

    [RegisterTokens(Count = 4)]
    public partial Parameter Registers { get; }

    [PositionEmbedding(Covers = PositionCoverage.PrefixAndPatches)]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 4, Heads = 4)]
    public partial TransformerEncoder Encoder { get; }

    [ClassifierHead(Classes = 10, Pool = Pool.Cls)]
    public partial ClassifierHead Head { get; }

    [CrossEntropyLoss(LabelSmoothing = 0.1)]
    public partial CrossEntropyLoss Loss { get; }
}
