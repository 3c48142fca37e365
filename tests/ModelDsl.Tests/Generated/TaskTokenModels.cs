using ModelDsl.Blocks;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace ModelDsl.Tests.Generated;

/// <summary>
/// Four tasks on a small ViT with a CLS token (so the mask head skips a prefix token); the coarse
/// target is optional per sample and the angle loss weighted.
/// </summary>
[Model]
public partial class FourTaskVit
{
    public partial FourTaskVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 1, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [TaskTokens("Category", "Coarse", "Angle", "Mask")] public partial Parameter Tasks { get; }
    [TaskDecoder(Depth = 2, Heads = 4, Over = nameof(Encoder))] public partial TaskDecoder Decoder { get; }
    [ClassifierHead(Task = "Category", Classes = 10)] public partial ClassifierHead Category { get; }
    [ClassifierHead(Task = "Coarse", Classes = 3)] public partial ClassifierHead Coarse { get; }
    [RegressionHead(Task = "Angle")] public partial RegressionHead Angle { get; }
    [MaskHead(Task = "Mask")] public partial MaskHead Mask { get; }
    [CrossEntropyLoss(nameof(Category))] public partial CrossEntropyLoss CategoryLoss { get; }
    [CrossEntropyLoss(nameof(Coarse), Optional = true)] public partial CrossEntropyLoss CoarseLoss { get; }
    [MseLoss(nameof(Angle), Weight = 0.5)] public partial MseLoss AngleLoss { get; }
    [BinaryCrossEntropyLoss(nameof(Mask))] public partial BinaryCrossEntropyLoss MaskLoss { get; }
}

/// <summary>One task: the angle, every target optional.</summary>
[Model]
public partial class AngleOnlyVit
{
    public partial AngleOnlyVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 1, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [TaskTokens("Angle")] public partial Parameter Tasks { get; }
    [TaskDecoder(Heads = 2)] public partial TaskDecoder Decoder { get; }
    [RegressionHead(Task = "Angle", Outputs = 2)] public partial RegressionHead Angle { get; }
    [MseLoss(Optional = true)] public partial MseLoss AngleLoss { get; }
}
