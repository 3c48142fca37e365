using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using ModelDsl.Generators.Diagnostics;

namespace ModelDsl.Generators.FrontEnd;

/// <summary>
/// Where each part of a declaration is in source. Only the analyzers build it: locations would
/// defeat the generator's caching, and the generator reports nothing.
/// </summary>
public sealed class SourceMap(Location classLocation)
{
    public sealed record StageLocations(Location Member, Location Attribute, IReadOnlyDictionary<string, Location> Arguments);

    public Location Class { get; } = classLocation;

    public Location? Forward { get; set; }

    /// <summary>The path argument of <c>[PretrainedWeights]</c>.</summary>
    public Location? Weights { get; set; }

    /// <summary>Per forward input: its <c>[Shape]</c> argument, or the parameter when it has none.</summary>
    public List<Location> Inputs { get; } = [];

    public List<StageLocations> Stages { get; } = [];

    public Location Locate(DiagnosticTarget target)
    {
        switch (target.Kind)
        {
            case TargetKind.Forward:
                return Forward ?? Class;
            case TargetKind.Weights:
                return Weights ?? Class;
            case TargetKind.Input when target.Index < Inputs.Count:
                return Inputs[target.Index];
            case TargetKind.StageMember when target.Index < Stages.Count:
                return Stages[target.Index].Member;
            case TargetKind.StageAttribute when target.Index < Stages.Count:
                var stage = Stages[target.Index];
                return target.Argument is not null && stage.Arguments.TryGetValue(target.Argument, out var argument) ? argument : stage.Attribute;
            default:
                return Class;
        }
    }
}
