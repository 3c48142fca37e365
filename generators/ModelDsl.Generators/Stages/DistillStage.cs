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

namespace ModelDsl.Generators.Stages;

/// <summary>
/// <c>[Distill(Teacher, Student)]</c>: a frozen teacher tower's output supervises a named output of the student (a stage's
/// output, or a segment of the token sequence: learnable queries, the CLS token), through a learned projection when the
/// widths differ; its weighted loss is added to the training objective.
/// </summary>
internal sealed class DistillStage() : StageDefinition(StageKind.Distill, "Distill", "global::ModelDsl.Blocks.Distillation")
{
    private static readonly string[] Losses = ["Cosine", "Mse", "SmoothL1", "KL"];
    private static readonly string[] Schedules = ["Constant", "Linear", "Cosine"];

    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    public override bool IsHeadPart => true;

    /// <summary>The forward record's field with the student's tokens, when the student is a segment of the sequence.</summary>
    public static string SegmentOutput(string member) => member + "Student";

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var loss = Choice(c, index, stage, resolved, "Loss", Losses, "DistillLoss");
        c.PositiveDouble(index, stage, "Temperature", resolved, 1.0, "a positive, finite temperature such as 4 (Hinton's KL)");
        var project = CompileContext.Bool(stage, "Project", resolved);
        var weight = stage.Get("Weight") is { } w ? ParseDouble(w) ?? 1 : 1;
        if (!(weight >= 0) || double.IsInfinity(weight))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Weight"), stage.Member, "Weight", Format(weight), "a non-negative, finite loss weight");
            weight = 1;
        }
        resolved.Add(new("Weight", Format(weight)));
        var schedule = Choice(c, index, stage, resolved, "Schedule", Schedules, "WeightSchedule");
        var final = stage.Get("FinalWeight") is { } fw ? ParseDouble(fw) ?? 0 : 0;
        resolved.Add(new("FinalWeight", Format(final)));
        if (schedule != "Constant")
            c.PositiveInt(index, stage, "ScheduleSteps", resolved, fallback: 1, "the number of training steps over which the weight moves from Weight to FinalWeight");
        else
            resolved.Add(new("ScheduleSteps", "0"));

        var teacherName = stage.Get("Teacher") ?? "";
        var studentName = stage.Get("Student") ?? "";
        c.CheckReference(index, stage, "Teacher", StageKind.Tower);
        if (c.Spec.Stages.FirstOrDefault(s => s.Member == teacherName && s.Kind == StageKind.Tower) is not { } teacherStage)
            return Broken(c, index);
        if (!TowerStage.IsTeacher(teacherStage))
        {
            var trainable = teacherStage.Get("Frozen") != "true";
            c.Report(Descriptors.TrainableTeacher, DiagnosticTarget.Attribute(index, "Teacher"), stage.Member, teacherName,
                trainable ? "a trainable [Tower]: the distillation loss would train the teacher towards the student, and its weights would be saved in the student's checkpoint"
                          : "a frozen but registered [Tower]: its weights would be saved in the student's checkpoint, and it would run in training mode (dropout) while the student trains");
            return Broken(c, index);
        }
        resolved.Add(new("Teacher", teacherName));
        if (!c.outputsByMember.TryGetValue(teacherName, out var teacher))
            return Broken(c, index);

        // The student: a named segment of the final token sequence, else a stage's output in the forward record.
        Shape student;
        if (c.sequence is not null && c.FindSegment(studentName) is { } segment)
        {
            student = segment.Length == 1 ? Shape.Of(c.sequence[0], c.sequence.Last) : Shape.Of(c.sequence[0], Dim.Constant(segment.Length), c.sequence.Last);
            resolved.Add(new("SegmentStart", segment.Start.ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("SegmentLength", segment.Length.ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("StudentOutput", SegmentOutput(stage.Member)));
        }
        else if (c.outputs.FirstOrDefault(o => o.Name == (c.heads.TryGetValue(studentName, out var head) ? head.OutputName : studentName)) is { } named
                 && Shape.TryParse(named.Shape, out var parsed, out _))
        {
            student = parsed!;
            resolved.Add(new("StudentOutput", named.Name));
        }
        else
        {
            if (!c.upstreamBroken)
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index, "Student"), stage.Member,
                    $"the student output '{studentName}' (a named segment of the token sequence, or an output of the forward record)",
                    c.layout.Count == 0 ? "the model has no such output" : $"it is neither an output nor a segment of {c.LayoutText()}");
            return Broken(c, index);
        }

        var sameLead = student.Rank == teacher.Rank && student.Rank is 2 or 3 && Enumerable.Range(0, student.Rank - 1).All(i => student[i].Equals(teacher[i]));
        if (!sameLead || student.Last.Value is null || teacher.Last.Value is null)
        {
            c.Report(Descriptors.TeacherShapeMismatch, DiagnosticTarget.Attribute(index, "Student"), stage.Member, studentName, student.Text, teacherName, teacher.Text,
                "their shapes differ before the last dimension, which no projection changes; supervise an output with the teacher's leading shape (as many tokens)");
            return Broken(c, index);
        }
        if (student.Last.Value != teacher.Last.Value && !project)
        {
            c.Report(Descriptors.TeacherShapeMismatch, DiagnosticTarget.Attribute(index, "Student"), stage.Member, studentName, student.Text, teacherName, teacher.Text,
                $"the widths differ ({student.Last.Text} and {teacher.Last.Text}); set Project = true to learn a projection from the student's width to the teacher's");
            return Broken(c, index);
        }
        if (resolved.Any(a => a.Name == "SegmentStart"))
            c.outputs.Add(new(SegmentOutput(stage.Member), student.Text, $"The tokens of '{studentName}' that '{stage.Member}' distills from '{teacherName}'"));
        resolved.Add(new("StudentDim", student.Last.Text));
        resolved.Add(new("TeacherDim", teacher.Last.Text));
        resolved.Add(new("Metric", StageCatalog.SnakeCase(stage.Member) + "_loss"));
        if (loss == "KL" && student.Last.Value == 1)
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Loss"), stage.Member, "Loss", "DistillLoss.KL", "a loss other than KL for outputs of width 1 (a softmax over one value is always 1)");
        return Shape.Of();
    }

    // A stage whose declaration is wrong (reported) or whose source is (reported there) is left out of the module.
    private static Shape? Broken(CompileContext c, int index)
    {
        c.broken.Add(index);
        return null;
    }

    private static string Choice(CompileContext c, int index, StageSpec stage, List<Argument> resolved, string argument, string[] allowed, string enumName)
    {
        var value = stage.Get(argument) ?? allowed[0];
        if (!allowed.Contains(value))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, argument), stage.Member, argument, value,
                string.Join(", ", allowed.Take(allowed.Length - 1).Select(a => $"{enumName}.{a}")) + $" or {enumName}.{allowed[allowed.Length - 1]}");
            value = allowed[0];
        }
        resolved.Add(new(argument, value));
        return value;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        if (stage.Output != "?" && stage.Bool("Project"))
            layout.Linear(Registered(stage) + ".proj", stage.Int("StudentDim"), stage.Int("TeacherDim"));
    }

    public override IEnumerable<StageMember> Members(GraphStage stage)
    {
        if (stage.Output == "?")
            return [];
        var arguments = new List<string>
        {
            $"studentDim: {stage.Int("StudentDim")}", $"teacherDim: {stage.Int("TeacherDim")}", $"loss: global::ModelDsl.DistillLoss.{stage.Text("Loss")}",
        };
        if (stage.Double("Temperature") != 1.0) arguments.Add($"temperature: {Number(stage.Double("Temperature"))}");
        if (stage.Bool("Project")) arguments.Add("project: true");
        if (stage.Double("Weight") != 1.0) arguments.Add($"weight: {Number(stage.Double("Weight"))}");
        if (stage.Text("Schedule") != "Constant")
        {
            arguments.Add($"schedule: global::ModelDsl.WeightSchedule.{stage.Text("Schedule")}");
            arguments.Add($"finalWeight: {Number(stage.Double("FinalWeight"))}");
            arguments.Add($"scheduleSteps: {stage.Int("ScheduleSteps")}");
        }
        return [Module(Registered(stage), MemberType, $"new {Blocks}.Distillation({string.Join(", ", arguments)})")];
    }

    // A segment of the sequence is cut out where the heads read it; a stage's output is already in the record.
    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (stage.Output == "?" || !stage.Resolved.Any(a => a.Name == "SegmentStart"))
            return;
        var (start, length) = (stage.Int("SegmentStart"), stage.Int("SegmentLength"));
        var local = Camel(SegmentOutput(stage.Member));
        var dims = f.Graph.Outputs.First(o => o.Name == SegmentOutput(stage.Member)).Shape;
        f.Line(length == 1 ? $"var {local} = x.select(1, {start});" : $"var {local} = x.narrow(1, {start}, {length});", dims);
        f.Values[SegmentOutput(stage.Member)] = local;
    }

    public override bool AddsToObjective => true;

    public override (string Metric, string Local) WriteObjectiveTerm(CodeWriter w, GraphStage stage)
    {
        var local = Camel(stage.Member) + "Value";
        w.Line($"// The teacher '{stage.Text("Teacher")}' supervises '{stage.Spec.Get("Student")}'; the weight follows its schedule over training steps.");
        w.Line($"var {local} = this.{Registered(stage)}.Compute(output.{stage.Text("StudentOutput")}, output.{stage.Text("Teacher")});");
        w.Line($"objective = objective + {local} * this.{Registered(stage)}.StepWeight();");
        return (stage.Text("Metric"), local);
    }
}

public readonly partial record struct StageKind
{
    public static readonly StageKind Distill = new(nameof(Distill));
}
