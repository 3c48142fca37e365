using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.Diagnostics;

/// <summary>Where in the declaration a diagnostic belongs; the analyzer turns it into a source location.</summary>
public enum TargetKind { Class, Forward, Input, StageMember, StageAttribute, Weights }

/// <param name="Index">The input or stage index, for the kinds that have one.</param>
/// <param name="Argument">The attribute argument (e.g. <c>Dim</c>) when one causes the problem.</param>
public sealed record DiagnosticTarget(TargetKind Kind, int Index = -1, string? Argument = null)
{
    public static readonly DiagnosticTarget Class = new(TargetKind.Class);
    public static readonly DiagnosticTarget Forward = new(TargetKind.Forward);
    public static readonly DiagnosticTarget Weights = new(TargetKind.Weights);

    public static DiagnosticTarget Input(int index) => new(TargetKind.Input, index);

    public static DiagnosticTarget Member(int stage) => new(TargetKind.StageMember, stage);

    public static DiagnosticTarget Attribute(int stage, string? argument = null) => new(TargetKind.StageAttribute, stage, argument);
}

/// <summary>A diagnostic of the front end, with the values a code fix needs in <see cref="Properties"/>.</summary>
public sealed record ModelDiagnostic(
    DiagnosticDescriptor Descriptor,
    DiagnosticTarget Target,
    EquatableArray<string> Arguments,
    ImmutableDictionary<string, string?> Properties)
{
    /// <summary>The property a code fix reads: the value that makes the declaration consistent.</summary>
    public const string FixValue = "FixValue";

    public string Id => Descriptor.Id;
}
