using ModelDsl;
using ModelDsl.Blocks;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace ChannelVitExample;

// Two small ViTs (patch 7, width 64, depth 3, CLS head) on 3-channel 28x28 images.

/// <summary>
/// ChannelViT: each channel is cut into its own 16 patches by one shared projection and tagged with a
/// learnable channel embedding (48 tokens for 3 channels, plus CLS); positions are shared across
/// channels. Training sees a random subset of the channels in each batch (hierarchical channel sampling).
/// </summary>
[Model]
public partial class ChannelVit
{
    public partial ChannelVitOutput Forward([Shape("B,3,28,28")] Tensor image);

    [ChannelPatchEmbedding(PatchSize = 7, Dim = 64, SampleChannels = true)] public partial ChannelPatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [TransformerEncoder(Depth = 3, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10, Pool = Pool.Cls)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss(LabelSmoothing = 0.1)] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>The plain ViT: one patch projection over all 3 channels (16 tokens, plus CLS) and learned positions.</summary>
[Model]
public partial class PlainVit
{
    public partial PlainVitOutput Forward([Shape("B,3,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 3, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10, Pool = Pool.Cls)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss(LabelSmoothing = 0.1)] public partial CrossEntropyLoss Loss { get; }
}
