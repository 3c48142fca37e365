using ModelDsl;
using ModelDsl.Blocks;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace PromptLearningExample;

// A small CLIP: two towers whose features meet in cosine logits. Captions are 8 token ids:
// <start> words... <end> <pad>...; the text encoder is causal and reads its feature at <end>.

/// <summary>The image tower: a ViT whose CLS token is projected to the shared 32-wide feature.</summary>
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

/// <summary>The text tower: token embedding, causal encoder, the end token projected to 32.</summary>
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

/// <summary>Contrastive pretraining on image-caption pairs (row i's caption describes image i).</summary>
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

/// <summary>Zero-shot classification with the hand-written prompt: each class's caption "a photo of a {name}".</summary>
[Model]
public partial class ZeroShot
{
    public partial ZeroShotOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("C,8")] Tensor classPrompts);

    [Tower]
    public partial ImageEncoder Image { get; }

    [Tower]
    public partial TextEncoder Text { get; }

    [CosineLogits(nameof(Image), nameof(Text), LearnScale = true)]
    public partial CosineLogits Logits { get; }
}

/// <summary>CoOp's text tower: the frozen text encoder with 4 learned context vectors after the start token.</summary>
[Model]
public partial class CoOpText
{
    public partial CoOpTextOutput Forward([Shape("C,8")] Tensor classNames);

    [TokenEmbedding(Vocab = Vocabulary.Size, Dim = 64, MaxLength = 16, Frozen = true)]
    public partial TokenEmbedding Embed { get; }

    [PromptTokens(Count = 4)]
    public partial PromptTokens Context { get; }

    [TransformerEncoder(Depth = 2, Heads = 4, Causal = true, Frozen = true)]
    public partial TransformerEncoder Encoder { get; }

    [FeatureProjection(Dim = 32, Pool = FeaturePool.EndToken, EndToken = Vocabulary.End, Frozen = true)]
    public partial FeatureProjection Projection { get; }
}

/// <summary>PRE's text tower: the same context, produced by a residual BiLSTM prompt encoder.</summary>
[Model]
public partial class PreText
{
    public partial PreTextOutput Forward([Shape("C,8")] Tensor classNames);

    [TokenEmbedding(Vocab = Vocabulary.Size, Dim = 64, MaxLength = 16, Frozen = true)]
    public partial TokenEmbedding Embed { get; }

    [PromptTokens(Count = 4, Reparameterize = Reparam.BiLstm, Hidden = 32, Residual = true)]
    public partial PromptTokens Context { get; }

    [TransformerEncoder(Depth = 2, Heads = 4, Causal = true, Frozen = true)]
    public partial TransformerEncoder Encoder { get; }

    [FeatureProjection(Dim = 32, Pool = FeaturePool.EndToken, EndToken = Vocabulary.End, Frozen = true)]
    public partial FeatureProjection Projection { get; }
}

/// <summary>CoOp: a frozen CLIP whose only trainable part is the text tower's context.</summary>
[Model]
public partial class CoOp
{
    public partial CoOpOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("C,8")] Tensor classNames);

    [Tower(Frozen = true)]
    public partial ImageEncoder Image { get; }

    [Tower]
    public partial CoOpText Text { get; }

    [CosineLogits(nameof(Image), nameof(Text), LearnScale = true, Frozen = true)]
    public partial CosineLogits Logits { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }
}

/// <summary>PRE: as <see cref="CoOp"/>, with the reparameterised context.</summary>
[Model]
public partial class Pre
{
    public partial PreOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("C,8")] Tensor classNames);

    [Tower(Frozen = true)]
    public partial ImageEncoder Image { get; }

    [Tower]
    public partial PreText Text { get; }

    [CosineLogits(nameof(Image), nameof(Text), LearnScale = true, Frozen = true)]
    public partial CosineLogits Logits { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }
}

/// <summary>
/// CSP's text tower: the frozen text encoder reading "a photo of {attribute} {object}", where the
/// attribute word and the object id read learned vectors (one per attribute, one per class).
/// </summary>
[Model]
public partial class CspText
{
    public partial CspTextOutput Forward([Shape("C,8")] Tensor pairPrompts);

    [TokenEmbedding(Vocab = Vocabulary.Size, Dim = 64, MaxLength = 16, Frozen = true)]
    public partial TokenEmbedding Embed { get; }

    [VocabularyTokens(First = Vocabulary.FirstCspToken, Count = Vocabulary.CspTokens)]
    public partial VocabularyTokens Concepts { get; }

    [TransformerEncoder(Depth = 2, Heads = 4, Causal = true, Frozen = true)]
    public partial TransformerEncoder Encoder { get; }

    [FeatureProjection(Dim = 32, Pool = FeaturePool.EndToken, EndToken = Vocabulary.End, Frozen = true)]
    public partial FeatureProjection Projection { get; }
}

/// <summary>CSP: a frozen CLIP whose only trainable part is the attribute and object vocabulary.</summary>
[Model]
public partial class Csp
{
    public partial CspOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("C,8")] Tensor pairPrompts);

    [Tower(Frozen = true)]
    public partial ImageEncoder Image { get; }

    [Tower]
    public partial CspText Text { get; }

    [CosineLogits(nameof(Image), nameof(Text), LearnScale = true, Frozen = true)]
    public partial CosineLogits Logits { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }
}
