// A runtime copy of the generator snapshot tests' declaration Declarations.AvgVit (tests/ModelDsl.Generators.Tests/Infrastructure/Declarations.cs), so that
// tests/ModelDsl.Tests can build and run it (LandedFixtureTests). Keep it identical to the declaration there:
// LandedFixtureTests checks that this file generates exactly Snapshots/AvgVit.verified.cs.

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
