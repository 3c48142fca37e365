// The declaration of the generator snapshot test TaskVit (Snapshots/TaskVit.verified.cs), in one place: the generator
// tests read this file (Declarations / TowerTests), and tests/ModelDsl.Tests builds and runs it (LandedFixtureTests).

using ModelDsl;
using ModelDsl.Blocks;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace Samples.Tasks;

/// <summary>Four tasks read by task tokens through a two-layer decoder.</summary>
[Model]
public partial class TaskVit
{
    public partial TaskVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 4, Dim = 32)]
    public partial PatchEmbedding Patches { get; }

    [ClsToken]
    public partial Parameter Cls { get; }

    [PositionEmbedding]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 2, Heads = 4)]
    public partial TransformerEncoder Encoder { get; }

    [TaskTokens("Category", "Coarse", "Angle", "Mask")]
    public partial Parameter Tasks { get; }

    [TaskDecoder(Depth = 2, Heads = 4, Over = nameof(Encoder))]
    public partial TaskDecoder Decoder { get; }

    [ClassifierHead(Task = "Category", Classes = 10)]
    public partial ClassifierHead Category { get; }

    [ClassifierHead(Task = "Coarse", Classes = 3)]
    public partial ClassifierHead Coarse { get; }

    [RegressionHead(Task = "Angle")]
    public partial RegressionHead Angle { get; }

    [MaskHead(Task = "Mask", Over = nameof(Encoder))]
    public partial MaskHead Mask { get; }

    [CrossEntropyLoss(nameof(Category), LabelSmoothing = 0.1)]
    public partial CrossEntropyLoss CategoryLoss { get; }

    [CrossEntropyLoss(nameof(Coarse), Optional = true)]
    public partial CrossEntropyLoss CoarseLoss { get; }

    [MseLoss(nameof(Angle), Weight = 0.5)]
    public partial MseLoss AngleLoss { get; }

    [BinaryCrossEntropyLoss(nameof(Mask), Target = "foreground")]
    public partial BinaryCrossEntropyLoss MaskLoss { get; }
}
