using ModelDsl;
using ModelDsl.Blocks;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace TaskTokensExample;

// One backbone (patch 7 -> 16 patches, width 64, depth 2, positions) and one task decoder
// (depth 1) for all five models; the multi-task model has four task tokens, each baseline one.
// With the same seed the backbones start from the same weights.

/// <summary>Four tasks through four task tokens: class, coarse class (labels on half the training images), rotation angle, foreground mask.</summary>
[Model]
public partial class MultiTaskVit
{
    public partial MultiTaskVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)] public partial PatchEmbedding Patches { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [TaskTokens("Category", "Coarse", "Angle", "Mask")] public partial Parameter Tasks { get; }
    [TaskDecoder(Depth = 1, Heads = 4, Over = nameof(Encoder))] public partial TaskDecoder Decoder { get; }
    [ClassifierHead(Task = "Category", Classes = 10)] public partial ClassifierHead Category { get; }
    [ClassifierHead(Task = "Coarse", Classes = 3)] public partial ClassifierHead Coarse { get; }
    [RegressionHead(Task = "Angle", Outputs = 1)] public partial RegressionHead Angle { get; }
    [MaskHead(Task = "Mask", Over = nameof(Encoder))] public partial MaskHead Mask { get; }
    [CrossEntropyLoss(nameof(Category), Target = "category")] public partial CrossEntropyLoss CategoryLoss { get; }
    [CrossEntropyLoss(nameof(Coarse), Target = "coarse", Optional = true)] public partial CrossEntropyLoss CoarseLoss { get; }
    [MseLoss(nameof(Angle), Target = "angle")] public partial MseLoss AngleLoss { get; }
    [BinaryCrossEntropyLoss(nameof(Mask), Target = "mask")] public partial BinaryCrossEntropyLoss MaskLoss { get; }
}

/// <summary>Baseline: the 10-way class alone.</summary>
[Model]
public partial class CategoryVit
{
    public partial CategoryVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)] public partial PatchEmbedding Patches { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [TaskTokens("Category")] public partial Parameter Tasks { get; }
    [TaskDecoder(Depth = 1, Heads = 4, Over = nameof(Encoder))] public partial TaskDecoder Decoder { get; }
    [ClassifierHead(Task = "Category", Classes = 10)] public partial ClassifierHead Category { get; }
    [CrossEntropyLoss(nameof(Category), Target = "category")] public partial CrossEntropyLoss CategoryLoss { get; }
}

/// <summary>Baseline: the coarse class alone, from the same half of the labels.</summary>
[Model]
public partial class CoarseVit
{
    public partial CoarseVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)] public partial PatchEmbedding Patches { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [TaskTokens("Coarse")] public partial Parameter Tasks { get; }
    [TaskDecoder(Depth = 1, Heads = 4, Over = nameof(Encoder))] public partial TaskDecoder Decoder { get; }
    [ClassifierHead(Task = "Coarse", Classes = 3)] public partial ClassifierHead Coarse { get; }
    [CrossEntropyLoss(nameof(Coarse), Target = "coarse", Optional = true)] public partial CrossEntropyLoss CoarseLoss { get; }
}

/// <summary>Baseline: the rotation angle alone.</summary>
[Model]
public partial class AngleVit
{
    public partial AngleVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)] public partial PatchEmbedding Patches { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [TaskTokens("Angle")] public partial Parameter Tasks { get; }
    [TaskDecoder(Depth = 1, Heads = 4, Over = nameof(Encoder))] public partial TaskDecoder Decoder { get; }
    [RegressionHead(Task = "Angle", Outputs = 1)] public partial RegressionHead Angle { get; }
    [MseLoss(nameof(Angle), Target = "angle")] public partial MseLoss AngleLoss { get; }
}

/// <summary>Baseline: the foreground mask alone.</summary>
[Model]
public partial class MaskVit
{
    public partial MaskVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)] public partial PatchEmbedding Patches { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [TaskTokens("Mask")] public partial Parameter Tasks { get; }
    [TaskDecoder(Depth = 1, Heads = 4, Over = nameof(Encoder))] public partial TaskDecoder Decoder { get; }
    [MaskHead(Task = "Mask", Over = nameof(Encoder))] public partial MaskHead Mask { get; }
    [BinaryCrossEntropyLoss(nameof(Mask), Target = "mask")] public partial BinaryCrossEntropyLoss MaskLoss { get; }
}
