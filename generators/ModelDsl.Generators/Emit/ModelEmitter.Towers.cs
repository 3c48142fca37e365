using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.Emit;

// Towers (other [Model] classes as stages) and the cosine logits between them.
internal static partial class ModelEmitter
{
    // The summary's rows: a tower that is partly frozen (a frozen encoder with trainable prompts)
    // gets a row of its own without parameters, then one row per stage of it ("Text.Context"), so
    // the trainable and frozen counts are exact.
    private static IEnumerable<(string Name, GraphStage Stage, long Parameters, bool Frozen)> SummaryRows(ModelGraph graph)
    {
        IEnumerable<(string, GraphStage, long, bool)> Rows(GraphStage stage, string name)
        {
            if (!stage.IsPartlyFrozen)
            {
                yield return (name, stage, stage.Parameters, stage.Frozen);
                yield break;
            }
            yield return (name, stage, 0, false);
            foreach (var inner in stage.Inner)
            {
                foreach (var row in Rows(inner, name + "." + inner.Member))
                    yield return row;
            }
        }
        return graph.Stages.SelectMany(s => Rows(s, s.Member));
    }

    private static string? TowerField(GraphStage stage) => stage.Kind switch
    {
        StageKind.Tower => $"private readonly {stage.Spec.MemberType} {Registered(stage)};",
        StageKind.CosineLogits => $"private readonly {Blocks}.CosineLogits {Registered(stage)};",
        StageKind.TokenEmbedding => $"private readonly {Blocks}.TokenEmbedding {Registered(stage)};",
        StageKind.PromptTokens => $"private readonly {Blocks}.PromptTokens {Registered(stage)};",
        StageKind.VocabularyTokens => $"private readonly {Blocks}.VocabularyTokens {Registered(stage)};",
        StageKind.FeatureProjection => $"private readonly {Blocks}.FeatureProjection {Registered(stage)};",
        StageKind.ContrastiveLoss => $"private readonly {Blocks}.ContrastiveLoss {Registered(stage)};",
        _ => null,
    };

    private static string? ConstructTower(GraphStage stage) => stage.Kind switch
    {
        // The tower builds on the same device; the model's own to(device) then finds it there.
        StageKind.Tower => $"{Registered(stage)} = new {stage.Spec.MemberType}(device);",
        StageKind.CosineLogits => $"{Registered(stage)} = new {Blocks}.CosineLogits(scale: {Number(stage.Double("Scale"))}, learnScale: {(stage.Bool("LearnScale") ? "true" : "false")});",
        StageKind.TokenEmbedding => $"{Registered(stage)} = new {Blocks}.TokenEmbedding(vocab: {stage.Int("Vocab")}, dim: {stage.Int("Dim")}, maxLength: {stage.Int("MaxLength")});",
        StageKind.PromptTokens => $"{Registered(stage)} = new {Blocks}.PromptTokens(count: {stage.Int("Count")}, dim: {stage.Int("Dim")}, classes: {stage.Int("Classes")}, reparameterize: global::ModelDsl.Reparam.{stage.Text("Reparameterize")}, hidden: {stage.Int("Hidden")}, residual: {(stage.Bool("Residual") ? "true" : "false")});",
        StageKind.VocabularyTokens => $"{Registered(stage)} = new {Blocks}.VocabularyTokens(first: {stage.Int("First")}, count: {stage.Int("Count")}, dim: {stage.Int("Dim")});",
        StageKind.FeatureProjection => $"{Registered(stage)} = new {Blocks}.FeatureProjection(dim: {stage.Int("InDim")}, outDim: {stage.Int("Dim")});",
        StageKind.ContrastiveLoss => $"{Registered(stage)} = new {Blocks}.ContrastiveLoss();",
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
                case StageKind.FeatureProjection when stage.Output != "?":
                    values["Features"] = "features";
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

// Family 1: token ids with prompt tokens, the projected feature, the contrastive training step.
internal static partial class ModelEmitter
{
    // Token ids -> vectors, learned vocabulary vectors in place of theirs, prompts placed, then
    // positions over the whole sequence. Returns whether the forward pass has a token sequence `x`.
    private static bool WriteTokenEmbedding(CodeWriter w, ModelGraph graph)
    {
        var stages = Built(graph).ToList();
        var embedding = stages.FirstOrDefault(s => s.Kind == StageKind.TokenEmbedding && s.Text("Input").Length > 0);
        if (embedding is null)
            return false;
        w.Line(Shaped($"var x = {Registered(embedding)}.forward({embedding.Text("Input")});", embedding.Output));
        var last = embedding;
        foreach (var vocabulary in stages.Where(s => s.Kind == StageKind.VocabularyTokens && s.Bool("Placed")))
            w.Line(Shaped($"x = {Registered(vocabulary)}.forward({embedding.Text("Input")}, x);", vocabulary.Output));
        foreach (var prompts in stages.Where(s => s.Kind == StageKind.PromptTokens && s.Bool("Placed")))
        {
            w.Line(Shaped($"x = {Registered(prompts)}.Insert(x, after: {prompts.Int("After")});", prompts.Output));
            last = prompts;
        }
        w.Line(Shaped($"x = {Registered(embedding)}.AddPositions(x);", last.Output));
        return true;
    }

    private static void WriteFeatureProjection(CodeWriter w, ModelGraph graph, GraphStage stage)
    {
        if (stage.Output == "?")
            return;
        var rows = stage.Output.Trim('[', ']').Split(',')[0];
        var pooled = stage.Text("Pool") switch
        {
            "Avg" => "x.mean(new long[] { 1 })",
            "EndToken" => $"{Blocks}.FeatureProjection.AtEndToken(x, {stage.Text("Input")}, endToken: {stage.Int("EndToken")}, offset: {stage.Int("Offset")})",
            _ => "x.select(1, 0)",
        };
        w.Line(Shaped($"var featureToken = {pooled};", $"[{rows},{stage.Int("InDim")}]"));
        w.Line(Shaped($"var features = {Registered(stage)}.forward(featureToken);", stage.Output));
    }

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
            w.Line($"var accuracy = global::ModelDsl.Training.Metrics.Accuracy(output.Logits, {Blocks}.ContrastiveLoss.Targets(output.Logits));");
            w.Line("return new(objective, new global::System.Collections.Generic.Dictionary<string, global::TorchSharp.torch.Tensor> { [\"accuracy\"] = accuracy });");
        }
        w.Line();
        w.Line("/// <inheritdoc/>");
        w.Line($"public override global::ModelDsl.Training.StepOutput ValidationStep({batchName} batch) => TrainingStep(batch);");
    }
}
