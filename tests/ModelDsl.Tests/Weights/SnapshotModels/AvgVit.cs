// The declaration of the generator snapshot test AvgVit (Snapshots/AvgVit.verified.cs), in one place: the generator
// tests read this file (Declarations / TowerTests), and tests/ModelDsl.Tests builds and runs it (LandedFixtureTests).

using ModelDsl;
using ModelDsl.Blocks;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace Samples.Avg;

/// <summary>49 patches of 4x4, a CLS token, average pooling and a frozen encoder.</summary>
[Model]
public partial class AvgVit
{
    public partial AvgVitOutput Forward([Shape("N,1,28,28")] Tensor pixels);

    [PatchEmbedding(PatchSize = 4, Dim = 48)]
    public partial PatchEmbedding Patches { get; }

    [ClsToken]
    public partial Parameter Cls { get; }

    [PositionEmbedding(Covers = PositionCoverage.PatchesOnly)]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 2, Heads = 3, MlpRatio = 2.0, Frozen = true)]
    public partial TransformerEncoder Encoder { get; }

    [ClassifierHead(Classes = 10, Pool = Pool.Avg)]
    public partial ClassifierHead Head { get; }

    [CrossEntropyLoss(Target = "target", Weight = 0.5)]
    public partial CrossEntropyLoss Loss { get; }
}
