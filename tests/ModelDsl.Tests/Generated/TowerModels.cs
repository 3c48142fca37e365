using ModelDsl.Blocks;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace ModelDsl.Tests.Generated;

[Model]
public partial class TowerImageEncoder
{
    public partial TowerImageEncoderOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)]
    public partial PatchEmbedding Patches { get; }

    [ClsToken]
    public partial Parameter Cls { get; }

    [PositionEmbedding]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 1, Heads = 2)]
    public partial TransformerEncoder Encoder { get; }

    [ClassifierHead(Classes = 10)]
    public partial ClassifierHead Head { get; }
}

/// <summary>Images against a fixed set of class exemplars: a frozen tower for the images, a trainable one for the exemplars.</summary>
[Model]
public partial class ExemplarMatcher
{
    public partial ExemplarMatcherOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("C,1,28,28")] Tensor exemplars);

    [Tower(Frozen = true, Input = "image")]
    public partial TowerImageEncoder Image { get; }

    [Tower(Input = "exemplars")]
    public partial TowerImageEncoder Exemplar { get; }

    [CosineLogits(nameof(Image), nameof(Exemplar), LearnScale = true, Scale = 10)]
    public partial CosineLogits Logits { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }
}

/// <summary>A small causal text encoder: word ids, a causal encoder, the end token's projected feature.</summary>
[Model]
public partial class TinyTextEncoder
{
    public partial TinyTextEncoderOutput Forward([Shape("B,8")] Tensor text);

    [TokenEmbedding(Vocab = 40, Dim = 32, MaxLength = 16)]
    public partial TokenEmbedding Embed { get; }

    [TransformerEncoder(Depth = 1, Heads = 2, Causal = true)]
    public partial TransformerEncoder Encoder { get; }

    [FeatureProjection(Dim = 16, Pool = FeaturePool.EndToken, EndToken = 2)]
    public partial FeatureProjection Projection { get; }
}

/// <summary>CSP's text tower in small: a frozen text encoder whose ids 30..39 read learned vectors.</summary>
[Model]
public partial class TinyCspText
{
    public partial TinyCspTextOutput Forward([Shape("C,8")] Tensor pairPrompts);

    [TokenEmbedding(Vocab = 40, Dim = 32, MaxLength = 16, Frozen = true)]
    public partial TokenEmbedding Embed { get; }

    [VocabularyTokens(First = 30, Count = 10)]
    public partial VocabularyTokens Concepts { get; }

    [TransformerEncoder(Depth = 1, Heads = 2, Causal = true, Frozen = true)]
    public partial TransformerEncoder Encoder { get; }

    [FeatureProjection(Dim = 32, Pool = FeaturePool.EndToken, EndToken = 2, Frozen = true)]
    public partial FeatureProjection Projection { get; }
}

/// <summary>Images against class prompts whose class ids are learned vectors (CSP's training setup).</summary>
[Model]
public partial class TinyCsp
{
    public partial TinyCspOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("C,8")] Tensor pairPrompts);

    [Tower(Frozen = true)]
    public partial TowerImageEncoder Image { get; }

    [Tower]
    public partial TinyCspText Text { get; }

    [CosineLogits(nameof(Image), nameof(Text), Scale = 10)]
    public partial CosineLogits Logits { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }
}

/// <summary>An encoder-only model: no head, no projection; its output is its token sequence, so it is a valid tower.</summary>
[Model]
public partial class TokenEncoder
{
    public partial TokenEncoderOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 1, Heads = 2)] public partial TransformerEncoder Encoder { get; }
}

/// <summary>A tower that passes tokens: the frozen backbone's [B,17,32] start this model's sequence; a new block and a head follow.</summary>
[Model]
public partial class TokensOnTop
{
    public partial TokensOnTopOutput Forward([Shape("B,1,28,28")] Tensor image);

    [Tower(Frozen = true)] public partial TokenEncoder Backbone { get; }
    [RegisterTokens(Count = 2)] public partial Parameter Registers { get; }
    [TransformerEncoder(Depth = 1, Heads = 2)] public partial TransformerEncoder Top { get; }
    [ClassifierHead(Classes = 10, Pool = Pool.Avg)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}
