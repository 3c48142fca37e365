using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Stages;

namespace ModelDsl.Generators.Emit;

/// <summary>
/// The forward pass being written: each stage definition adds its statements in declaration order and names
/// the locals that hold the model's outputs.
/// </summary>
internal sealed class ForwardWriter(CodeWriter code, ModelGraph graph, IReadOnlyList<GraphStage> stages, IReadOnlyCollection<string> kept)
{
    /// <summary>Where the statements go: the features part, then the head part.</summary>
    public CodeWriter Code { get; set; } = code;

    public ModelGraph Graph => graph;

    /// <summary>The stages that are part of the module (broken ones were reported and left out).</summary>
    public IReadOnlyList<GraphStage> Stages => stages;

    /// <summary>The stages whose output a later stage reads by name: the emitter keeps each in a local <c>{name}Output</c>.</summary>
    public IReadOnlyCollection<string> Kept => kept;

    /// <summary>Whether a token sequence <c>x</c> exists (an embedding wrote it); token stages write nothing before.</summary>
    public bool HasTokens { get; set; }

    /// <summary>The expression of each output of the forward record that a stage produced, by output name.</summary>
    public Dictionary<string, string> Values { get; } = [];

    /// <summary>The batch dimension's name in the documented shapes.</summary>
    public string Batch => graph.Outputs.FirstOrDefault()?.Shape.TrimStart('[').Split(',')[0] ?? "B";

    /// <summary>The forward statements of the PyTorch twin with their output shapes, written by each definition next to its C# statements.</summary>
    public List<(string Statement, string? Shape)> Python { get; } = [];

    /// <summary>The twin's expression of each output, by output name.</summary>
    public Dictionary<string, string> PythonValues { get; } = [];

    /// <summary>A statement of the PyTorch twin's forward, with its output shape for the trailing comment.</summary>
    public void Py(string statement, string? shape = null) => Python.Add((statement, shape));

    public void Line(string statement)
    {
        Flush();
        Code.Line(statement);
    }

    /// <summary>A statement with its output shape as a trailing comment.</summary>
    public void Line(string statement, string shape) => Line(EmitText.Shaped(statement, shape));

    /// <summary>A statement written just before the next one, wherever that goes (a kept output, after the features are split off).</summary>
    public void Defer(string statement) => deferred.Add(statement);

    /// <summary>Writes the deferred statements.</summary>
    public void Flush()
    {
        foreach (var statement in deferred)
            Code.Line(statement);
        deferred.Clear();
    }

    private readonly List<string> deferred = [];

    /// <summary>The built stage of that member and kind.</summary>
    public GraphStage Stage(string member, StageKind kind) => stages.First(s => s.Member == member && s.Kind == kind);
}
