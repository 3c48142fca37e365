using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace ModelDsl.Weights;

/// <summary>One tensor of a weights file or a model: its name, element type and shape.</summary>
/// <param name="Name">The registered (<c>state_dict</c>) name, e.g. <c>blocks.0.attn.qkv.weight</c>.</param>
/// <param name="DType">The element type in safetensors notation: <c>F32</c>, <c>F16</c>, <c>BF16</c>, <c>I64</c>, ...</param>
/// <param name="Shape">The shape, e.g. <c>[96, 32]</c>.</param>
public sealed record TensorEntry(string Name, string DType, long[] Shape)
{
    /// <summary><c>name [d0,d1] F32</c>.</summary>
    public override string ToString() => $"{Name} {Shapes.Format(Shape)} {DType}";

    /// <inheritdoc/>
    public bool Equals(TensorEntry? other) =>
        other is not null && Name == other.Name && DType == other.DType && Shape.AsSpan().SequenceEqual(other.Shape);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = HashCode.Combine(Name, DType);
        foreach (var d in Shape) hash = HashCode.Combine(hash, d);
        return hash;
    }
}

/// <summary>A tensor present in both the model and the file, with different shapes; it is not loaded.</summary>
/// <param name="Name">The model's name for it.</param>
/// <param name="Expected">The model's shape.</param>
/// <param name="Found">The file's shape.</param>
public sealed record ShapeMismatch(string Name, long[] Expected, long[] Found)
{
    /// <summary><c>head.weight: expected [5,48], found [10,32]</c>.</summary>
    public override string ToString() => $"{Name}: expected {Shapes.Format(Expected)}, found {Shapes.Format(Found)}";

    /// <inheritdoc/>
    public bool Equals(ShapeMismatch? other) =>
        other is not null && Name == other.Name && Expected.AsSpan().SequenceEqual(other.Expected) && Found.AsSpan().SequenceEqual(other.Found);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Name, Expected.Length, Found.Length);
}

/// <summary>A loaded tensor whose element type in the file differs from the model's; it was converted on copy.</summary>
public sealed record DTypeConversion(string Name, string From, string To)
{
    /// <summary><c>pos_embed: F16 -> F32</c>.</summary>
    public override string ToString() => $"{Name}: {From} -> {To}";
}

internal static class Shapes
{
    public static string Format(IEnumerable<long> shape) =>
        "[" + string.Join(",", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    public static bool Equal(long[] a, long[] b) => a.AsSpan().SequenceEqual(b);
}
