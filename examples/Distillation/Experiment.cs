using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using ModelDsl.Data;
using ModelDsl.Training;
using static TorchSharp.torch;

namespace DistillationExample;

/// <summary>
/// A teacher ViT trained on every labelled image of the embedded Fashion-MNIST subset; then a small student with one
/// learnable query trained on a few labelled images per class, once alone and once with the frozen teacher's pooled
/// feature supervising its query (cosine loss through a projection). Both students start from the same weights and see
/// the same batches; test accuracy is measured every <c>evalEvery</c> steps.
/// </summary>
public static class Experiment
{
    public sealed record Curve(string Name, List<(int Step, double Accuracy)> Accuracy, List<(int Step, double TaskLoss, double DistillLoss)> Losses);

    public static string Run(int teacherEpochs, int shots, int steps, int evalEvery, long seed, bool smoke, string? plotPath, TextWriter log)
    {
        manual_seed(seed);
        var (train, test) = FashionMnist.LoadEmbedded();
        if (smoke)
        {
            (teacherEpochs, steps, evalEvery) = (1, 4, 2);
            test = Take(test, 200);
        }
        var report = new StringBuilder();

        // The teacher, on all 8,000 labelled images.
        using var teacher = new TeacherVit(CPU);
        var options = new TrainOptions { Epochs = teacherEpochs, BatchSize = 128, LearningRate = 1e-3, Seed = seed, Device = CPU, ShowProgress = false, WriteCurves = false };
        var watch = Stopwatch.StartNew();
        teacher.Fit(new TensorDataset(("image", train[FashionMnist.ImageColumn]), ("label", train[FashionMnist.LabelColumn])), null, smoke ? options.ForSmoke() : options);
        var teacherTime = watch.Elapsed;
        teacher.eval();
        var teacherAccuracy = Accuracy(x => teacher.Forward(x).Logits, test);
        log.WriteLine($"teacher: {teacherAccuracy:P1} after {teacherTime.TotalSeconds:F0} s");

        // The few labelled images: the first `shots` of each class in a seeded shuffle.
        var labels = train[FashionMnist.LabelColumn].data<long>().ToArray();
        var order = Enumerable.Range(0, labels.Length).OrderBy(_ => 0).ToArray();
        new Random((int)seed).Shuffle(order);
        var picked = Enumerable.Range(0, 10).SelectMany(c => order.Where(i => labels[i] == c).Take(shots)).Select(i => (long)i).ToArray();
        var images = train[FashionMnist.ImageColumn].index_select(0, tensor(picked));
        var targets = train[FashionMnist.LabelColumn].index_select(0, tensor(picked));

        using var plain = new Student(CPU);
        using var distilled = new DistilledStudent(CPU);
        // The same starting point: the distilled student takes the plain one's weights (its teacher and projection aside).
        using (no_grad())
        {
            var start = plain.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, parameter) in distilled.named_parameters())
                if (start.TryGetValue(name, out var value)) parameter.copy_(value);
            var trained = teacher.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, parameter) in distilled.Teacher.named_parameters())
                parameter.copy_(trained[name]);
        }

        var curves = new[]
        {
            Train("student alone", plain, b => plain.TrainingStep(new StudentBatch(b.Images, b.Labels)), x => plain.Forward(x).Head, images, targets, test, steps, evalEvery, seed),
            Train("student + teacher", distilled, b => distilled.TrainingStep(new DistilledStudentBatch(b.Images, b.Labels)), x => distilled.Forward(x).Head, images, targets, test, steps, evalEvery, seed),
        };

        report.AppendLine($"Teacher ({TeacherVit.Summary.TotalParameters:N0} parameters) trained {teacherEpochs} epochs on {train.Count:N0} images in {teacherTime.TotalSeconds:F0} s: test accuracy {teacherAccuracy:P1} on {test.Count:N0} images.");
        report.AppendLine($"Students ({Student.Summary.TotalParameters:N0} parameters; the distilled one adds its {DistilledStudent.Summary.Rows.Single(r => r.Stage == "Distill").Parameters:N0}-parameter projection) on {picked.Length} labelled images ({shots} per class), batch 32, AdamW lr 1e-3, seed {seed}:");
        report.AppendLine();
        report.AppendLine("| Step | " + string.Join(" | ", curves.Select(c => c.Name)) + " |");
        report.AppendLine("|---:|" + string.Concat(curves.Select(_ => "---:|")));
        for (var i = 0; i < curves[0].Accuracy.Count; i++)
            report.AppendLine($"| {curves[0].Accuracy[i].Step} | " + string.Join(" | ", curves.Select(c => (100 * c.Accuracy[i].Accuracy).ToString("F1", CultureInfo.InvariantCulture) + " %")) + " |");
        report.AppendLine();
        report.AppendLine("Best: " + string.Join("; ", curves.Select(c => $"{c.Name} {(100 * c.Accuracy.Max(a => a.Accuracy)).ToString("F1", CultureInfo.InvariantCulture)} % (step {c.Accuracy.MaxBy(a => a.Accuracy).Step})")));
        if (plotPath is not null && !smoke)
            report.AppendLine($"Curves: {Plot(curves, plotPath)}");
        return report.ToString();
    }

    private static TensorDataset Take(TensorDataset data, int rows) =>
        new(data.Names.Select(n => new KeyValuePair<string, Tensor>(n, data[n].narrow(0, 0, rows))));

    private static Curve Train(string name, TorchSharp.torch.nn.Module model, Func<(Tensor Images, Tensor Labels), StepOutput> step, Func<Tensor, Tensor> logits,
        Tensor images, Tensor targets, TensorDataset test, int steps, int evalEvery, long seed)
    {
        var curve = new Curve(name, [], []);
        var generator = new Generator().manual_seed(seed + 1);
        using var optimizer = optim.AdamW(model.parameters().Where(p => p.requires_grad), lr: 1e-3, weight_decay: 0.05);
        model.train();
        for (var s = 1; s <= steps; s++)
        {
            using var scope = NewDisposeScope();
            var index = randint(0, images.shape[0], [32], generator: generator);
            optimizer.zero_grad();
            var output = step((images.index_select(0, index), targets.index_select(0, index)));
            output.Loss.backward();
            optimizer.step();
            var distill = output.Metrics.TryGetValue("distill_loss", out var d) ? d.item<float>() : 0.0;
            curve.Losses.Add((s, output.Loss.item<float>() - distill, distill));
            if (s % evalEvery == 0)
            {
                model.eval();
                curve.Accuracy.Add((s, Accuracy(logits, test)));
                model.train();
            }
        }
        return curve;
    }

    private static double Accuracy(Func<Tensor, Tensor> logits, TensorDataset test)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var images = test[FashionMnist.ImageColumn];
        var labels = test[FashionMnist.LabelColumn];
        long correct = 0;
        for (long b = 0; b < images.shape[0]; b += 500)
        {
            var n = Math.Min(500, images.shape[0] - b);
            correct += logits(images.narrow(0, b, n)).argmax(1).eq(labels.narrow(0, b, n)).sum().item<long>();
        }
        return (double)correct / images.shape[0];
    }

    // Test accuracy and the training losses (task cross-entropy; the distillation term) against the step.
    private static string Plot(IReadOnlyList<Curve> curves, string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var plot = new ScottPlot.Plot();
        foreach (var curve in curves)
        {
            var accuracy = plot.Add.Scatter(curve.Accuracy.Select(a => (double)a.Step).ToArray(), curve.Accuracy.Select(a => 100 * a.Accuracy).ToArray());
            accuracy.LegendText = curve.Name + ": test accuracy (%)";
            accuracy.Axes.YAxis = plot.Axes.Right;
            accuracy.LineWidth = 2;
            var task = plot.Add.Scatter(curve.Losses.Select(l => (double)l.Step).ToArray(), Smooth(curve.Losses.Select(l => l.TaskLoss).ToArray()));
            task.LegendText = curve.Name + ": cross-entropy (train, mean of 10 steps)";
            task.MarkerSize = 0;
            task.LinePattern = ScottPlot.LinePattern.Dashed;
            if (curve.Losses.Any(l => l.DistillLoss > 0))
            {
                var distill = plot.Add.Scatter(curve.Losses.Select(l => (double)l.Step).ToArray(), Smooth(curve.Losses.Select(l => l.DistillLoss).ToArray()));
                distill.LegendText = curve.Name + ": distillation loss (train, mean of 10 steps)";
                distill.MarkerSize = 0;
                distill.LinePattern = ScottPlot.LinePattern.Dotted;
            }
        }
        plot.Axes.Bottom.Label.Text = "optimizer step";
        plot.Axes.Left.Label.Text = "loss";
        plot.Axes.Right.Label.Text = "test accuracy (%)";
        plot.Title("Student with and without the teacher's supervision");
        plot.ShowLegend(ScottPlot.Alignment.MiddleRight);
        plot.SavePng(full, 1000, 600);
        return full;
    }

    private static double[] Smooth(double[] values) =>
        values.Select((_, i) => values.Skip(Math.Max(0, i - 9)).Take(Math.Min(10, i + 1)).Average()).ToArray();
}
