using ModelDsl.Blocks;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace ModelDsl.Tests.Generated;

// Models declared through the DSL and generated at build time, as users get them.

[Model]
public partial class TinyVit
{
    public partial TinyVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [RegisterTokens(Count = 2)] public partial Parameter Registers { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10, Pool = Pool.Cls)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss(LabelSmoothing = 0.1)] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>A frozen encoder under a trainable head: the linear-probe setting.</summary>
[Model]
public partial class FrozenEncoderVit
{
    public partial FrozenEncoderVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32, Frozen = true)] public partial PatchEmbedding Patches { get; }
    [PositionEmbedding(Covers = PositionCoverage.PatchesOnly, Frozen = true)] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 2, Frozen = true)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10, Pool = Pool.Avg)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

[Model]
public partial class MapPooledVit
{
    public partial MapPooledVitOutput Forward([Shape("B,3,32,32")] Tensor image);

    [PatchEmbedding(PatchSize = 8, Dim = 48)] public partial PatchEmbedding Patches { get; }
    [RegisterTokens(Count = 4)] public partial Parameter Registers { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 1, Heads = 3, MlpRatio = 2)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 5, Pool = Pool.Map)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}
