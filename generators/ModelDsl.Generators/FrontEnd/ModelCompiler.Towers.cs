using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Stages;
using ModelDsl.Generators.Shapes;

namespace ModelDsl.Generators.FrontEnd;

// Towers: a stage whose type is another [Model] class. The tower's own graph (compiled from its
// spec, which the caller hands in) gives its inputs, outputs and parameters, so shapes flow from
// one model into the other and mismatches between towers are found at compile time.
public static partial class ModelCompiler
{
    internal sealed partial class CompileContext
    {
        /// <summary>The specs of the [Model] classes this model reaches through towers.</summary>
        public EquatableArray<ModelSpec> Towers { get; init; }

        /// <summary>The models being compiled, outermost first: a tower already on it closes a cycle.</summary>
        public ImmutableArray<string> Path { get; init; } = [];

        internal readonly Dictionary<string, (ModelSpec Spec, ModelGraph Graph, bool HasErrors)> towerGraphs = [];
        internal readonly HashSet<string> frozenWithin = [];

        // A tower whose own stages are all frozen is frozen as a whole, whatever its [Tower] says.
        internal bool FrozenWithin(StageSpec stage) => frozenWithin.Contains(stage.Member);

        internal EquatableArray<GraphStage> InnerStages(StageSpec stage) =>
            stage.Kind == StageKind.Tower && towerGraphs.TryGetValue(stage.Member, out var tower) ? tower.Graph.Stages : default;

        internal void CheckTowerMember(int index, StageSpec stage)
        {
            if (!stage.MemberTypeFacts.IsModel || stage.MemberTypeFacts.IsAbstract)
            {
                broken.Add(index);
                Report(Descriptors.TowerNotModel, DiagnosticTarget.Member(index), stage.Member, ShortType(stage.MemberType),
                    stage.MemberTypeFacts.IsModel ? "is an abstract [Model] class, which cannot be built" : "is not a [Model] class");
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

        internal ModelSpec? FindTower(string typeName)
        {
            foreach (var candidate in Towers)
            {
                if (candidate.TypeName == typeName)
                    return candidate;
            }
            return null;
        }

        // The chain of tower types from this model back to itself through `tower`, or null.
        internal List<string>? CycleThrough(ModelSpec tower)
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


        // The outer forward inputs passed to each input of the tower, in the tower's order; binds the
        // tower's plain symbols (B, T, ...) to the outer dimensions so its output shape can be stated here.
        internal List<string>? MatchTowerInputs(int index, StageSpec stage, ModelSpec tower, ModelGraph graph, Dictionary<string, Dim> bindings)
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
        internal static string? Fits(Shape expected, Shape actual, Dictionary<string, Dim> bindings)
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


        internal static string Join(IEnumerable<string> names)
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
