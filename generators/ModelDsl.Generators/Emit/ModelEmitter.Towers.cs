using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.Emit;

// Towers (other [Model] classes as stages) and the cosine logits between them.
internal static partial class ModelEmitter
{
    private static string? TowerField(GraphStage stage) => stage.Kind switch
    {
        StageKind.Tower => $"private readonly {stage.Spec.MemberType} {Registered(stage)};",
        StageKind.CosineLogits => $"private readonly {Blocks}.CosineLogits {Registered(stage)};",
        _ => null,
    };

    private static string? ConstructTower(GraphStage stage) => stage.Kind switch
    {
        // The tower builds on the same device; the model's own to(device) then finds it there.
        StageKind.Tower => $"{Registered(stage)} = new {stage.Spec.MemberType}(device);",
        StageKind.CosineLogits => $"{Registered(stage)} = new {Blocks}.CosineLogits(scale: {Number(stage.Double("Scale"))}, learnScale: {(stage.Bool("LearnScale") ? "true" : "false")});",
        _ => null,
    };

    // The tower calls and the logits between them, in declaration order; returns the expression of
    // each output they produce, by output name. Fields are read through `this.` because a field
    // and a forward input may share a name (the tower `Image` registered as `image`, the input `image`).
    private static Dictionary<string, string> WriteTowers(CodeWriter w, ModelGraph graph)
    {
        var values = new Dictionary<string, string>();
        foreach (var stage in Built(graph))
        {
            switch (stage.Kind)
            {
                case StageKind.Tower when stage.Resolved.Any(a => a.Name == "Inputs"):
                    var local = Camel(stage.Member) + "Features";
                    var inputs = string.Join(", ", stage.Text("Inputs").Split(','));
                    w.Line(Shaped($"var {local} = this.{Registered(stage)}.{stage.Text("Forward")}({inputs}).{stage.Text("Output")};", stage.Output));
                    values[stage.Member] = local;
                    break;
                case StageKind.CosineLogits when stage.Output != "?":
                    var left = Camel(stage.Text("Left")) + "Features";
                    var right = Camel(stage.Text("Right")) + "Features";
                    // A classifier head's forward code already has a local named `logits`.
                    var logits = Camel(stage.Member) + (graph.Stages.Any(s => s.Kind == StageKind.ClassifierHead) ? "Logits" : "");
                    w.Line(Shaped($"var {logits} = this.{Registered(stage)}.forward({left}, {right});", stage.Output));
                    values["Logits"] = logits;
                    break;
            }
        }
        return values;
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
