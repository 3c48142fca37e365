using System;
using System.IO;
using System.Linq;
using ModelDsl.Blocks;
using ModelDsl.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Generated;

/// <summary>Distillation from a frozen teacher: the losses against their formulas, the weight schedule, and the generated students.</summary>
public class DistillModelTests
{
    public DistillModelTests() => manual_seed(31);

    private static float MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().to(float32).item<float>();

    [Fact]
    public void Each_loss_is_its_formula()
    {
        using var scope = NewDisposeScope();
        var s = randn(3, 4, 6, dtype: float64);
        var t = randn(3, 4, 6, dtype: float64);

        var cosine = (1 - (s * t).sum(-1) / (s.norm(-1) * t.norm(-1))).mean();
        Assert.True(MaxDiff(Distillation.Between(ModelDsl.DistillLoss.Cosine, s, t), cosine) < 1e-6f);

        Assert.True(MaxDiff(Distillation.Between(ModelDsl.DistillLoss.Mse, s, t), (s - t).pow(2).mean()) < 1e-12f);

        var d = (s - t).abs();
        var huber = where(d.lt(1), 0.5 * d * d, d - 0.5).mean();
        Assert.True(MaxDiff(Distillation.Between(ModelDsl.DistillLoss.SmoothL1, s, t), huber) < 1e-12f);

        // Hinton: T^2 * sum_k p_t (log p_t - log p_s) per row of softened distributions, averaged over the 12 rows.
        const double T = 3;
        var pt = (t / T).softmax(-1);
        var kl = (pt * (pt.log() - (s / T).log_softmax(-1))).sum(-1).mean() * (T * T);
        Assert.True(MaxDiff(Distillation.Between(ModelDsl.DistillLoss.KL, s, t, T), kl) < 1e-9f);
        Assert.True(Distillation.Between(ModelDsl.DistillLoss.KL, t, t, T).item<double>() < 1e-12);
    }

    [Fact]
    public void The_teacher_side_gets_no_gradient_and_the_projection_maps_the_student_width()
    {
        using var scope = NewDisposeScope();
        using var distill = new Distillation(studentDim: 8, teacherDim: 12, project: true);
        Assert.Equal(["proj.weight", "proj.bias"], distill.named_parameters().Select(p => p.name));
        var student = randn(4, 8).requires_grad_(true);
        var teacher = randn(4, 12).requires_grad_(true);
        distill.Compute(student, teacher).backward();
        Assert.NotNull(student.grad);
        Assert.Null(teacher.grad);

        Assert.Contains("student width 8 differs from the teacher's 12", Assert.Throws<ArgumentException>(() => new Distillation(8, 12)).Message);
        Assert.Contains("expects the teacher's output [4,12] to match the student's [4,8]; got [4,3,12]",
            Assert.Throws<ArgumentException>(() => distill.Compute(randn(4, 8), randn(4, 3, 12))).Message);
    }

    [Fact]
    public void The_weight_follows_its_schedule_in_training_steps_only()
    {
        using var linear = new Distillation(4, 4, weight: 1, schedule: ModelDsl.WeightSchedule.Linear, finalWeight: 0.2, scheduleSteps: 10);
        Assert.Equal(1.0, linear.WeightAt(0), 12);
        Assert.Equal(0.6, linear.WeightAt(5), 12);
        Assert.Equal(0.2, linear.WeightAt(10), 12);
        Assert.Equal(0.2, linear.WeightAt(50), 12);
        using var cosine = new Distillation(4, 4, weight: 1, schedule: ModelDsl.WeightSchedule.Cosine, finalWeight: 0, scheduleSteps: 10);
        Assert.Equal(0.5, cosine.WeightAt(5), 12);
        Assert.Equal((1 + Math.Cos(Math.PI * 0.2)) / 2, cosine.WeightAt(2), 12);

        linear.train();
        Assert.Equal(1.0, linear.StepWeight(), 12);
        Assert.Equal(0.92, linear.StepWeight(), 12);
        linear.eval();
        Assert.Equal(0.84, linear.StepWeight(), 12);
        Assert.Equal(0.84, linear.StepWeight(), 12);
        Assert.Equal(2, linear.Step);
    }

    [Fact]
    public void The_teacher_is_frozen_in_eval_mode_absent_from_the_parameters_and_the_checkpoint_and_gets_no_gradient()
    {
        using var model = new QueryDistilledStudent(CPU);
        model.train();
        Assert.False(model.Teacher.training);
        Assert.All(model.Teacher.parameters(), p => Assert.False(p.requires_grad));
        var names = model.named_parameters().Select(p => p.name).ToList();
        Assert.DoesNotContain(names, n => n.StartsWith("teacher", StringComparison.Ordinal));
        Assert.Contains("distill.proj.weight", names);
        Assert.Equal(model.parameters().Sum(p => p.numel()), QueryDistilledStudent.Summary.TotalParameters);

        var image = randn(4, 1, 28, 28);
        var step = model.TrainingStep(new QueryDistilledStudentBatch(image, randint(0, 10, [4])));
        step.Loss.backward();
        Assert.True(step.Metrics.ContainsKey("distill_loss"));
        Assert.All(model.Teacher.parameters(), p => Assert.Null(p.grad));
        var query = model.named_parameters().Single(p => p.name == "query").parameter;
        Assert.True(query.grad!.abs().sum().item<float>() > 0);

        // The teacher's output is a constant and was computed in eval mode: the same as running the teacher alone.
        var output = model.Forward(image);
        Assert.False(output.Teacher.requires_grad);
        Assert.Equal(0f, MaxDiff(output.Teacher, model.Teacher.Forward(image).Pooled));

        var path = Path.Combine(Path.GetTempPath(), $"modeldsl-student-{Guid.NewGuid():N}.safetensors");
        try
        {
            model.SaveSafetensors(path);
            var saved = SafetensorsIndex.Read(path).Entries.Select(e => e.Name).ToList();
            Assert.DoesNotContain(saved, n => n.StartsWith("teacher", StringComparison.Ordinal));
            Assert.Equal(names.OrderBy(n => n, StringComparer.Ordinal), saved.OrderBy(n => n, StringComparer.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_teacher_loads_from_a_weights_file()
    {
        using var trained = new TeacherVit(CPU);
        var path = Path.Combine(Path.GetTempPath(), $"modeldsl-teacher-{Guid.NewGuid():N}.safetensors");
        try
        {
            trained.SaveSafetensors(path);
            manual_seed(99);
            using var teacher = Teachers.Frozen(new TeacherVit(CPU), weights: path);
            var loaded = teacher.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, parameter) in trained.named_parameters())
                Assert.Equal(0f, MaxDiff(parameter, loaded[name]));
            Assert.False(teacher.training);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Training_steps_move_the_schedule_and_pull_the_student_towards_the_teacher()
    {
        using var model = new LogitDistilledStudent(CPU);
        model.train();
        var batch = new LogitDistilledStudentBatch(randn(8, 1, 28, 28), randint(0, 10, [8]));
        using var optimizer = optim.Adam(model.parameters(), lr: 3e-3);
        var first = model.TrainingStep(batch).Metrics["distill_loss"].item<float>();
        for (var i = 0; i < 5; i++)
        {
            optimizer.zero_grad();
            model.TrainingStep(batch).Loss.backward();
            optimizer.step();
        }
        Assert.Equal(6, model.Distill.Step);
        Assert.Equal(0.4, model.Distill.WeightAt(model.Distill.Step), 12);
        model.eval();
        using (no_grad())
            model.ValidationStep(batch);
        Assert.Equal(6, model.Distill.Step);

        // With the weight at 1 (a fresh schedule), the KL to the teacher's logits falls.
        using var pulled = new LogitDistilledStudent(CPU);
        pulled.train();
        using var adam = optim.Adam(pulled.parameters(), lr: 3e-3);
        var before = pulled.TrainingStep(batch).Metrics["distill_loss"].item<float>();
        for (var i = 0; i < 30; i++)
        {
            adam.zero_grad();
            var step = pulled.TrainingStep(batch);
            step.Metrics["distill_loss"].backward();
            adam.step();
        }
        var after = pulled.TrainingStep(batch).Metrics["distill_loss"].item<float>();
        Assert.True(after < before * 0.5f, $"KL to the teacher: {before} -> {after} (first model's first step {first})");
    }
}
