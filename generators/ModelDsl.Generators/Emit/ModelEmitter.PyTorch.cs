using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Stages;

namespace ModelDsl.Generators.Emit;

/// <summary>
/// The model's PyTorch twin: Python source of an <c>nn.Module</c> with the C# class's parameter names and forward
/// pass, built from the <c>modeldsl_torch</c> blocks that ship with the runtime. Each stage definition gives its
/// <c>__init__</c> lines (<see cref="StageDefinition.PyTorchMembers"/>) and writes its forward lines next to its C#
/// ones; the class gets the source as <c>PyTorchSource</c> and <c>ExportPyTorch(directory)</c>, or, when a stage
/// has no twin yet, an <c>ExportPyTorch</c> that says which.
/// </summary>
internal static partial class ModelEmitter
{
    private static void WritePyTorchTwin(CodeWriter w, ModelGraph graph, ForwardWriter f)
    {
        var stages = Built(graph).ToList();
        var members = stages.Select(s => (Stage: s, Lines: StageDefinitions.Of(s.Kind).PyTorchMembers(s)?.ToList())).ToList();
        var missing = members.Where(m => m.Lines is null).Select(m => $"'{m.Stage.Member}' ([{StageDefinitions.Of(m.Stage.Kind).ShortName}])").ToList();
        var name = graph.Spec.ClassName;
        var keyword = graph.Inputs.FirstOrDefault(i => PythonReserved.Contains(i.Name));
        if (missing.Count > 0 || graph.Spec.TypeParameters.Length > 0 || keyword is not null)
        {
            var reason = missing.Count > 0
                ? $"{string.Join(", ", missing)} {(missing.Count == 1 ? "has" : "have")} no PyTorch twin yet"
                : keyword is not null ? $"its input '{keyword.Name}' is a reserved name in Python; rename it"
                : "a generic model has no PyTorch twin";
            w.Line($"/// <summary>Would write the PyTorch twin of this model; {EscapeXml(reason)}, so it throws.</summary>");
            w.Line("/// <param name=\"directory\">Where the twin would go.</param>");
            w.Line($"public void ExportPyTorch(string directory) => throw new global::System.NotSupportedException({EmitText.Literal($"{name} cannot be exported to PyTorch: {reason}. The kinds with a twin are listed in docs/pytorch.md.")});");
            return;
        }

        var python = PythonSource(graph, f, members.SelectMany(m => FrozenAware(m.Stage, m.Lines!)).ToList());
        w.Line("/// <summary>");
        w.Line("/// The PyTorch twin of this model (<c>model.py</c> of <see cref=\"ExportPyTorch\"/>): an <c>nn.Module</c> with the same");
        w.Line("/// parameter names and forward pass, built from the <c>modeldsl_torch</c> blocks.");
        w.Line("/// </summary>");
        w.Line("public const string PyTorchSource = @\"" + python.Replace("\"", "\"\"").TrimEnd('\n') + "\";");
        w.Line();
        w.Line("/// <summary>");
        w.Line("/// Writes the PyTorch twin to <paramref name=\"directory\"/>: <c>model.py</c>, the <c>modeldsl_torch</c> package, the current");
        w.Line("/// weights as <c>weights.safetensors</c> and <c>export.json</c> (the class, its inputs and outputs with their shapes).");
        w.Line("/// </summary>");
        w.Line("/// <param name=\"directory\">Created when missing; files of the same names are replaced.</param>");
        using (w.Block("public void ExportPyTorch(string directory)"))
        {
            w.Line($"global::ModelDsl.Export.PyTorchExport.Write(this, directory, {EmitText.Literal(name)}, PyTorchSource,");
            w.Line($"    inputs: new global::ModelDsl.Export.TwinValue[] {{ {string.Join(", ", graph.Inputs.Select(i => $"new({EmitText.Literal(i.Name)}, {EmitText.Literal(i.Shape ?? "?")})"))} }},");
            w.Line($"    outputs: new global::ModelDsl.Export.TwinValue[] {{ {string.Join(", ", graph.Outputs.Select(o => $"new({EmitText.Literal(o.Name)}, {EmitText.Literal(o.Shape)})"))} }});");
        }
    }

    // The C# TrainingStep for a model with one loss whose kind has a twin (train.py calls it); none otherwise.
    private static void WriteTrainingStep(CodeWriter p, ModelGraph graph)
    {
        var losses = Built(graph).Where(s => StageDefinitions.IsLoss(s.Kind)).ToList();
        if (losses.Count != 1 || Built(graph).Any(s => StageDefinitions.Of(s.Kind).AddsToObjective) || StageDefinitions.Of(losses[0].Kind).PyTorchTraining(losses[0]) is not { } terms)
            return;
        p.Line();
        p.Line("    def training_step(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:");
        p.Line("        # The C# TrainingStep: the objective and the metrics of one batch, each a mean over its samples.");
        p.Line("        return self.terms(self(**{name: batch[name] for name in self.forward_inputs}), batch)");
        p.Line();
        p.Line("    def terms(self, outputs: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:");
        p.Line($"        loss = {terms.Loss}");
        foreach (var (name, expression) in terms.Metrics)
            p.Line($"        {name} = {expression}");
        p.Line($"        return {{\"loss\": loss{string.Concat(terms.Metrics.Select(m => $", \"{m.Name}\": {m.Name}"))}}}");
    }

    // A frozen stage's parameters do not train in the twin either.
    private static IEnumerable<string> FrozenAware(GraphStage stage, List<string> lines)
    {
        foreach (var line in lines)
            yield return line;
        if (!stage.Frozen)
            yield break;
        foreach (var line in lines)
        {
            var target = line.Split('=')[0].Trim();
            if (target.StartsWith("self.", System.StringComparison.Ordinal))
                yield return $"{target}.requires_grad_(False)";
        }
    }

    private static string PythonSource(ModelGraph graph, ForwardWriter f, List<string> members)
    {
        var name = graph.Spec.ClassName;
        var p = new CodeWriter();
        p.Line("# <auto-generated/>");
        p.Line($"# The PyTorch twin of the ModelDsl model {name}: the C# class's parameter names and forward pass, built from");
        p.Line("# the modeldsl_torch blocks. Weights saved by either side load into the other with a strict load_state_dict.");
        p.Line("from typing import Dict");
        p.Line();
        p.Line("import torch");
        p.Line("import torch.nn.functional as F");
        p.Line("from torch import nn");
        p.Line();
        p.Line("from modeldsl_torch import layers");
        p.Line();
        p.Line();
        p.Line($"class {name}(nn.Module):");
        p.Line($"    # Inputs: {string.Join(", ", graph.Inputs.Select(i => $"{i.Name} {i.Shape ?? "?"}"))}.");
        p.Line($"    # Outputs: {string.Join(", ", graph.Outputs.Select(o => $"{o.Name} {o.Shape}"))}.");
        p.Line();
        p.Line($"    forward_inputs = ({string.Join(", ", graph.Inputs.Select(i => $"\"{i.Name}\""))}{(graph.Inputs.Count == 1 ? "," : "")})");
        p.Line();
        p.Line("    def __init__(self) -> None:");
        p.Line("        super().__init__()");
        foreach (var member in members)
            p.Line("        " + member);
        p.Line();
        p.Line($"    def forward(self, {string.Join(", ", graph.Inputs.Select(i => i.Name + ": torch.Tensor"))}) -> Dict[str, torch.Tensor]:");
        var column = f.Python.Where(l => l.Shape is not null).Select(l => l.Statement.Length + 2).DefaultIfEmpty(0).Max();
        column = System.Math.Min(column, CodeWriter.MaxCommentColumn);
        foreach (var (statement, shape) in f.Python)
            p.Line("        " + (shape is null ? statement : statement.PadRight(System.Math.Max(column, statement.Length + 2)) + "# " + shape));
        var values = graph.Outputs.Select(o => $"\"{o.Name}\": {(f.PythonValues.TryGetValue(o.Name, out var value) ? value : "x")}");
        p.Line($"        return {{{string.Join(", ", values)}}}");
        WriteTrainingStep(p, graph);
        return p.ToString();
    }

    // Python's keywords, and the names the twin's forward uses itself.
    private static readonly HashSet<string> PythonReserved =
    [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else",
        "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
        "return", "try", "while", "with", "yield", "self", "x", "pooled", "logits", "torch", "nn", "F", "layers", "Dict",
    ];

    private static string EscapeXml(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
