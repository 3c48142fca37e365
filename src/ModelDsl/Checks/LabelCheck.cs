using System;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl;

/// <summary>
/// The checks every loss and metric applies to class labels before libtorch sees them: integer class
/// indices <c>[B]</c> in <c>[0, classes)</c> for logits <c>[B,classes]</c>. Labels of another integer width
/// (int32, int16, int8, uint8) are converted to int64; float, bool and one-hot labels, another shape and
/// values out of range are refused with a <see cref="LabelException"/> that names the expected dtype, shape
/// or range, the first offending row and value, and the fix.
/// </summary>
/// <remarks>
/// The range check reads two numbers from the device per call (one synchronisation on CUDA); the dtype and
/// shape checks read nothing. A value out of range would otherwise be a native error on the CPU and a
/// device-side assert that ends the process's CUDA context on a GPU.
/// </remarks>
public static class LabelCheck
{
    /// <summary>
    /// The labels as int64 class indices <c>[B]</c> (a new tensor the caller owns), checked against
    /// <paramref name="logits"/> <c>[B,C]</c>. With <paramref name="present"/>, only the present samples'
    /// values are range-checked (an absent sample's label may be anything, e.g. -1).
    /// </summary>
    /// <exception cref="LabelException">The labels are not integer class indices of shape <c>[B]</c> in <c>[0, C)</c>.</exception>
    /// <exception cref="EmptyBatchException">The batch has no rows.</exception>
    public static Tensor ClassIndices(Tensor logits, Tensor target, string owner, Tensor? present = null, bool checkRange = true)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(owner);
        if (logits.ndim != 2)
            throw new ArgumentException($"{owner} expects logits [B,C]; got [{Show(logits)}].", nameof(logits));
        long batch = logits.shape[0], classes = logits.shape[1];
        RequireRows(batch, owner);
        var handle = target.Handle;
        var dtype = target.dtype;
        var range = $"class indices in [0, {classes - 1}] for the head's {classes} classes";

        // One-hot (or probability) rows first: they have the logits' shape, whatever their dtype.
        if (target.ndim == 2 && target.shape[0] == batch && target.shape[1] == classes && classes > 1)
            throw new LabelException(owner,
                $"the labels have shape [{Show(target)}] ({Name(dtype)}), one row of {classes} per sample (one-hot or probabilities); it needs {range}, shape [{batch}], int64.",
                "Convert them once in the dataset: label.argmax(1) gives the class index of each row.",
                targetHandle: handle);
        if (IsFloating(dtype) || dtype == ScalarType.Bool || IsComplex(dtype))
            throw new LabelException(owner,
                $"the labels are {Name(dtype)}; it needs {range}, as an integer type (int64), shape [{batch}].",
                dtype == ScalarType.Bool
                    ? "Convert them once in the dataset: label.to(ScalarType.Int64) (false = class 0, true = class 1)."
                    : "If they hold whole numbers, convert them once in the dataset: label.to(ScalarType.Int64); nothing is rounded silently.",
                value: target.ndim >= 1 && target.shape[0] > 0 ? FirstValue(target) : null, targetHandle: handle);
        if (!IsInteger(dtype))
            throw new LabelException(owner, $"the labels are {Name(dtype)}; it needs {range}, int64, shape [{batch}].",
                "Convert them to int64 in the dataset.", targetHandle: handle);
        if (target.ndim != 1 || target.shape[0] != batch)
        {
            var fix = target.ndim == 2 && target.shape[0] == batch && target.shape[1] == 1
                ? "Drop the extra dimension once in the dataset: label.reshape(-1) (or label.squeeze(1))."
                : target.ndim >= 1 && target.shape[0] != batch
                    ? $"The batch has {batch} rows of logits but {target.shape[0]} labels: every column of a batch must have the same rows."
                    : "Give one class index per sample, shape [B].";
            throw new LabelException(owner, $"the labels have shape [{Show(target)}]; it needs {range}, shape [{batch}] (one per sample), int64.",
                fix, targetHandle: handle);
        }

        using var scope = NewDisposeScope();
        var indices = dtype == ScalarType.Int64 ? target.alias() : target.to(ScalarType.Int64);
        if (checkRange)
        {
            var bad = indices.lt(0).logical_or(indices.ge(classes));
            if (present is not null)
                bad = bad.logical_and(present.dtype == ScalarType.Bool ? present : present.ne(0));
            if (bad.any().item<bool>())
            {
                long row = bad.nonzero()[0, 0].item<long>();
                long value = indices[row].item<long>();
                long count = bad.sum().item<long>();
                long largest = indices.max().item<long>();
                var others = count > 1 ? $" ({count} of the batch's {batch} labels are out of range)" : "";
                var fix = value < 0
                    ? "A negative label is not a 'no label' marker here (PyTorch's ignore index -100 is not used): for samples without a label, " +
                      "declare the loss Optional = true and give the batch a '<target>_present' column."
                    : $"Fix the labels, or, if there are {largest + 1} classes, declare the head with Classes = {largest + 1}.";
                throw new LabelException(owner,
                    $"row {row} has class index {value}, outside [0, {classes - 1}] for the head's {classes} classes{others}.",
                    fix, row: row, value: value.ToString(CultureInfo.InvariantCulture), targetHandle: handle);
            }
        }
        return indices.MoveToOuterDisposeScope();
    }

    /// <summary>Throws <see cref="EmptyBatchException"/> when <paramref name="rows"/> is 0.</summary>
    public static void RequireRows(long rows, string owner)
    {
        if (rows == 0)
            throw new EmptyBatchException(
                $"{owner} got a batch of 0 rows: its mean over no samples would be NaN. Give every batch at least one row " +
                "(check the dataset or the slice the batch was cut from).");
    }

    /// <summary>The dtype's name as PyTorch writes it: <c>float32</c>, <c>int64</c>, <c>uint8</c>.</summary>
    public static string Name(ScalarType type) => type switch
    {
        ScalarType.Byte => "uint8",
        ScalarType.Int8 => "int8",
        ScalarType.Int16 => "int16",
        ScalarType.Int32 => "int32",
        ScalarType.Int64 => "int64",
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float32 => "float32",
        ScalarType.Float64 => "float64",
        ScalarType.Bool => "bool",
        ScalarType.ComplexFloat32 => "complex64",
        ScalarType.ComplexFloat64 => "complex128",
        _ => type.ToString(),
    };

    internal static bool IsFloating(ScalarType t) =>
        t is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64;

    internal static bool IsComplex(ScalarType t) =>
        t is ScalarType.ComplexFloat32 or ScalarType.ComplexFloat64;

    internal static bool IsInteger(ScalarType t) =>
        t is ScalarType.Byte or ScalarType.Int8 or ScalarType.Int16 or ScalarType.Int32 or ScalarType.Int64;

    private static string FirstValue(Tensor t)
    {
        using var scope = NewDisposeScope();
        var first = t.flatten()[0].to(ScalarType.Float64).item<double>();
        return first.ToString("G6", CultureInfo.InvariantCulture);
    }

    private static string Show(Tensor t) => string.Join(",", t.shape);
}
