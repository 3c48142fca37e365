using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace ModelDsl.Tests.Generated;

/// <summary>A user-written stage: doubles the width with a linear layer, as its contract says.</summary>
public sealed class WidthDoubler : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Linear proj;

    public WidthDoubler() : this(32) { }

    public WidthDoubler(int dim) : base(nameof(WidthDoubler))
    {
        proj = nn.Linear(dim, dim * 2);
        register_module(nameof(proj), proj);
    }

    public override Tensor forward(Tensor x) => proj.forward(x);
}

/// <summary>Breaks its own contract: claims to keep the width, but returns half of it.</summary>
public sealed class ContractBreaker : nn.Module<Tensor, Tensor>
{
    public ContractBreaker() : base(nameof(ContractBreaker)) { }

    public override Tensor forward(Tensor x) => x[.., .., ..(int)(x.shape[2] / 2)];
}

[Model]
public partial class CustomStageVit
{
    public partial CustomStageVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [CustomModule("B,N,D -> B,N,D*2")] public partial WidthDoubler Widen { get; }
    [TransformerEncoder(Depth = 1, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss(Of = nameof(Head))] public partial CrossEntropyLoss Loss { get; }
}

[Model]
public partial class BrokenContractVit
{
    public partial BrokenContractVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [CustomModule("B,N,D -> B,N,D")] public partial ContractBreaker Breaker { get; }
    [ClassifierHead(Classes = 10, Pool = Pool.Avg)] public partial ClassifierHead Head { get; }
}

/// <summary>A user-written stage whose forward fails inside libtorch (a view the sequence cannot take).</summary>
public sealed class FailsNatively : nn.Module<Tensor, Tensor>
{
    public FailsNatively() : base(nameof(FailsNatively)) { }

    public override Tensor forward(Tensor x) => x.view(-1, 7, 3).view(x.shape);
}

[Model]
public partial class NativeFailureVit
{
    public partial NativeFailureVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [CustomModule("B,N,D -> B,N,D")] public partial FailsNatively Broken { get; }
    [TransformerEncoder(Depth = 1, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}
