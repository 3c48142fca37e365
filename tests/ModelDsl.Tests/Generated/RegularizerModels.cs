using ModelDsl.Blocks;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace ModelDsl.Tests.Generated;

/// <summary>Two learnable token sets kept orthogonal to each other (weight 0.5), next to the classification loss.</summary>
[Model]
public partial class TwoSetVit
{
    public partial TwoSetVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)]
    public partial PatchEmbedding Patches { get; }

    [ClsToken]
    public partial Parameter Cls { get; }

    [Tokens(Count = 2)]
    public partial Parameter Prompts { get; }

    [Tokens(Count = 3, Place = Place.AfterContent)]
    public partial Parameter Queries { get; }

    [PositionEmbedding]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 1, Heads = 2)]
    public partial TransformerEncoder Encoder { get; }

    [ClassifierHead(Classes = 10)]
    public partial ClassifierHead Head { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }

    [OrthogonalityPenalty(nameof(Prompts), Other = nameof(Queries), Weight = 0.5)]
    public partial OrthogonalityPenalty Apart { get; }
}

/// <summary>FDT with both regularisers: the codes kept apart among themselves, the image query's code usage spread.</summary>
[Model]
public partial class RegularizedCodebookClip
{
    public partial RegularizedCodebookClipOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("B,8")] Tensor text);

    [Tower]
    public partial PatchTokenEncoder Image { get; }

    [Tower]
    public partial WordTokenEncoder Text { get; }

    [Codebook(Codes = 32, Dim = 24)]
    public partial Parameter SpaceDict { get; }

    [CodebookQuery(nameof(SpaceDict), nameof(Image))]
    public partial CodebookQuery ImageQuery { get; }

    [CodebookQuery(nameof(SpaceDict), nameof(Text), Padding = "text")]
    public partial CodebookQuery TextQuery { get; }

    [CosineLogits(nameof(ImageQuery), nameof(TextQuery), LearnScale = true)]
    public partial CosineLogits Logits { get; }

    [ContrastiveLoss]
    public partial ContrastiveLoss Loss { get; }

    [OrthogonalityPenalty(nameof(SpaceDict), Weight = 0.1)]
    public partial OrthogonalityPenalty CodeDiversity { get; }

    [CodeUsageRegularizer(nameof(ImageQuery), Weight = 0.1)]
    public partial CodeUsageRegularizer ImageUsage { get; }
}
