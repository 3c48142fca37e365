using ModelDsl;
using ModelDsl.Blocks;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace UserStageExample;

/// <summary>
/// The ChannelViT of examples/ChannelVit (without channel sampling), its patch embedding the user's
/// <see cref="ChannelPatches"/> instead of the library's <c>[ChannelPatchEmbedding]</c>: same registered names,
/// same shapes, same Summary rows.
/// </summary>
[Model]
public partial class UserChannelVit
{
    public partial UserChannelVitOutput Forward([Shape("B,3,28,28")] Tensor image);

    [UseStage(Input = "image", Sizes = "P=7,D=64", RegisteredAs = "patch_embed")] public partial ChannelPatches Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [TransformerEncoder(Depth = 3, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10, Pool = Pool.Cls)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss(LabelSmoothing = 0.1)] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>The same model with the library's block, for the comparison.</summary>
[Model]
public partial class BuiltInChannelVit
{
    public partial BuiltInChannelVitOutput Forward([Shape("B,3,28,28")] Tensor image);

    [ChannelPatchEmbedding(PatchSize = 7, Dim = 64)] public partial ModelDsl.Blocks.ChannelPatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [TransformerEncoder(Depth = 3, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10, Pool = Pool.Cls)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss(LabelSmoothing = 0.1)] public partial CrossEntropyLoss Loss { get; }
}
