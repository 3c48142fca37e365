using ModelDsl.Blocks;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace ModelDsl.Tests.Generated;

/// <summary>The plain model the three below change inside its blocks: 16 patches and a CLS token, 4 blocks.</summary>
[Model]
public partial class PlainBlocksVit
{
    public partial PlainBlocksVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 4, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>ToMe: 3 tokens merged in each of blocks 0..2 (17 -> 14 -> 11 -> 8 tokens), applied to a trained model as is.</summary>
[Model]
public partial class MergingVit
{
    public partial MergingVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 4, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [TokenMerging(R = 3, Into = nameof(Encoder), Layers = "0..2")] public partial TokenMerging Merging { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>EViT: keep rate 0.5 in blocks 1 and 3 (17 -> 10 -> 7 tokens with the fused token).</summary>
[Model]
public partial class PruningVit
{
    public partial PruningVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 4, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [TokenPruning(KeepRate = 0.5, Layers = "1")] public partial TokenPruning Early { get; }
    [TokenPruning(KeepRate = 0.5, Layers = "3")] public partial TokenPruning Late { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>Mixture-of-Depths: half the patches through blocks 0 and 2, every token through blocks 1 and 3.</summary>
[Model]
public partial class RoutingVit
{
    public partial RoutingVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 4, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [DepthRouting(Capacity = 0.5, Every = 2)] public partial DepthRouters Routers { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>A TokenFormer ViT with 16 parameter tokens per projection (64 per MLP).</summary>
[Model]
public partial class TokenFormerVit
{
    public partial TokenFormerVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TokenFormerEncoder(Depth = 2, Heads = 4, Tokens = 16)] public partial TokenFormerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>The same model grown to 32 tokens per projection (128 per MLP), keeping the smaller model's sqrt(n).</summary>
[Model]
public partial class GrownTokenFormerVit
{
    public partial GrownTokenFormerVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TokenFormerEncoder(Depth = 2, Heads = 4, Tokens = 32, GrownFrom = 16)] public partial TokenFormerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}
