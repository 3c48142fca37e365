using ModelDsl;
using ModelDsl.Blocks;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace ResamplerExample;

// Three heads on the same small ViT (patch 7 -> 16 patches, width 64, depth 3, CLS + positions).
// The backbone declarations are identical, so with the same seed the three models start from the
// same backbone weights; only what the classifier head reads differs.

/// <summary>Baseline: the head averages the encoder's 16 patch tokens (timm <c>global_pool="avg"</c>).</summary>
[Model]
public partial class AllTokensVit
{
    public partial AllTokensVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 3, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10, Pool = Pool.Avg)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss(LabelSmoothing = 0.1)] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>8 learnable queries read the encoder's 17 tokens by cross-attention; the head averages the 8.</summary>
[Model]
public partial class Resampled8Vit
{
    public partial Resampled8VitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 3, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [Resampler(Queries = 8, Heads = 4, Over = nameof(Encoder))] public partial Resampler Compress { get; }
    [ClassifierHead(Classes = 10, Pool = Pool.Avg)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss(LabelSmoothing = 0.1)] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>4 learnable queries read the encoder's 17 tokens by cross-attention; the head averages the 4.</summary>
[Model]
public partial class Resampled4Vit
{
    public partial Resampled4VitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 3, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [Resampler(Queries = 4, Heads = 4, Over = nameof(Encoder))] public partial Resampler Compress { get; }
    [ClassifierHead(Classes = 10, Pool = Pool.Avg)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss(LabelSmoothing = 0.1)] public partial CrossEntropyLoss Loss { get; }
}
