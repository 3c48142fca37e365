using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Stages;
using static ModelDsl.Generators.Emit.EmitText;

namespace ModelDsl.Generators.Emit;

// Towers (other [Model] classes as stages) and the cosine logits between them.
internal static partial class ModelEmitter
{
    // The summary's rows: a tower that is partly frozen (a frozen encoder with trainable prompts)
    // gets a row of its own without parameters, then one row per stage of it ("Text.Context"), so
    // the trainable and frozen counts are exact.
    private static IEnumerable<(string Name, GraphStage Stage, long Parameters, bool Frozen, long Flops, long PlainFlops)> SummaryRows(ModelGraph graph)
    {
        IEnumerable<(string, GraphStage, long, bool, long, long)> Rows(GraphStage stage, string name)
        {
            if (!stage.IsPartlyFrozen)
            {
                yield return (name, stage, stage.Parameters, stage.Frozen, Flops(stage, plain: false), Flops(stage, plain: true));
                yield break;
            }
            // Its stages' rows carry the FLOPs.
            yield return (name, stage, 0, false, 0, 0);
            foreach (var inner in stage.Inner)
            {
                foreach (var row in Rows(inner, name + "." + inner.Member))
                    yield return row;
            }
        }
        return graph.Stages.SelectMany(s => Rows(s, s.Member));
    }

    // A tower's FLOPs are its stages' (-1 when one of them is not counted).
    private static long Flops(GraphStage stage, bool plain)
    {
        if (stage.Inner.Count == 0)
            return plain ? stage.PlainFlops : stage.Flops;
        long total = 0;
        foreach (var inner in stage.Inner)
        {
            var flops = Flops(inner, plain);
            if (flops < 0) return -1;
            total = Saturating.Add(total, flops);
        }
        return total;
    }
}

// Inputs that are the same for every batch: a set of class prompts or references that a tower
// encodes once per step. Their first dimension is not the batch's, so a dataset cannot carry them
// as a column; training reads them from a property instead.
internal static partial class ModelEmitter
{
    private static bool IsPerModelInput(ModelGraph graph, GraphInput input) =>
        input.Shape is not null && graph.Inputs[0].Shape is { } first && !ReferenceEquals(input, graph.Inputs[0])
        && FirstDim(input.Shape) != FirstDim(first);

    private static string FirstDim(string shape) => shape.Trim('[', ']').Split(',')[0];

    private static string PerModelProperty(GraphInput input) => ModelCompiler.Pascal(input.Name) + "Input";

    private static string BatchSource(ModelGraph graph, GraphInput input) =>
        IsPerModelInput(graph, input)
            ? $"{PerModelProperty(input)} ?? throw new global::System.InvalidOperationException(\"Set {PerModelProperty(input)} (the forward input '{input.Name}' {input.Shape}) before training or evaluating: it is the same for every batch, so batches do not carry it.\")"
            : $"batch[\"{input.Name}\"]";

    private static void WritePerModelInputs(CodeWriter w, ModelGraph graph)
    {
        foreach (var input in graph.Inputs.Where(i => IsPerModelInput(graph, i)))
        {
            w.Line($"/// <summary>The forward input <c>{input.Name}</c> <c>{input.Shape}</c> for training and evaluation, on the model's device: its first dimension is not the batch's, so it is the same for every batch.</summary>");
            w.Line($"public {input.Type}? {PerModelProperty(input)} {{ get; set; }}");
            w.Line();
        }
    }
}

// Family 1: the contrastive training step (the pairs of the batch are the labels).
internal static partial class ModelEmitter
{
    private static void WriteContrastiveTraining(CodeWriter w, ModelGraph graph)
    {
        var batchName = BatchName(graph.Spec);
        var loss = Built(graph).First(s => s.Kind == StageKind.ContrastiveLoss);
        var forward = graph.Spec.Forward!;
        WritePerModelInputs(w, graph);
        w.Line("/// <inheritdoc/>");
        w.Line($"public override {batchName} CreateBatch(global::ModelDsl.Data.NamedBatch batch) => new({string.Join(", ", graph.Inputs.Select(i => BatchSource(graph, i)))});");
        w.Line();
        w.Line("/// <inheritdoc/>");
        w.Line("public override global::System.Collections.Generic.IReadOnlyCollection<string> NoWeightDecayNames { get; } =");
        w.Line(graph.NoWeightDecay.Count == 0
            ? "    global::System.Array.Empty<string>();"
            : $"    new[] {{ {string.Join(", ", graph.NoWeightDecay.Select(n => $"\"{n}\""))} }};");
        w.Line();
        w.Line("/// <inheritdoc/>");
        using (w.Block($"public override global::ModelDsl.Training.StepOutput TrainingStep({batchName} batch)"))
        {
            w.Line($"var output = {forward.Name}({string.Join(", ", graph.Inputs.Select(i => "batch." + ModelCompiler.Pascal(i.Name)))});");
            var weight = loss.Double("Weight");
            w.Line("// The pairs of the batch are the labels: row i matches column i.");
            w.Line($"var objective = {Registered(loss)}.Compute(output.Logits){(weight == 1.0 ? "" : " * " + Number(weight))};");
            var extra = string.Concat(WriteObjectiveTerms(w, graph).Select(m => $", [\"{m.Metric}\"] = {m.Local}"));
            w.Line($"var accuracy = global::ModelDsl.Training.Metrics.Accuracy(output.Logits, {Blocks}.ContrastiveLoss.Targets(output.Logits));");
            w.Line($"return new(objective, new global::System.Collections.Generic.Dictionary<string, global::TorchSharp.torch.Tensor> {{ [\"accuracy\"] = accuracy{extra} }});");
        }
        w.Line();
        w.Line("/// <inheritdoc/>");
        w.Line($"public override global::ModelDsl.Training.StepOutput ValidationStep({batchName} batch) => TrainingStep(batch);");
    }
}
