using System;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// A frozen teacher beside a student: built frozen and in eval mode, never registered with the student (so it is not in
/// its <c>named_parameters()</c>, its optimizer or its checkpoint), and run under <c>no_grad</c>.
/// </summary>
public static class Teachers
{
    /// <summary>Freezes <paramref name="teacher"/>, puts it in eval mode and loads <paramref name="weights"/> when given.</summary>
    public static T Frozen<T>(T teacher, string? weights = null) where T : nn.Module
    {
        ArgumentNullException.ThrowIfNull(teacher);
        if (weights is not null)
            ModelDsl.Weights.Weights.Load(teacher, weights);
        Freezing.Freeze(teacher);
        teacher.eval();
        return teacher;
    }

    /// <summary>
    /// Runs <paramref name="forward"/> under <c>no_grad</c> with <paramref name="teacher"/> in eval mode on <paramref name="device"/>
    /// (the student's input's): the student's <c>to(device)</c> and <c>train()</c> do not reach an unregistered teacher, so it follows here.
    /// </summary>
    public static Tensor Run(nn.Module teacher, Device device, Func<Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(forward);
        if (teacher.parameters().FirstOrDefault() is { } first && !(first.device_type == device.type && first.device_index == device.index))
            teacher.to(device);
        if (teacher.training)
            teacher.eval();
        using var _ = no_grad();
        return forward();
    }
}

/// <summary>
/// The loss between a student's output and a frozen teacher's, <c>[B,D]</c> or <c>[B,n,D]</c> each, compared over the last
/// dimension (<see cref="DistillLoss"/>), after an optional learned projection <c>proj</c> from the student's width to the
/// teacher's; and the weight it enters the objective with, on a schedule over training steps.
/// </summary>
public sealed class Distillation : nn.Module
{
    private readonly Linear? proj;

    public Distillation(int studentDim, int teacherDim, DistillLoss loss = DistillLoss.Cosine, double temperature = 1.0, bool project = false,
        double weight = 1.0, WeightSchedule schedule = WeightSchedule.Constant, double finalWeight = 0.0, long scheduleSteps = 0) : base(nameof(Distillation))
    {
        if (studentDim <= 0) throw new ArgumentOutOfRangeException(nameof(studentDim), studentDim, "Distillation: the student width must be positive.");
        if (teacherDim <= 0) throw new ArgumentOutOfRangeException(nameof(teacherDim), teacherDim, "Distillation: the teacher width must be positive.");
        if (!project && studentDim != teacherDim)
            throw new ArgumentException($"Distillation: the student width {studentDim} differs from the teacher's {teacherDim}; learn a projection (project: true).", nameof(project));
        if (!(temperature > 0) || double.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "Distillation: the temperature must be a positive, finite number.");
        if (schedule != WeightSchedule.Constant && scheduleSteps <= 0)
            throw new ArgumentOutOfRangeException(nameof(scheduleSteps), scheduleSteps, "Distillation: a weight schedule needs a positive number of steps.");
        StudentDim = studentDim;
        TeacherDim = teacherDim;
        Loss = loss;
        Temperature = temperature;
        Weight = weight;
        Schedule = schedule;
        FinalWeight = finalWeight;
        ScheduleSteps = scheduleSteps;
        if (project)
        {
            proj = nn.Linear(studentDim, teacherDim);
            register_module(nameof(proj), proj);
        }
    }

    public int StudentDim { get; }
    public int TeacherDim { get; }
    public DistillLoss Loss { get; }
    public double Temperature { get; }
    public double Weight { get; }
    public WeightSchedule Schedule { get; }
    public double FinalWeight { get; }
    public long ScheduleSteps { get; }

    /// <summary>Training steps taken so far (<see cref="StepWeight"/> calls in training mode).</summary>
    public long Step { get; private set; }

    /// <summary>The weight at training step <paramref name="step"/>.</summary>
    public double WeightAt(long step)
    {
        if (Schedule == WeightSchedule.Constant) return Weight;
        var progress = Math.Min(1.0, Math.Max(0, step) / (double)ScheduleSteps);
        var shape = Schedule == WeightSchedule.Linear ? progress : (1 - Math.Cos(Math.PI * progress)) / 2;
        return Weight + (FinalWeight - Weight) * shape;
    }

    /// <summary>The weight of this step; in training mode the schedule then moves on by one step (validation leaves it).</summary>
    public double StepWeight()
    {
        var weight = WeightAt(Step);
        if (training)
            Step++;
        return weight;
    }

    /// <summary>The unweighted loss; the teacher's output is treated as a constant.</summary>
    /// <param name="student"><c>[B,StudentDim]</c> or <c>[B,n,StudentDim]</c>.</param>
    /// <param name="teacher">The same leading shape, width <c>TeacherDim</c>.</param>
    public Tensor Compute(Tensor student, Tensor teacher)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        if (student.ndim is < 2 or > 3 || student.shape[^1] != StudentDim)
            throw new ArgumentException($"Distillation expects the student's output [B,{StudentDim}] or [B,n,{StudentDim}]; got [{string.Join(",", student.shape)}].", nameof(student));
        if (teacher.ndim != student.ndim || teacher.shape[^1] != TeacherDim || !teacher.shape[..^1].SequenceEqual(student.shape[..^1]))
            throw new ArgumentException(
                $"Distillation expects the teacher's output [{string.Join(",", student.shape[..^1])},{TeacherDim}] to match the student's [{string.Join(",", student.shape)}]; got [{string.Join(",", teacher.shape)}].", nameof(teacher));
        using var scope = NewDisposeScope();
        var projected = proj is null ? student : proj.forward(student);
        return Between(Loss, projected, teacher.detach(), Temperature).MoveToOuterDisposeScope();
    }

    /// <summary>The loss <paramref name="kind"/> between two tensors of one shape, over the last dimension.</summary>
    public static Tensor Between(DistillLoss kind, Tensor student, Tensor teacher, double temperature = 1.0)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        using var scope = NewDisposeScope();
        var result = kind switch
        {
            DistillLoss.Mse => nn.functional.mse_loss(student, teacher),
            DistillLoss.SmoothL1 => nn.functional.smooth_l1_loss(student, teacher),
            DistillLoss.KL => KL(student, teacher, temperature),
            _ => (1 - nn.functional.cosine_similarity(student, teacher, dim: -1)).mean(),
        };
        return result.MoveToOuterDisposeScope();
    }

    // Hinton et al.: soften both by T, KL(teacher || student) per row, averaged over the rows, times T^2 so its gradients
    // keep their size as T changes.
    private static Tensor KL(Tensor student, Tensor teacher, double temperature)
    {
        var width = student.shape[^1];
        var logStudent = (student / temperature).log_softmax(-1).reshape(-1, width);
        var logTeacher = (teacher / temperature).log_softmax(-1).reshape(-1, width);
        var perRow = (logTeacher.exp() * (logTeacher - logStudent)).sum(-1);
        return perRow.mean() * (temperature * temperature);
    }
}
