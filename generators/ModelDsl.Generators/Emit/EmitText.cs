using System;
using System.Globalization;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Stages;

namespace ModelDsl.Generators.Emit;

/// <summary>How generated code spells names, numbers and shapes; shared by the emitter and the stage definitions.</summary>
internal static class EmitText
{
    public const string Tensor = "global::TorchSharp.torch.Tensor";
    public const string Blocks = "global::ModelDsl.Blocks";

    /// <summary>The registered (field) name of a stage's main member.</summary>
    public static string Registered(GraphStage stage) => StageDefinitions.Of(stage.Kind).RegisteredName(stage.Spec);

    public static string Camel(string name) => char.ToLowerInvariant(name[0]) + name.Substring(1);

    public static string Bool(bool value) => value ? "true" : "false";

    // A statement with its output shape as a trailing comment, aligned where the line allows.
    public static string Shaped(string statement, string shape) =>
        statement.PadRight(Math.Max(56, statement.Length + 2)) + "// " + shape;

    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string Literal(string text) => "\"" + text.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    public static string Number(double value)
    {
        if (double.IsNaN(value) || double.IsInfinity(value))
            throw new ArgumentOutOfRangeException(nameof(value), value, "The front end resolves every number to a finite value before emission.");
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        return text.Contains(".") || text.Contains("E") ? text : text + ".0";
    }
}
