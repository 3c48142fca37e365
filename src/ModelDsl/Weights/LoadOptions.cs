using System;
using System.Collections.Generic;

namespace ModelDsl.Weights;

/// <summary>How <see cref="Weights.Load"/> treats differences between the model and the file.</summary>
public enum LoadMode
{
    /// <summary>
    /// Every tensor the model has must be in the file with the same shape, and every tensor of the file
    /// (under <see cref="LoadOptions.Prefix"/>) must be in the model; otherwise nothing is loaded and
    /// <see cref="WeightsMismatchException"/> lists every difference.
    /// </summary>
    Strict,

    /// <summary>
    /// Loads every tensor whose name and shape match; the rest of the model keeps its values and the
    /// <see cref="LoadReport"/> lists what was new, ignored or of another shape. Loading nothing at all is
    /// still refused.
    /// </summary>
    Partial,
}

/// <summary>Options of <see cref="Weights.Load"/>. <see cref="Strict"/> is the default.</summary>
/// <example>
/// A pretrained backbone from a bigger file, frozen, with a new head:
/// <code>model.Load("pretrained.safetensors", LoadOptions.Partial with { Prefix = "backbone.", Freeze = true });</code>
/// </example>
public sealed record LoadOptions
{
    /// <summary>Refuse any difference (the default).</summary>
    public static LoadOptions Strict { get; } = new();

    /// <summary>Load what matches, report the rest.</summary>
    public static LoadOptions Partial { get; } = new() { Mode = LoadMode.Partial };

    /// <summary>Strict or partial; see <see cref="LoadMode"/>.</summary>
    public LoadMode Mode { get; init; } = LoadMode.Strict;

    /// <summary>
    /// Only the file's tensors whose names start with this prefix are considered, with the prefix removed
    /// (<c>"backbone."</c> turns <c>backbone.blocks.0.norm1.weight</c> into <c>blocks.0.norm1.weight</c>).
    /// The file's other tensors are reported as ignored and never make a strict load fail. Null or empty:
    /// every tensor of the file, names unchanged.
    /// </summary>
    public string? Prefix { get; init; }

    /// <summary>
    /// Model names (a full name, or a module prefix such as <c>"head"</c>, which covers <c>head.weight</c> and
    /// <c>head.bias</c>) that keep their current values: reported as new, and the file's tensors of those
    /// names are ignored. With <see cref="LoadMode.Strict"/> this loads "everything but the head" and still
    /// refuses any other difference.
    /// </summary>
    public IReadOnlyList<string> Exclude { get; init; } = Array.Empty<string>();

    /// <summary>Freezes (<c>requires_grad = false</c>) every parameter that was loaded; the others stay as they were.</summary>
    public bool Freeze { get; init; }

    /// <summary>The file's format; null (the default) detects it from the file's first bytes.</summary>
    public WeightsFormat? Format { get; init; }
}
