using ModelDsl.Blocks;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace ModelDsl.Tests.Weights;

/// <summary><see cref="Generated.TinyVit"/>'s backbone under a five-class head: the fine-tuning target.</summary>
[Model]
public partial class TinyVitFiveClasses
{
    public partial TinyVitFiveClassesOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [RegisterTokens(Count = 2)] public partial Parameter Registers { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 5, Pool = Pool.Cls)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>A host that holds a model under <c>backbone</c> next to its own head, as a bigger checkpoint would.</summary>
internal sealed class BackboneHost : nn.Module
{
    private readonly nn.Module backbone;
    private readonly TorchSharp.Modules.Linear head;

    public BackboneHost(nn.Module backbone) : base(nameof(BackboneHost))
    {
        this.backbone = backbone;
        head = nn.Linear(32, 3);
        register_module(nameof(backbone), this.backbone);
        register_module(nameof(head), head);
    }
}

/// <summary>The plain ViT under <see cref="Generated.VptDeepVit"/>'s and <see cref="Generated.VqtVit"/>'s backbone: the pretrained checkpoint of prompt tuning.</summary>
[Model]
public partial class PlainVit
{
    public partial PlainVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}
