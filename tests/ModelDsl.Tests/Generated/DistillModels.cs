using ModelDsl.Blocks;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace ModelDsl.Tests.Generated;

/// <summary>A wider ViT that plays the teacher: its pooled CLS feature is [B,48], its logits [B,10].</summary>
[Model]
public partial class TeacherVit
{
    public partial TeacherVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 48)]
    public partial PatchEmbedding Patches { get; }

    [ClsToken]
    public partial Parameter Cls { get; }

    [PositionEmbedding]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 2, Heads = 4)]
    public partial TransformerEncoder Encoder { get; }

    [ClassifierHead(Classes = 10)]
    public partial ClassifierHead Head { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }
}

/// <summary>A student with one learnable query after the patches, pulled towards the teacher's pooled feature through a projection (32 -> 48), next to its classification loss.</summary>
[Model]
public partial class QueryDistilledStudent
{
    public partial QueryDistilledStudentOutput Forward([Shape("B,1,28,28")] Tensor image);

    [Tower(Teacher = true)]
    public partial TeacherVit Teacher { get; }

    [PatchEmbedding(PatchSize = 7, Dim = 32)]
    public partial PatchEmbedding Patches { get; }

    [ClsToken]
    public partial Parameter Cls { get; }

    [Tokens(Count = 1, Place = Place.AfterContent)]
    public partial Parameter Query { get; }

    [PositionEmbedding]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 1, Heads = 2)]
    public partial TransformerEncoder Encoder { get; }

    [ClassifierHead(Classes = 10)]
    public partial ClassifierHead Head { get; }

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }

    [Distill(nameof(Teacher), nameof(Query), Loss = DistillLoss.Cosine, Project = true)]
    public partial Distillation Distill { get; }
}

/// <summary>Hinton's distillation of the teacher's logits into the student's head (T = 4), its weight falling linearly to 0 over 10 steps.</summary>
[Model]
public partial class LogitDistilledStudent
{
    public partial LogitDistilledStudentOutput Forward([Shape("B,1,28,28")] Tensor image);

    [Tower(Teacher = true, Output = "Logits")]
    public partial TeacherVit Teacher { get; }

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

    [CrossEntropyLoss]
    public partial CrossEntropyLoss Loss { get; }

    [Distill(nameof(Teacher), nameof(Head), Loss = DistillLoss.KL, Temperature = 4, Schedule = WeightSchedule.Linear, FinalWeight = 0, ScheduleSteps = 10)]
    public partial Distillation Distill { get; }
}
