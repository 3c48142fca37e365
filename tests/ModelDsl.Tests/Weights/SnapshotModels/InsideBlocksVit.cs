// The declaration of the generator snapshot test InsideBlocksVit (Snapshots/InsideBlocksVit.verified.cs), in one place:
// the generator tests read this file (Declarations), and tests/ModelDsl.Tests builds it.

using ModelDsl;
using ModelDsl.Blocks;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace Samples.InsideBlocks;

/// <summary>Routing in block 0, merging in blocks 1..2 (without proportional attention), pruning in block 3.</summary>
[Model]
public partial class InsideBlocksVit
{
    public partial InsideBlocksVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 4, Dim = 32)]
    public partial PatchEmbedding Patches { get; }

    [ClsToken]
    public partial Parameter Cls { get; }

    [PositionEmbedding]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 4, Heads = 4)]
    public partial TransformerEncoder Encoder { get; }

    [DepthRouting(Capacity = 0.25, Layers = "0")]
    public partial DepthRouters Routers { get; }

    [TokenMerging(R = 8, Layers = "1..2", ProportionalAttention = false)]
    public partial TokenMerging Merging { get; }

    [TokenPruning(KeepRate = 0.7, Layers = "3", Fuse = false)]
    public partial TokenPruning Pruning { get; }

    [ClassifierHead(Classes = 10)]
    public partial ClassifierHead Head { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }
}
