// The declaration of the generator snapshot test Matcher (Snapshots/Matcher.verified.cs), in one place: the generator
// tests read this file (Declarations / TowerTests), and tests/ModelDsl.Tests builds and runs it (LandedFixtureTests).

using ModelDsl;
using ModelDsl.Blocks;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace Samples.Towers;

[Model]
public partial class ImageEncoder
{
    public partial ImageEncoderOutput Forward([Shape("B,1,28,28")] Tensor image);

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

[Model]
public partial class SketchEncoder
{
    public partial SketchEncoderOutput Forward([Shape("N,1,14,14")] Tensor sketch);

    [PatchEmbedding(PatchSize = 7, Dim = 32)]
    public partial PatchEmbedding Patches { get; }

    [ClsToken]
    public partial Parameter Cls { get; }

    [TransformerEncoder(Depth = 1, Heads = 2)]
    public partial TransformerEncoder Encoder { get; }

    [ClassifierHead(Classes = 10)]
    public partial ClassifierHead Head { get; }
}

[Model]
public partial class Matcher
{
    public partial MatcherOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("C,1,14,14")] Tensor sketches);

    [Tower(Frozen = true)]
    public partial ImageEncoder Image { get; }

    [Tower]
    public partial SketchEncoder Sketch { get; }

    [CosineLogits(nameof(Image), nameof(Sketch), Scale = 10)]
    public partial CosineLogits Logits { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }
}
