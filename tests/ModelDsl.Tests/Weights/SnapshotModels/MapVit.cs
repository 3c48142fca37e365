// The declaration of the generator snapshot test MapVit (Snapshots/MapVit.verified.cs), in one place: the generator
// tests read this file (Declarations / TowerTests), and tests/ModelDsl.Tests builds and runs it (LandedFixtureTests).

using ModelDsl;
using ModelDsl.Blocks;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace Samples.Map;

public static partial class Zoo
{
    /// <summary>16 patches of 8x8 from RGB 32x32, attention pooling, 100 classes.</summary>
    [Model]
    internal partial class MapVit
    {
        public partial MapVitOutput Forward([Shape("B,3,32,32")] Tensor image);

        [PatchEmbedding(PatchSize = 8, Dim = 32)]
        public partial PatchEmbedding Patches { get; }

        [PositionEmbedding]
        public partial Parameter Positions { get; }

        [TransformerEncoder(Depth = 3, Heads = 4)]
        public partial TransformerEncoder Encoder { get; }

        [ClassifierHead(Classes = 100, Pool = Pool.Map)]
        public partial ClassifierHead Head { get; }

        [CrossEntropyLoss(LabelSmoothing = 0.2)]
        public partial CrossEntropyLoss Loss { get; }
    }
}
