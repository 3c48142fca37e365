using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using ModelDsl.Data;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>
/// What the trainer throws when a step fails: the ModelDsl exception with the step and the batch column named,
/// or, for an error raised inside libtorch, a <see cref="TrainingStepException"/> whose message is the cause in
/// one line (no native stack frames), the batch's columns and a fix; libtorch's text stays the inner exception.
/// </summary>
internal static class StepFailures
{
    /// <summary>The exception to throw instead of <paramref name="error"/>, or null to let it pass unchanged.</summary>
    public static Exception? Translate(Exception error, NamedBatch batch, string where) => error switch
    {
        LabelException label when label.Where is null => label.WithContext(ColumnOf(batch, label.TargetHandle), where),
        EmptyBatchException empty => new EmptyBatchException($"{LabelException.Capitalize(where)}: {empty.Message}", empty),
        ExternalException native => new TrainingStepException(where, Describe(native.Message, batch, where), native),
        _ => null,
    };

    /// <summary>The first lines of a libtorch message, without "Exception raised from" and the frames after it.</summary>
    public static string Cause(string nativeMessage)
    {
        var lines = new List<string>();
        foreach (var raw in (nativeMessage ?? "").Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("Exception raised from", StringComparison.Ordinal) || line.StartsWith("frame #", StringComparison.Ordinal))
                break;
            if (line.Length > 0) lines.Add(line);
        }
        var text = string.Join(" ", lines);
        var triggered = text.IndexOf("(Triggered internally at", StringComparison.Ordinal);
        if (triggered > 0) text = text[..triggered].TrimEnd();
        return text.Length > 400 ? text[..400] + "..." : text.Length == 0 ? "(libtorch gave no message)" : text;
    }

    private static string Describe(string nativeMessage, NamedBatch batch, string where)
    {
        var cause = Cause(nativeMessage);
        var columns = string.Join(", ", batch.Names.Select(n => $"'{n}' {LabelCheck.Name(batch[n].dtype)} [{string.Join(",", batch[n].shape)}]"));
        var stop = cause.EndsWith('.') || cause.EndsWith("...", StringComparison.Ordinal) ? " " : ". ";
        return $"{LabelException.Capitalize(where)} failed inside libtorch: {cause}{stop}{Hint(cause, batch)}The batch's columns: {columns}. " +
               "(libtorch's own message, with its native frames, is the inner exception.)";
    }

    private static string Hint(string cause, NamedBatch batch)
    {
        var lower = cause.ToLowerInvariant();
        if (lower.Contains("out of memory"))
            return "The device ran out of memory: lower TrainOptions.BatchSize (GradientAccumulationSteps keeps the effective batch), or train in bf16. ";
        if (lower.Contains("out of bounds") || lower.Contains("target") && lower.Contains("bounds"))
            return "A class index is outside the head's classes: check the label column's values against the head's Classes. ";
        if (lower.Contains("type") || lower.Contains("dtype"))
        {
            var suspects = batch.Names
                .Where(n => batch[n].dtype is not (ScalarType.Float32 or ScalarType.Int64 or ScalarType.Bool))
                .Select(n => $"'{n}' is {LabelCheck.Name(batch[n].dtype)} (convert it once in the dataset: .to(ScalarType.{(LabelCheck.IsFloating(batch[n].dtype) || batch[n].ndim >= 3 ? "Float32" : "Int64")}))")
                .ToList();
            return suspects.Count > 0
                ? $"An input has another dtype than the model's weights (float32): {string.Join("; ", suspects)}. "
                : "An input has another dtype than the model computes in: image inputs must be float32, ids and labels int64. ";
        }
        return "";
    }

    private static string? ColumnOf(NamedBatch batch, IntPtr handle)
    {
        if (handle == IntPtr.Zero) return null;
        foreach (var name in batch.Names)
        {
            if (batch[name].Handle == handle) return name;
        }
        return null;
    }
}
