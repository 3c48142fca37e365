using ModelDsl;
using ModelDsl.Blocks;
using PromptLearningExample;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace CodebookExample;

// Two small CLIPs of the same encoders (patch 7, width 64, 2 blocks, 4 heads; a causal text encoder over 8 caption ids).
// Plain CLIP projects the CLS token and the end token to 32; FDT scores every patch and every word against 256 shared
// codes of width 32 and embeds each side as its sparsemax-weighted sum of codes.

/// <summary>Plain CLIP's image tower: the CLS token projected to 32.</summary>
[Model]
public partial class ImageEncoder
{
    public partial ImageEncoderOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)]
    public partial PatchEmbedding Patches { get; }

    [ClsToken]
    public partial Parameter Cls { get; }

    [PositionEmbedding]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 2, Heads = 4)]
    public partial TransformerEncoder Encoder { get; }

    [FeatureProjection(Dim = 32, Pool = FeaturePool.Cls)]
    public partial FeatureProjection Projection { get; }
}

/// <summary>Plain CLIP's text tower: the end token projected to 32.</summary>
[Model]
public partial class TextEncoder
{
    public partial TextEncoderOutput Forward([Shape("B,8")] Tensor text);

    [TokenEmbedding(Vocab = Vocabulary.Size, Dim = 64, MaxLength = 16)]
    public partial TokenEmbedding Embed { get; }

    [TransformerEncoder(Depth = 2, Heads = 4, Causal = true)]
    public partial TransformerEncoder Encoder { get; }

    [FeatureProjection(Dim = 32, Pool = FeaturePool.EndToken, EndToken = Vocabulary.End)]
    public partial FeatureProjection Projection { get; }
}

/// <summary>Plain CLIP: cosine logits of the two projected features, symmetric InfoNCE.</summary>
[Model]
public partial class Clip
{
    public partial ClipOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("B,8")] Tensor text);

    [Tower]
    public partial ImageEncoder Image { get; }

    [Tower]
    public partial TextEncoder Text { get; }

    [CosineLogits(nameof(Image), nameof(Text), LearnScale = true)]
    public partial CosineLogits Logits { get; }

    [ContrastiveLoss]
    public partial ContrastiveLoss Loss { get; }
}

/// <summary>FDT's image tower: the 16 patch tokens after the encoder, [B,16,64].</summary>
[Model]
public partial class ImageTokens
{
    public partial ImageTokensOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)]
    public partial PatchEmbedding Patches { get; }

    [PositionEmbedding]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 2, Heads = 4)]
    public partial TransformerEncoder Encoder { get; }
}

/// <summary>FDT's text tower: the 8 word tokens after the causal encoder, [B,8,64].</summary>
[Model]
public partial class TextTokens
{
    public partial TextTokensOutput Forward([Shape("B,8")] Tensor text);

    [TokenEmbedding(Vocab = Vocabulary.Size, Dim = 64, MaxLength = 16)]
    public partial TokenEmbedding Embed { get; }

    [TransformerEncoder(Depth = 2, Heads = 4, Causal = true)]
    public partial TransformerEncoder Encoder { get; }
}

/// <summary>FDT: both towers read one codebook of 256 codes (max over tokens, sparsemax over codes); padding is masked.</summary>
[Model]
public partial class FdtClip
{
    public partial FdtClipOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("B,8")] Tensor text);

    [Tower]
    public partial ImageTokens Image { get; }

    [Tower]
    public partial TextTokens Text { get; }

    [Codebook(Codes = 256, Dim = 32)]
    public partial Parameter SpaceDict { get; }

    [CodebookQuery(nameof(SpaceDict), nameof(Image))]
    public partial CodebookQuery ImageQuery { get; }

    [CodebookQuery(nameof(SpaceDict), nameof(Text), Padding = "text", PadToken = Vocabulary.Pad)]
    public partial CodebookQuery TextQuery { get; }

    [CosineLogits(nameof(ImageQuery), nameof(TextQuery), LearnScale = true)]
    public partial CosineLogits Logits { get; }

    [ContrastiveLoss]
    public partial ContrastiveLoss Loss { get; }
}
