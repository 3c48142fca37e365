using ModelDsl;
using ModelDsl.Blocks;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace ModelDsl.Tests.Generated;

/// <summary>A user stage whose declaration says [E,D] but whose module registers a [D,E] weight: caught when the model is built.</summary>
[Stage("B,N,D -> B,N,E")]
[StageParameter("weight", "E,D")]
public sealed class MisdeclaredWiden : nn.Module<Tensor, Tensor>
{
    private Parameter weight;

    public MisdeclaredWiden(int D, int E) : base(nameof(MisdeclaredWiden))
    {
        weight = new Parameter(zeros(D, E));
        register_parameter(nameof(weight), weight);
    }

    public override Tensor forward(Tensor x) => x.matmul(weight);
}

[Model]
public partial class MisdeclaredStageVit
{
    public partial MisdeclaredStageVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [UseStage(Sizes = "E=48")] public partial MisdeclaredWiden Widen { get; }
    [TransformerEncoder(Depth = 1, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}
