using System;

namespace ModelDsl;

/// <summary>A tensor does not have the symbolic shape the model expects.</summary>
public sealed class ShapeMismatchException : Exception
{
    public ShapeMismatchException(string name, string expected, long[] actual, int? dimension, string message)
        : base(message)
    {
        Name = name;
        Expected = expected;
        Actual = actual;
        Dimension = dimension;
    }

    /// <summary>The input's name, e.g. <c>image</c>.</summary>
    public string Name { get; }

    /// <summary>The expected symbolic shape, e.g. <c>[B,1,28,28]</c>.</summary>
    public string Expected { get; }

    /// <summary>The tensor's actual shape.</summary>
    public long[] Actual { get; }

    /// <summary>The first dimension that does not match; null when the rank differs.</summary>
    public int? Dimension { get; }
}
