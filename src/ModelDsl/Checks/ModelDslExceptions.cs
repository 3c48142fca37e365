using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl;

/// <summary>
/// The base of the run-time errors ModelDsl raises about the user's data and inputs (labels, dtypes, empty
/// batches, a native failure inside a step). The message names the cause and the fix; where libtorch failed,
/// its own text (with its C++ frames) is only in <see cref="Exception.InnerException"/>.
/// </summary>
public class ModelDslException : Exception
{
    public ModelDslException(string message) : base(message) { }

    public ModelDslException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>
/// A target (class labels) that a loss or a metric cannot read: a float or bool dtype, one-hot rows, a shape
/// other than <c>[B]</c>, or a class index outside <c>[0, classes)</c>. Integer labels of other widths (int32,
/// int16, int8, uint8) are not refused: they are converted to int64.
/// </summary>
public sealed class LabelException : ModelDslException
{
    internal LabelException(string owner, string problem, string fix, long? row = null, string? value = null,
        string? column = null, string? where = null, IntPtr targetHandle = default, Exception? innerException = null)
        : base(Compose(owner, problem, fix, column, where), innerException)
    {
        Owner = owner;
        Problem = problem;
        Fix = fix;
        Row = row;
        Value = value;
        Column = column;
        Where = where;
        TargetHandle = targetHandle;
    }

    /// <summary>The loss or metric that read the labels, e.g. <c>CrossEntropyLoss</c>.</summary>
    public string Owner { get; }

    /// <summary>What is wrong, without the context.</summary>
    public string Problem { get; }

    /// <summary>What to do about it.</summary>
    public string Fix { get; }

    /// <summary>The row (within the batch) of the first offending value, when one value is at fault.</summary>
    public long? Row { get; }

    /// <summary>The first offending value, as text.</summary>
    public string? Value { get; }

    /// <summary>The batch column (dataset name) that held the labels, when the trainer could tell.</summary>
    public string? Column { get; }

    /// <summary>The step and batch, e.g. <c>training step 3 (epoch 1, batch 3 of 63)</c>, when the trainer ran it.</summary>
    public string? Where { get; }

    // The native handle of the target tensor the check read: the trainer finds the column that holds it.
    internal IntPtr TargetHandle { get; }

    internal LabelException WithContext(string? column, string where) =>
        new(Owner, Problem, Fix, Row, Value, column ?? Column, where, TargetHandle, this);

    private static string Compose(string owner, string problem, string fix, string? column, string? where)
    {
        var place = (where, column) switch
        {
            (null, null) => "",
            (null, _) => $"Column '{column}': ",
            (_, null) => $"{Capitalize(where)}: ",
            _ => $"{Capitalize(where)}, column '{column}': ",
        };
        return $"{place}{owner}: {problem} {fix}";
    }

    internal static string Capitalize(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
}

/// <summary>A batch of zero rows reached a loss, a metric or a step: a mean over no samples would be NaN.</summary>
public sealed class EmptyBatchException : ModelDslException
{
    public EmptyBatchException(string message) : base(message) { }

    public EmptyBatchException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>An input tensor of another dtype than the model expects (a float64 or uint8 image, int32 token ids).</summary>
public sealed class DtypeMismatchException : ModelDslException
{
    public DtypeMismatchException(string name, ScalarType expected, ScalarType actual, string message) : base(message)
    {
        Name = name;
        Expected = expected;
        Actual = actual;
    }

    /// <summary>The input's name, e.g. <c>image</c>.</summary>
    public string Name { get; }

    /// <summary>The dtype the model expects.</summary>
    public ScalarType Expected { get; }

    /// <summary>The tensor's dtype.</summary>
    public ScalarType Actual { get; }
}

/// <summary>
/// libtorch failed inside a training or validation step. The message names the step, the cause in one line,
/// the batch's columns and a fix where the cause is known; libtorch's own text is the inner exception.
/// </summary>
public sealed class TrainingStepException : ModelDslException
{
    public TrainingStepException(string where, string message, Exception innerException) : base(message, innerException) => Where = where;

    /// <summary>The step and batch, e.g. <c>training step 3 (epoch 1, batch 3 of 63)</c>.</summary>
    public string Where { get; }
}
