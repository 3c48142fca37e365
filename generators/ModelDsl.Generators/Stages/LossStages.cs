using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Emit;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using static ModelDsl.Generators.Emit.EmitText;
using static ModelDsl.Generators.FrontEnd.ModelCompiler;
using static ModelDsl.Generators.FrontEnd.ModelCompiler.CompileContext;

namespace ModelDsl.Generators.Stages;

/// <summary>Losses: each reads a head and a target of the batch; they hold no state and are not registered.</summary>
internal abstract class LossStage(StageKind kind, string attribute, StageKind headKind) : StageDefinition(kind, attribute, "global::ModelDsl.Blocks." + attribute)
{
    // No matrix products: a loss of the heads' outputs (its elementwise work is not counted).
    public override (long Flops, long Plain)? Flops(ModelDsl.Generators.FrontEnd.ModelCompiler.CompileContext c, GraphStage stage) => (0, 0);

    public override bool IsLoss => true;

    /// <summary>The kind of head this loss reads.</summary>
    public StageKind HeadKind => headKind;

    /// <summary>The metric logged next to the loss, and the <c>Blocks.TaskMetrics</c> method that computes it.</summary>
    internal virtual (string Name, string Method) Metric => ("accuracy", "Accuracy");

    /// <summary>The batch name of the target when <c>Target</c> is not set and the head reads no task.</summary>
    internal virtual string DefaultTarget => "target";

    /// <summary>The target's shape, dtype and description, given the head the loss reads.</summary>
    internal abstract (Shape Shape, string Dtype, string What) Target(CompileContext c, Shape headOutput);

    /// <summary>Arguments of this loss kind only (label smoothing), read before the shared ones.</summary>
    internal virtual void ReadOwnArguments(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
    }

    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        // A model without task tokens has one loss, whose field is "loss" as it always was.
        resolved.Add(new("Field", c.taskTokensMember is null && Kind == StageKind.CrossEntropyLoss ? "loss" : StageCatalog.SnakeCase(stage.Member)));
        ReadOwnArguments(c, index, stage, resolved);
        var head = c.ReadOf(index, stage, HeadKind);
        var target = stage.Get("Target") ?? (head?.Task is { } task ? StageCatalog.SnakeCase(task) : DefaultTarget);
        // The target is a column of the dataset and a field of the generated batch record: a name, not any text.
        if (target.Length == 0 || !(char.IsLetter(target[0]) || target[0] == '_') || !target.All(ch => ch < 128 && (char.IsLetterOrDigit(ch) || ch == '_')))
        {
            c.broken.Add(index);
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Target"), stage.Member, "Target", $"\"{target}\"",
                "a column name that is an identifier (letters, digits, '_'), e.g. \"label\"");
            return null;
        }
        resolved.Add(new("Target", target));
        var weight = stage.Get("Weight") is { } w ? ParseDouble(w) ?? AttributeDefaults.LossWeight : AttributeDefaults.LossWeight;
        if (!(weight > 0) || double.IsInfinity(weight))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Weight"), stage.Member, "Weight", Format(weight), "a positive, finite loss weight");
            weight = 1;
        }
        resolved.Add(new("Weight", Format(weight)));
        var optional = Bool(stage, "Optional", resolved);
        resolved.Add(new("Task", head?.Task ?? ""));
        if (head is null)
        {
            // Cosine logits between towers are class logits too.
            if (!c.Spec.Stages.Take(index).Any(s => s.Kind == HeadKind || HeadKind == StageKind.ClassifierHead && s.Kind == StageKind.CosineLogits))
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, StageDefinitions.Of(HeadKind).HeadOutput, $"no [{StageDefinitions.Of(HeadKind).ShortName}] stage comes before it");
            return null;
        }
        if (c.lossByHead.TryGetValue(head.Member, out var first))
        {
            c.broken.Add(index);
            c.Report(Descriptors.ConflictingStages, DiagnosticTarget.Member(index), stage.Member, first,
                $"both read '{head.Member}'; a head has one loss, logged under {(head.Task is null ? "the model's metrics" : $"its task's name '{StageCatalog.SnakeCase(head.Task)}'")}");
            return null;
        }
        var (shape, dtype, what) = Target(c, head.Output);
        if (!c.AddTarget(index, stage, target, shape, dtype, optional, $"{what} for '{stage.Member}'"))
            return null;
        c.lossByHead[head.Member] = stage.Member;
        resolved.Add(new("Head", head.Member));
        resolved.Add(new("HeadOutput", head.OutputName));
        // Logged under the task's name, or the head's when it is one of several; the model's one pooled head logs bare names.
        resolved.Add(new("MetricPrefix", head.Task is { } named ? StageCatalog.SnakeCase(named) + "_" : head.OutputName == "Logits" ? "" : StageCatalog.SnakeCase(head.Member) + "_"));
        return Shape.Of();
    }

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [new StageMember(stage.Text("Field"), MemberType, $"new {MemberType}({ConstructorArguments(stage)})", MemberRole.Field)];

    protected virtual string ConstructorArguments(GraphStage stage) => "";
}

/// <summary><c>[CrossEntropyLoss]</c> over a classifier head's logits (or cosine logits), with label smoothing.</summary>
internal sealed class CrossEntropyLossStage() : LossStage(StageKind.CrossEntropyLoss, "CrossEntropyLoss", StageKind.ClassifierHead)
{
    // Not registered and stateless: the twin has nothing to build; its training_step computes the loss.
    public override IEnumerable<string>? PyTorchMembers(GraphStage stage) => [];

    // Blocks.CrossEntropyLoss: the mean over the batch with label smoothing; Metrics.Accuracy. An optional target has no twin yet.
    public override (string Loss, IReadOnlyList<(string Name, string Expression)> Metrics)? PyTorchTraining(GraphStage stage)
    {
        if (stage.Bool("Optional"))
            return null;
        var (logits, target) = ("outputs[\"Logits\"]", $"batch[\"{stage.Text("Target")}\"]");
        var weight = stage.Double("Weight");
        var loss = $"F.cross_entropy({logits}, {target}, label_smoothing={Number(stage.Double("LabelSmoothing"))})" + (weight == 1.0 ? "" : $" * {Number(weight)}");
        return (loss, [("accuracy", $"({logits}.argmax(dim=-1) == {target}).float().mean()")]);
    }

    // A model without task tokens has one head and one loss.
    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => taskModel ? null : Kind;

    internal override void ReadOwnArguments(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var smoothing = stage.Get("LabelSmoothing") is { } text ? ParseDouble(text) ?? 0 : 0;
        if (smoothing is < 0 or >= 1 || double.IsNaN(smoothing))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "LabelSmoothing"), stage.Member, "LabelSmoothing", Format(smoothing), "a value in [0, 1), e.g. 0.1");
            smoothing = 0;
        }
        resolved.Add(new("LabelSmoothing", Format(smoothing)));
    }

    internal override string DefaultTarget => "label";

    internal override (Shape Shape, string Dtype, string What) Target(CompileContext c, Shape headOutput) => (Shape.Of(c.batch), "int64", "Class indices (int64)");

    protected override string ConstructorArguments(GraphStage stage) => $"labelSmoothing: {Number(stage.Double("LabelSmoothing"))}";
}

/// <summary><c>[MseLoss]</c> over a regression head's outputs.</summary>
internal sealed class MseLossStage() : LossStage(StageKind.MseLoss, "MseLoss", StageKind.RegressionHead)
{
    internal override (string Name, string Method) Metric => ("mae", "MeanAbsoluteError");

    internal override (Shape Shape, string Dtype, string What) Target(CompileContext c, Shape headOutput) => (headOutput, "float", "Regression targets (float)");
}

/// <summary><c>[BinaryCrossEntropyLoss]</c> over a mask head's logits.</summary>
internal sealed class BinaryCrossEntropyLossStage() : LossStage(StageKind.BinaryCrossEntropyLoss, "BinaryCrossEntropyLoss", StageKind.MaskHead)
{
    internal override (string Name, string Method) Metric => ("iou", "MaskIou");

    internal override (Shape Shape, string Dtype, string What) Target(CompileContext c, Shape headOutput) => (headOutput, "float", "Binary masks (float, 0 or 1)");
}

public readonly partial record struct StageKind
{
    public static readonly StageKind CrossEntropyLoss = new(nameof(CrossEntropyLoss));
    public static readonly StageKind MseLoss = new(nameof(MseLoss));
    public static readonly StageKind BinaryCrossEntropyLoss = new(nameof(BinaryCrossEntropyLoss));
}
