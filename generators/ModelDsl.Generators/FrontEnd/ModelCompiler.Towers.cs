using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;

namespace ModelDsl.Generators.FrontEnd;

// Towers: a stage whose type is another [Model] class. The tower's own graph (compiled from its
// spec, which the caller hands in) gives its inputs, outputs and parameters, so shapes flow from
// one model into the other and mismatches between towers are found at compile time.
public static partial class ModelCompiler
{
    private sealed partial class Run
    {
        /// <summary>The specs of the [Model] classes this model reaches through towers.</summary>
        public EquatableArray<ModelSpec> Towers { get; init; }

        /// <summary>The models being compiled, outermost first: a tower already on it closes a cycle.</summary>
        public ImmutableArray<string> Path { get; init; } = [];

        private readonly Dictionary<string, (ModelSpec Spec, ModelGraph Graph, bool HasErrors)> towerGraphs = [];
        private readonly HashSet<string> frozenWithin = [];

        // A tower whose own stages are all frozen is frozen as a whole, whatever its [Tower] says.
        private bool FrozenWithin(StageSpec stage) => frozenWithin.Contains(stage.Member);

        private EquatableArray<GraphStage> InnerStages(StageSpec stage) =>
            stage.Kind == StageKind.Tower && towerGraphs.TryGetValue(stage.Member, out var tower) ? tower.Graph.Stages : default;

        private void CheckTowerMember(int index, StageSpec stage)
        {
            if (!stage.MemberTypeFacts.IsModel)
            {
                broken.Add(index);
                Report(Descriptors.TowerNotModel, DiagnosticTarget.Member(index), stage.Member, ShortType(stage.MemberType), "is not a [Model] class");
                return;
            }
            if (FindTower(stage.MemberType) is not { } tower)
            {
                // A [Model] of a referenced assembly: its declaration is not part of this compilation.
                broken.Add(index);
                Report(Descriptors.TowerNotModel, DiagnosticTarget.Member(index), stage.Member, ShortType(stage.MemberType), "is a [Model] class of another assembly");
                return;
            }
            if (CycleThrough(tower) is { } cycle)
            {
                broken.Add(index);
                Report(Descriptors.TowerCycle, DiagnosticTarget.Member(index), stage.Member, string.Join(" -> ", cycle.Select(ShortType)));
                return;
            }
            var (graph, diagnostics) = Compile(tower, Towers, Path);
            towerGraphs[stage.Member] = (tower, graph, diagnostics.Any(d => d.Descriptor.DefaultSeverity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error));
            // A tower the emitter cannot call: the tower's own diagnostics say why (MD0001, MD0010).
            if (!tower.IsPartial || tower.Forward is not { IsPartial: true })
                broken.Add(index);
        }

        private ModelSpec? FindTower(string typeName)
        {
            foreach (var candidate in Towers)
            {
                if (candidate.TypeName == typeName)
                    return candidate;
            }
            return null;
        }

        // The chain of tower types from this model back to itself through `tower`, or null.
        private List<string>? CycleThrough(ModelSpec tower)
        {
            var start = Path[Path.Length - 1];
            var seen = new HashSet<string>();
            List<string>? Walk(ModelSpec model, List<string> chain)
            {
                if (model.TypeName == start || Path.Contains(model.TypeName))
                    return [.. chain, model.TypeName];
                if (!seen.Add(model.TypeName))
                    return null;
                foreach (var stage in model.Stages.Where(s => s.Kind == StageKind.Tower))
                {
                    if (FindTower(stage.MemberType) is { } next && Walk(next, [.. chain, model.TypeName]) is { } found)
                        return found;
                }
                return null;
            }
            return Walk(tower, [start]);
        }

        private (Shape?, long) Tower(int index, StageSpec stage, List<Argument> resolved)
        {
            var (tower, graph, hasErrors) = towerGraphs[stage.Member];
            var registered = StageCatalog.RegisteredName(stage.Kind, stage.Member);
            foreach (var name in graph.NoWeightDecay)
                noWeightDecay.Add(registered + "." + name);
            var parameters = graph.Stages.Any(s => s.Parameters < 0) ? UnknownParameters : graph.TotalParameters;
            if (graph.TotalParameters > 0 && graph.TrainableParameters == 0)
                frozenWithin.Add(stage.Member);
            resolved.Add(new("Forward", tower.Forward!.Name));
            // The tower reports its own errors at its own declaration; here they only make its shapes unknown.
            if (hasErrors || upstreamBroken)
            {
                upstreamBroken = true;
                return (null, parameters);
            }

            var bindings = new Dictionary<string, Dim>();
            var passed = MatchTowerInputs(index, stage, tower, graph, bindings);
            if (passed is null)
            {
                upstreamBroken = true;
                return (null, parameters);
            }

            var wanted = stage.Get("Output");
            var output = wanted is null
                ? graph.Outputs.FirstOrDefault(o => o.Name == "Features") ?? graph.Outputs.FirstOrDefault(o => o.Name == "Pooled")
                : graph.Outputs.FirstOrDefault(o => o.Name == wanted);
            if (output is null || !Shape.TryParse(output.Shape, out var declared, out _))
            {
                Report(Descriptors.TowerOutputMissing, DiagnosticTarget.Attribute(index, wanted is null ? null : "Output"),
                    stage.Member, wanted ?? "Features or Pooled", ShortType(stage.MemberType),
                    graph.Outputs.Count == 0 ? "none" : string.Join(", ", graph.Outputs.Select(o => $"{o.Name} {o.Shape}")));
                upstreamBroken = true;
                return (null, parameters);
            }

            resolved.Add(new("Inputs", string.Join(",", passed)));
            resolved.Add(new("Output", output.Name));
            var shape = new Shape(declared!.Dims.Select(d => d.Substitute(bindings)));
            outputs.Add(new(stage.Member, shape.Text, $"The {output.Name} output of the tower '{stage.Member}' ({ShortType(stage.MemberType)})"));
            return (shape, parameters);
        }

        // The outer forward inputs passed to each input of the tower, in the tower's order; binds the
        // tower's plain symbols (B, T, ...) to the outer dimensions so its output shape can be stated here.
        private List<string>? MatchTowerInputs(int index, StageSpec stage, ModelSpec tower, ModelGraph graph, Dictionary<string, Dim> bindings)
        {
            var towerName = ShortType(stage.MemberType);
            var available = parsedInputs.Select(i => i.Name).ToList();
            var explicitInputs = stage.Get("Input")?.Split(',').Select(n => n.Trim()).Where(n => n.Length > 0).ToList();
            if (explicitInputs is not null && explicitInputs.Count != graph.Inputs.Count)
            {
                Report(Descriptors.TowerInputMismatch, DiagnosticTarget.Attribute(index, "Input"), stage.Member, towerName,
                    $"{graph.Inputs.Count} input(s) ({string.Join(", ", graph.Inputs.Select(i => i.Name))})",
                    $"Input names {explicitInputs.Count}");
                return null;
            }

            var passed = new List<string>();
            for (var i = 0; i < graph.Inputs.Count; i++)
            {
                var input = graph.Inputs[i];
                if (input.Shape is null || !Shape.TryParse(input.Shape, out var expected, out _))
                    return null;
                (string Name, Shape Shape) source;
                if (explicitInputs is not null)
                {
                    source = parsedInputs.FirstOrDefault(p => p.Name == explicitInputs[i]);
                    if (source.Shape is null)
                    {
                        Report(Descriptors.TowerInputMismatch, DiagnosticTarget.Attribute(index, "Input"), stage.Member, towerName,
                            $"a forward input for its '{input.Name}' {input.Shape}",
                            $"'{explicitInputs[i]}' is not a forward input of '{Spec.ClassName}' (it has {Join(available)})");
                        return null;
                    }
                }
                else
                {
                    source = parsedInputs.FirstOrDefault(p => p.Name == input.Name && !passed.Contains(p.Name));
                    if (source.Shape is null)
                    {
                        var fitting = parsedInputs.Where(p => !passed.Contains(p.Name) && Fits(expected!, p.Shape, new Dictionary<string, Dim>(bindings)) is null).ToList();
                        if (fitting.Count != 1)
                        {
                            Report(Descriptors.TowerInputMismatch, DiagnosticTarget.Attribute(index), stage.Member, towerName,
                                $"a forward input for its '{input.Name}' {input.Shape}",
                                fitting.Count == 0
                                    ? $"no input of '{Spec.ClassName}' has that name or shape (it has {Join(available)})"
                                    : $"{Join(fitting.Select(f => f.Name))} all fit; name the one to pass with Input = \"...\"");
                            return null;
                        }
                        source = fitting[0];
                    }
                }
                if (Fits(expected!, source.Shape, bindings) is { } problem)
                {
                    Report(Descriptors.TowerInputMismatch, DiagnosticTarget.Attribute(index, explicitInputs is null ? null : "Input"), stage.Member, towerName,
                        $"its input '{input.Name}' as {expected!.Text}", $"'{source.Name}' is {source.Shape.Text}: {problem}");
                    return null;
                }
                passed.Add(source.Name);
            }
            return passed;
        }

        // Null when `actual` fits the tower's declared `expected`, binding its plain symbols; else why not.
        private static string? Fits(Shape expected, Shape actual, Dictionary<string, Dim> bindings)
        {
            if (expected.Rank != actual.Rank)
                return $"rank {actual.Rank}, not {expected.Rank}";
            for (var d = 0; d < expected.Rank; d++)
            {
                if (IsPlainSymbol(expected[d]) && !bindings.ContainsKey(expected[d].Text))
                    bindings[expected[d].Text] = actual[d];
                var want = expected[d].Substitute(bindings);
                if (!want.Equals(actual[d]))
                    return $"dimension {d} is {actual[d].Text}, not {want.Text}";
            }
            return null;
        }

        private (Shape?, long) CosineLogits(int index, StageSpec stage, List<Argument> resolved)
        {
            var scale = stage.Get("Scale") is { } text ? ParseDouble(text) ?? 0 : 1 / 0.07;
            if (!(scale > 0) || double.IsInfinity(scale))
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Scale"), stage.Member, "Scale", Format(scale), "a positive, finite logit scale such as 14.3 (1/0.07)");
                scale = 1 / 0.07;
            }
            resolved.Add(new("Scale", Format(scale)));
            var learn = Bool(stage, "LearnScale", resolved);
            CheckReference(index, stage, "Left", StageKind.Tower);
            CheckReference(index, stage, "Right", StageKind.Tower);
            resolved.Add(new("Left", stage.Get("Left") ?? ""));
            resolved.Add(new("Right", stage.Get("Right") ?? ""));
            long parameters = learn ? 1 : 0;
            if (!outputsByMember.TryGetValue(stage.Get("Left") ?? "", out var left) || !outputsByMember.TryGetValue(stage.Get("Right") ?? "", out var right))
                return (null, parameters);
            foreach (var (side, shape) in new[] { ("Left", left), ("Right", right) })
            {
                if (shape.Rank != 2)
                {
                    Report(Descriptors.FeatureWidthMismatch, DiagnosticTarget.Attribute(index, side), stage.Member, stage.Get(side)!,
                        "features [N,D]", $"{shape.Text} of rank {shape.Rank}");
                    return (null, parameters);
                }
            }
            if (!left.Last.Equals(right.Last))
            {
                Report(Descriptors.FeatureWidthMismatch, DiagnosticTarget.Attribute(index, "Right"), stage.Member, stage.Get("Right")!,
                    $"features of width {left.Last.Text} like '{stage.Get("Left")}' {left.Text}", $"{right.Text} of width {right.Last.Text}");
                return (null, parameters);
            }
            var shapeOut = Shape.Of(left[0], right[0]);
            logits = shapeOut;
            headMember = stage.Member;
            // What a [CrossEntropyLoss] reads, like a classifier head's logits.
            heads[stage.Member] = new HeadInfo(StageKind.ClassifierHead, stage.Member, null, shapeOut);
            outputs.Insert(0, new("Logits", shapeOut.Text, $"Scaled cosine similarities of '{stage.Get("Left")}' (rows) and '{stage.Get("Right")}' (columns)"));
            return (shapeOut, parameters);
        }

        private static string Join(IEnumerable<string> names)
        {
            var list = names.Select(n => $"'{n}'").ToList();
            return list.Count == 0 ? "none" : string.Join(", ", list);
        }
    }

    /// <summary>
    /// The tower specs each model needs: for every model, the transitive closure of the [Model]
    /// classes it reaches through [Tower] members, taken from all specs of the compilation.
    /// </summary>
    public static EquatableArray<ModelSpec> TowerLibrary(ModelSpec spec, IReadOnlyList<ModelSpec> all)
    {
        if (!spec.Stages.Any(s => s.Kind == StageKind.Tower))
            return EquatableArray<ModelSpec>.Empty;
        var byName = new Dictionary<string, ModelSpec>();
        foreach (var candidate in all)
            byName[candidate.TypeName] = candidate;
        var found = new SortedDictionary<string, ModelSpec>(System.StringComparer.Ordinal);
        var pending = new Stack<ModelSpec>();
        pending.Push(spec);
        while (pending.Count > 0)
        {
            foreach (var stage in pending.Pop().Stages)
            {
                if (stage.Kind == StageKind.Tower && !found.ContainsKey(stage.MemberType) && byName.TryGetValue(stage.MemberType, out var tower))
                {
                    found[stage.MemberType] = tower;
                    pending.Push(tower);
                }
            }
        }
        return found.Values.ToEquatableArray();
    }
}
