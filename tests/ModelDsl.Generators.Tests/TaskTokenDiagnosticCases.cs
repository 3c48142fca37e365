using System.Collections.Generic;
using ModelDsl.Generators.Tests.Infrastructure;
using static ModelDsl.Generators.Tests.DiagnosticTests;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// The failing and passing cases of the task-token diagnostics (MD0024-MD0029) and of the older ones
/// that task stages report (MD0008, MD0012, MD0019, MD0020); <see cref="DiagnosticTests"/> runs them.
/// </summary>
internal static class TaskTokenDiagnosticCases
{
    /// <summary>A complete, valid task-token model; each case edits it.</summary>
    internal const string Tasks = Declarations.Usings + """
        namespace Samples.Diagnostics;

        [Model]
        public partial class Vit
        {
            public partial VitOutput Forward([Shape("B,1,28,28")] Tensor image);

            [PatchEmbedding(PatchSize = 7, Dim = 64)]
            public partial PatchEmbedding Patches { get; }

            [PositionEmbedding]
            public partial Parameter Positions { get; }

            [TransformerEncoder(Depth = 2, Heads = 4)]
            public partial TransformerEncoder Encoder { get; }

            [TaskTokens("Category", "Angle", "Mask")]
            public partial Parameter Tasks { get; }

            [TaskDecoder(Heads = 4, Over = nameof(Encoder))]
            public partial TaskDecoder Decoder { get; }

            [ClassifierHead(Task = "Category", Classes = 10)]
            public partial ClassifierHead Category { get; }

            [RegressionHead(Task = "Angle")]
            public partial RegressionHead Angle { get; }

            [MaskHead(Task = "Mask")]
            public partial MaskHead Mask { get; }

            [CrossEntropyLoss(nameof(Category))]
            public partial CrossEntropyLoss CategoryLoss { get; }

            [MseLoss(nameof(Angle), Optional = true)]
            public partial MseLoss AngleLoss { get; }

            [BinaryCrossEntropyLoss(nameof(Mask), Weight = 0.5)]
            public partial BinaryCrossEntropyLoss MaskLoss { get; }
        }
        """;

    private const string TaskList = "[TaskTokens(\"Category\", \"Angle\", \"Mask\")]";
    private const string CategoryHead = "    [ClassifierHead(Task = \"Category\", Classes = 10)]\n    public partial ClassifierHead Category { get; }\n\n";
    private const string DecoderMember = "    [TaskDecoder(Heads = 4, Over = nameof(Encoder))]\n    public partial TaskDecoder Decoder { get; }\n\n";
    private const string MaskLossMember = "\n\n    [BinaryCrossEntropyLoss(nameof(Mask), Weight = 0.5)]\n    public partial BinaryCrossEntropyLoss MaskLoss { get; }";

    public static readonly IReadOnlyDictionary<string, Case> Failing = new Dictionary<string, Case>
    {
        ["MD0024 head names an unknown task"] = new("MD0024",
            Edit(Tasks, ("[ClassifierHead(Task = \"Category\", Classes = 10)]", "[ClassifierHead({|MD0024:Task = \"Colour\"|}, Classes = 10)]")),
            ["'Category' has Task = \"Colour\"", "names no task of 'Tasks'", "the tasks are \"Category\", \"Angle\", \"Mask\""], Fix: "\"Category\""),
        ["MD0024 regression head without a task"] = new("MD0024",
            Edit(Tasks, ("[RegressionHead(Task = \"Angle\")]", "[{|MD0024:RegressionHead|}]")),
            ["'Angle' has Task = \"\", which is not set", "the tasks are \"Category\", \"Angle\", \"Mask\""]),
        ["MD0024 task head in a model without task tokens"] = new("MD0024",
            Edit(Valid, ("[ClassifierHead(Classes = 10)]", "[ClassifierHead(Classes = 10, {|MD0024:Task = \"Category\"|})]")),
            ["'Head' has Task = \"Category\", which has no token", "(the model declares no [TaskTokens] stage)"]),
        ["MD0025 task listed twice"] = new("MD0025",
            Edit(Tasks, (TaskList, "[TaskTokens(\"Category\", \"Angle\", \"Mask\", {|MD0025:\"Angle\"|})]")),
            ["'Tasks' lists the task \"Angle\" twice (Names[1] and Names[3])", "one token, one head and one loss"]),
        ["MD0025 names that differ only in case"] = new("MD0025",
            Edit(Tasks, (TaskList, "[TaskTokens(\"Category\", \"Angle\", \"Mask\", {|MD0025:\"category\"|})]")),
            ["\"category\" twice (Names[0] and Names[3])", "\"Category\" and \"category\" are both logged as 'category'"]),
        ["MD0026 mse loss reads a classifier head"] = new("MD0026",
            Edit(Tasks, ("[MseLoss(nameof(Angle), Optional = true)]", "[MseLoss({|MD0026:nameof(Category)|}, Optional = true)]")),
            ["'AngleLoss' is a [MseLoss] and reads 'Category', a [ClassifierHead] with output [B,10]", "a [MseLoss] reads a [RegressionHead]", "the model's one is 'Angle'"],
            Fix: "nameof(Angle)"),
        ["MD0026 cross-entropy reads a mask head"] = new("MD0026",
            Edit(Tasks, ("[CrossEntropyLoss(nameof(Category))]", "[CrossEntropyLoss({|MD0026:Of = nameof(Mask)|})]")),
            ["'CategoryLoss' is a [CrossEntropyLoss] and reads 'Mask', a [MaskHead] with output [B,1,28,28]", "reads a [ClassifierHead]"],
            Fix: "nameof(Category)"),
        ["MD0027 two heads read one task"] = new("MD0027",
            Edit(Tasks, ("[RegressionHead(Task = \"Angle\")]", "[RegressionHead({|MD0027:Task = \"Category\"|})]")),
            ["'Angle' has Task = \"Category\", which 'Category' already reads", "no head reads \"Angle\""], Fix: "\"Angle\""),
        ["MD0028 task without a head"] = new("MD0028",
            Edit(Tasks, (TaskList, "[TaskTokens(\"Category\", \"Angle\", \"Mask\", {|MD0028:\"Coarse\"|})]")),
            ["Task \"Coarse\" of 'Tasks' has no head", "no training signal", "add a head with Task = \"Coarse\""]),
        ["MD0028 head without a loss"] = new("MD0028",
            Edit(Tasks, (TaskList, "[TaskTokens(\"Category\", \"Angle\", {|MD0028:\"Mask\"|})]"), (MaskLossMember, "")),
            ["Task \"Mask\" of 'Tasks' is read by 'Mask', which no loss reads", "[BinaryCrossEntropyLoss(nameof(Mask))]"]),
        ["MD0029 target named like the input"] = new("MD0029",
            Edit(Tasks, ("[MseLoss(nameof(Angle), Optional = true)]", "[MseLoss(nameof(Angle), {|MD0029:Target = \"image\"|}, Optional = true)]")),
            ["'AngleLoss' has Target = \"image\", which is also the forward input 'image'"]),
        ["MD0029 one target read as two shapes"] = new("MD0029",
            Edit(Tasks,
                ("[CrossEntropyLoss(nameof(Category))]", "[CrossEntropyLoss(nameof(Category), Target = \"angle\")]"),
                ("[MseLoss(nameof(Angle), Optional = true)]", "[{|MD0029:MseLoss(nameof(Angle), Optional = true)|}]")),
            ["'AngleLoss' has Target = \"angle\"", "'CategoryLoss' already reads as [B] int64, not [B,1] float (optional)"]),
        ["MD0008 task name that is not an identifier"] = new("MD0008",
            Edit(Tasks, (TaskList, "[TaskTokens(\"Category\", \"Angle\", \"Mask\", {|MD0008:\"two words\"|})]")),
            ["'Tasks' has Names[3] = \"two words\"", "identifier"]),
        ["MD0008 pooling on a task head"] = new("MD0008",
            Edit(Tasks, ("[ClassifierHead(Task = \"Category\", Classes = 10)]", "[ClassifierHead(Task = \"Category\", Classes = 10, {|MD0008:Pool = Pool.Avg|})]")),
            ["'Category' has Pool = Avg", "a task head reads its task token and does not pool"]),
        ["MD0012 head before the decoder"] = new("MD0012",
            Edit(Tasks, (CategoryHead, ""), (DecoderMember, "    [{|MD0012:ClassifierHead(Task = \"Category\", Classes = 10)|}]\n    public partial ClassifierHead Category { get; }\n\n" + DecoderMember)),
            ["'Category' needs the decoded task tokens [B,T,D]", "the [TaskDecoder] stage is declared after it"]),
        ["MD0019 decoder over a stage that is no encoder"] = new("MD0019",
            Edit(Tasks, ("Over = nameof(Encoder))]", "{|MD0019:Over = nameof(Patches)|})]")),
            ["'Decoder' has Over = \"Patches\", which is a [PatchEmbedding] stage", "[TransformerEncoder]", "the model's one is 'Encoder'"], Fix: "nameof(Encoder)"),
        ["MD0020 two losses read one head"] = new("MD0020",
            Edit(Tasks, (MaskLossMember, MaskLossMember + "\n\n    [CrossEntropyLoss(nameof(Category), Target = \"label\")]\n    public partial CrossEntropyLoss {|MD0020:Second|} { get; }")),
            ["'Second' cannot be combined with 'CategoryLoss'", "both read 'Category'", "a head has one loss"]),
    };

    public static readonly IReadOnlyDictionary<string, string> Passing = new Dictionary<string, string>
    {
        ["MD0024 every head names one of the tasks"] = Tasks,
        ["MD0024 a single task"] = Edit(Tasks,
            (TaskList, "[TaskTokens(\"Angle\")]"), (CategoryHead, ""),
            ("    [MaskHead(Task = \"Mask\")]\n    public partial MaskHead Mask { get; }\n\n", ""),
            ("    [CrossEntropyLoss(nameof(Category))]\n    public partial CrossEntropyLoss CategoryLoss { get; }\n\n", ""),
            (MaskLossMember, "")),
        ["MD0025 distinct task names with digits and underscores"] = Edit(Tasks, (TaskList, "[TaskTokens(\"Category\", \"Angle\", \"Mask_2\")]"), ("Task = \"Mask\"", "Task = \"Mask_2\"")),
        ["MD0026 each loss reads its kind of head"] = Edit(Tasks, ("[CrossEntropyLoss(nameof(Category))]", "[CrossEntropyLoss(Of = nameof(Category), LabelSmoothing = 0.1)]")),
        ["MD0027 heads declared in another order than the tasks"] = Edit(Tasks, (CategoryHead, ""), ("    [CrossEntropyLoss(nameof(Category))]", CategoryHead + "    [CrossEntropyLoss(nameof(Category))]")),
        ["MD0028 every task has a head and a loss"] = Tasks,
        ["MD0029 targets with names of their own"] = Edit(Tasks,
            ("[MseLoss(nameof(Angle), Optional = true)]", "[MseLoss(nameof(Angle), Target = \"angle_over_45\", Optional = true)]"),
            ("[CrossEntropyLoss(nameof(Category))]", "[CrossEntropyLoss(nameof(Category), Target = \"label\")]")),
    };
}
