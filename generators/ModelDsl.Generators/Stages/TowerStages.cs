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

/// <summary>
/// <c>[Tower]</c>: another <c>[Model]</c> class as a stage. Its own graph gives its inputs, outputs and parameters;
/// registered under the member's snake_case name, so its weights are its own state_dict with a prefix.
/// </summary>
internal sealed class TowerStage() : StageDefinition(StageKind.Tower, "Tower", "")
{
    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    // A tower that passes tokens may start the sequence (whether it does is known once its graph is).
    public override bool IsSequenceStart(StageSpec stage) => true;

    // Its type is another [Model] of the project, compiled here; no type of its own to compare with.
    public override bool CheckMember(CompileContext c, int index, StageSpec stage)
    {
        c.CheckTowerMember(index, stage);
        return false;
    }

    /// <summary>A teacher (<c>[Tower(Teacher = true)]</c>): frozen, not registered, run under no_grad in eval mode.</summary>
    public static bool IsTeacher(StageSpec stage) => stage.Get("Teacher") == "true";

    public override string KindName(StageSpec stage) => IsTeacher(stage) ? "Tower (teacher, not saved)" : base.KindName(stage);

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var (tower, graph, hasErrors) = c.towerGraphs[stage.Member];
        var registered = RegisteredName(stage);
        var teacher = IsTeacher(stage);
        resolved.Add(new("Teacher", teacher ? "true" : "false"));
        if (stage.Get("Weights") is { } weights)
        {
            if (!teacher)
                c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Weights"), stage.Member, "Weights", $"\"{weights}\"",
                    "no weights file on a tower that is not a teacher (load a trainable tower's weights with the model's, or set Teacher = true)");
            resolved.Add(new("Weights", weights));
        }
        // The teacher's weights are not the student's: no decay names, and frozen whatever its stages say.
        if (!teacher)
        {
            foreach (var name in graph.NoWeightDecay)
                c.noWeightDecay.Add(registered + "." + name);
        }
        if (teacher || graph.TotalParameters > 0 && graph.TrainableParameters == 0)
            c.frozenWithin.Add(stage.Member);
        resolved.Add(new("Forward", tower.Forward!.Name));
        // The tower reports its own errors at its own declaration; here they only make its shapes unknown.
        if (hasErrors || c.upstreamBroken)
        {
            c.upstreamBroken = true;
            return null;
        }

        var bindings = new Dictionary<string, Dim>();
        var passed = c.MatchTowerInputs(index, stage, tower, graph, bindings);
        if (passed is null)
        {
            c.upstreamBroken = true;
            return null;
        }

        var wanted = stage.Get("Output");
        var output = wanted is null
            ? graph.Outputs.FirstOrDefault(o => o.Name == "Features") ?? graph.Outputs.FirstOrDefault(o => o.Name == "Pooled")
                ?? (graph.Outputs.Count == 1 ? graph.Outputs.FirstOrDefault(o => o.Name == "Tokens") : null)
            : graph.Outputs.FirstOrDefault(o => o.Name == wanted);
        if (output is null || !Shape.TryParse(output.Shape, out var declared, out _))
        {
            c.Report(Descriptors.TowerOutputMissing, DiagnosticTarget.Attribute(index, wanted is null ? null : "Output"),
                stage.Member, wanted ?? "Features or Pooled", ShortType(stage.MemberType),
                graph.Outputs.Count == 0 ? "none" : string.Join(", ", graph.Outputs.Select(o => $"{o.Name} {o.Shape}")));
            c.upstreamBroken = true;
            return null;
        }

        resolved.Add(new("Inputs", string.Join(",", passed)));
        foreach (var input in passed)
            c.MarkRead(input);
        resolved.Add(new("Output", output.Name));
        var shape = new Shape(declared!.Dims.Select(d => d.Substitute(bindings)));
        c.outputs.Add(new(stage.Member, shape.Text, $"The {output.Name} output of the tower '{stage.Member}' ({ShortType(stage.MemberType)})"));
        // A tower that passes tokens [B,N,D] before any sequence exists starts the sequence: an encoder, heads,
        // CLS and positions may follow it as they follow a patch embedding.
        if (!teacher && c.sequence is null && shape.Rank == 3 && shape[0].Equals(c.batch))
        {
            resolved.Add(new("StartsSequence", "true"));
            c.patchTokens = shape[1];
            c.SetSequence(shape, stage.Member);
            c.StartLayout(stage.Member, shape[1]);
        }
        return shape;
    }

    // A teacher is not registered: none of its parameters are the student's.
    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        if (!IsTeacher(stage.Spec))
            layout.Include(Registered(stage), stage.Inner);
    }

    // The tower builds on the same device; the model's own to(device) then finds it there. A teacher is a plain field,
    // built frozen in eval mode (its weights loaded when given), so the student's checkpoint and optimizer never see it.
    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        IsTeacher(stage.Spec)
            ? [new StageMember(Registered(stage), stage.Spec.MemberType,
                $"{Blocks}.Teachers.Frozen(new {stage.Spec.MemberType}(device){(stage.Resolved.Any(a => a.Name == "Weights") ? ", weights: " + Literal(stage.Text("Weights")) : "")})", MemberRole.Field)]
            : [Module(Registered(stage), stage.Spec.MemberType, $"new {stage.Spec.MemberType}(device)")];

    // Fields are read through `this.` because a field and a forward input may share a name (the tower
    // `Image` registered as `image`, the input `image`).
    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (!stage.Resolved.Any(a => a.Name == "Inputs"))
            return;
        var local = Camel(stage.Member) + "Features";
        var inputs = string.Join(", ", stage.Text("Inputs").Split(','));
        var call = $"this.{Registered(stage)}.{stage.Text("Forward")}({inputs}).{stage.Text("Output")}";
        if (stage.Bool("Teacher"))
            f.Line($"var {local} = {Blocks}.Teachers.Run(this.{Registered(stage)}, {stage.Text("Inputs").Split(',')[0]}.device, () => {call});", stage.Output);
        else
            f.Line($"var {local} = {call};", stage.Output);
        f.Values[stage.Member] = local;
        if (stage.Resolved.Any(a => a.Name == "StartsSequence"))
            PatchEmbeddingStage.WriteSequenceStart(f, local, stage.Output);
    }
}

/// <summary><c>[CosineLogits(Left, Right)]</c>: scaled cosine similarities of two towers' (or codebook queries') features, <c>[N,M]</c> (CLIP).</summary>
internal sealed class CosineLogitsStage() : StageDefinition(StageKind.CosineLogits, "CosineLogits", "global::ModelDsl.Blocks.CosineLogits")
{
    public override bool IsHeadPart => true;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var scale = stage.Get("Scale") is { } text ? ParseDouble(text) ?? 0 : AttributeDefaults.LogitScale;
        if (!(scale > 0) || double.IsInfinity(scale))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Scale"), stage.Member, "Scale", Format(scale), "a positive, finite logit scale such as 14.3 (1/0.07)");
            scale = AttributeDefaults.LogitScale;
        }
        resolved.Add(new("Scale", Format(scale)));
        var learn = Bool(stage, "LearnScale", resolved);
        // Features [N,D] come from a tower or from a codebook query (FDT's features of shared codes).
        foreach (var side in new[] { "Left", "Right" })
        {
            if (!c.Spec.Stages.Any(s => s.Member == stage.Get(side) && s.Kind == StageKind.CodebookQuery))
                c.CheckReference(index, stage, side, StageKind.Tower);
        }
        resolved.Add(new("Left", stage.Get("Left") ?? ""));
        resolved.Add(new("Right", stage.Get("Right") ?? ""));
        long parameters = learn ? 1 : 0;
        if (!c.outputsByMember.TryGetValue(stage.Get("Left") ?? "", out var left) || !c.outputsByMember.TryGetValue(stage.Get("Right") ?? "", out var right))
            return null;
        foreach (var (side, shape) in new[] { ("Left", left), ("Right", right) })
        {
            if (shape.Rank != 2)
            {
                c.Report(Descriptors.FeatureWidthMismatch, DiagnosticTarget.Attribute(index, side), stage.Member, stage.Get(side)!,
                    "features [N,D]", $"{shape.Text} of rank {shape.Rank}");
                return null;
            }
        }
        if (!left.Last.Equals(right.Last))
        {
            c.Report(Descriptors.FeatureWidthMismatch, DiagnosticTarget.Attribute(index, "Right"), stage.Member, stage.Get("Right")!,
                $"features of width {left.Last.Text} like '{stage.Get("Left")}' {left.Text}", $"{right.Text} of width {right.Last.Text}");
            return null;
        }
        var shapeOut = Shape.Of(left[0], right[0]);
        c.logits = shapeOut;
        c.headMember = stage.Member;
        // What a [CrossEntropyLoss] reads, like a classifier head's logits.
        c.heads[stage.Member] = new HeadInfo(StageKind.ClassifierHead, stage.Member, null, shapeOut, "Logits");
        c.outputs.Insert(0, new("Logits", shapeOut.Text, $"Scaled cosine similarities of '{stage.Get("Left")}' (rows) and '{stage.Get("Right")}' (columns)"));
        return shapeOut;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        if (stage.Bool("LearnScale"))
            layout.Tensor(Registered(stage) + ".logit_scale");
    }

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module(Registered(stage), MemberType, $"new {Blocks}.CosineLogits(scale: {Number(stage.Double("Scale"))}, learnScale: {Bool(stage.Bool("LearnScale"))})")];

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (stage.Output == "?")
            return;
        var left = Camel(stage.Text("Left")) + "Features";
        var right = Camel(stage.Text("Right")) + "Features";
        // A classifier head's forward code already has a local named `logits`.
        var logits = Camel(stage.Member) + (f.Graph.Stages.Any(s => s.Kind == StageKind.ClassifierHead) ? "Logits" : "");
        f.Line($"var {logits} = this.{Registered(stage)}.forward({left}, {right});", stage.Output);
        f.Values["Logits"] = logits;
    }
}

/// <summary><c>[ContrastiveLoss]</c>: CLIP's symmetric InfoNCE over square cosine logits; the pairs of the batch are the labels.</summary>
internal sealed class ContrastiveLossStage() : StageDefinition(StageKind.ContrastiveLoss, "ContrastiveLoss", "global::ModelDsl.Blocks.ContrastiveLoss", "loss")
{
    public override bool IsHeadPart => true;

    // Both are the model's `loss`.
    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => StageKind.CrossEntropyLoss;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var weight = stage.Get("Weight") is { } w ? ParseDouble(w) ?? AttributeDefaults.LossWeight : AttributeDefaults.LossWeight;
        if (!(weight > 0) || double.IsInfinity(weight))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Weight"), stage.Member, "Weight", Format(weight), "a positive, finite loss weight");
            weight = 1;
        }
        resolved.Add(new("Weight", Format(weight)));
        var source = c.Spec.Stages.Take(index).FirstOrDefault(s => s.Kind == StageKind.CosineLogits);
        if (c.logits is null || source is null)
        {
            if (source is null)
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "[CosineLogits] [B,B]", "no [CosineLogits] stage comes before it");
            return null;
        }
        if (!c.logits[0].Equals(c.logits[1]))
        {
            c.Report(Descriptors.ContrastiveNeedsPairs, DiagnosticTarget.Attribute(index), stage.Member, source.Member, c.logits.Text, c.logits[0].Text, c.logits[1].Text);
            return null;
        }
        resolved.Add(new("Logits", source.Member));
        return Shape.Of();
    }

    // No state: a field, not a registered module.
    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [new StageMember(Registered(stage), MemberType, $"new {Blocks}.ContrastiveLoss()", MemberRole.Field)];
}

public readonly partial record struct StageKind
{
    public static readonly StageKind Tower = new(nameof(Tower));
    public static readonly StageKind CosineLogits = new(nameof(CosineLogits));
    public static readonly StageKind ContrastiveLoss = new(nameof(ContrastiveLoss));
}
