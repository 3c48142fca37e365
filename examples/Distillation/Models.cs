using ModelDsl;
using ModelDsl.Blocks;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace DistillationExample;

/// <summary>The teacher: a ViT of width 64 and 4 blocks, trained on every labelled image; its pooled CLS feature is [B,64].</summary>
[Model]
public partial class TeacherVit
{
    public partial TeacherVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 64)]
    public partial PatchEmbedding Patches { get; }

    [ClsToken]
    public partial Parameter Cls { get; }

    [PositionEmbedding]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 4, Heads = 4)]
    public partial TransformerEncoder Encoder { get; }

    [ClassifierHead(Classes = 10)]
    public partial ClassifierHead Head { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }
}

/// <summary>The student without a teacher: width 32, 2 blocks, one learnable query after the patches that the head reads.</summary>
[Model]
public partial class Student
{
    public partial StudentOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)]
    public partial PatchEmbedding Patches { get; }

    [Tokens(Count = 1, Place = Place.AfterContent)]
    public partial Parameter Query { get; }

    [PositionEmbedding]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 2, Heads = 2)]
    public partial TransformerEncoder Encoder { get; }

    [ClassifierHead(Classes = 10, Reads = nameof(Query))]
    public partial ClassifierHead Head { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }
}

/// <summary>The same student whose query output is pulled towards the frozen teacher's pooled feature (cosine, through a 32->64 projection).</summary>
[Model]
public partial class DistilledStudent
{
    public partial DistilledStudentOutput Forward([Shape("B,1,28,28")] Tensor image);

    [Tower(Teacher = true)]
    public partial TeacherVit Teacher { get; }

    [PatchEmbedding(PatchSize = 7, Dim = 32)]
    public partial PatchEmbedding Patches { get; }

    [Tokens(Count = 1, Place = Place.AfterContent)]
    public partial Parameter Query { get; }

    [PositionEmbedding]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 2, Heads = 2)]
    public partial TransformerEncoder Encoder { get; }

    [ClassifierHead(Classes = 10, Reads = nameof(Query))]
    public partial ClassifierHead Head { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }

    [Distill(nameof(Teacher), nameof(Query), Loss = DistillLoss.Cosine, Project = true)]
    public partial Distillation Distill { get; }
}
