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
