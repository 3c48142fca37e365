using ModelDsl;
using ModelDsl.Blocks;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace DeepTokensExample;

// Family 2 of the learnable-token methods (VPT-deep, VQT) on one small ViT. All four models share
// the backbone's registered names (patch_embed, cls_token, pos_embed, blocks, norm), so the
// pretrained file loads into each of them with everything but the head (and the new tokens).

/// <summary>The backbone, pretrained from scratch on Fashion-MNIST classes 0-4.</summary>
[Model]
public partial class PretrainVit
{
    public partial PretrainVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 4, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 5, Pool = Pool.Cls)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss(LabelSmoothing = 0.1)] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>(a) Linear probe: the frozen backbone's CLS output into a new 5-class head.</summary>
[Model]
public partial class ProbeVit
{
    public partial ProbeVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64, Frozen = true)] public partial PatchEmbedding Patches { get; }
    [ClsToken(Frozen = true)] public partial Parameter Cls { get; }
    [PositionEmbedding(Frozen = true)] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 4, Heads = 4, Frozen = true)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 5, Pool = Pool.Cls)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>(b) VPT-deep: 8 learnable prompts per block of the frozen encoder, plus a new head on CLS.</summary>
[Model]
public partial class VptDeepVit
{
    public partial VptDeepVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64, Frozen = true)] public partial PatchEmbedding Patches { get; }
    [ClsToken(Frozen = true)] public partial Parameter Cls { get; }
    [PositionEmbedding(Frozen = true)] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 4, Heads = 4, Frozen = true)] public partial TransformerEncoder Encoder { get; }
    [DeepPromptTokens(Count = 8, Into = nameof(Encoder))] public partial Parameter Prompts { get; }
    [ClassifierHead(Classes = 5, Pool = Pool.Cls)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>(c) VQT: 4 query-only tokens per block of the frozen encoder; the head reads CLS and every block's query outputs.</summary>
[Model]
public partial class VqtVit
{
    public partial VqtVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64, Frozen = true)] public partial PatchEmbedding Patches { get; }
    [ClsToken(Frozen = true)] public partial Parameter Cls { get; }
    [PositionEmbedding(Frozen = true)] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 4, Heads = 4, Frozen = true)] public partial TransformerEncoder Encoder { get; }
    [QueryTokens(Count = 4, Into = nameof(Encoder))] public partial Parameter Queries { get; }
    [ClassifierHead(Classes = 5, Pool = Pool.Cls, Also = nameof(Queries))] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}
