using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace ModelDsl.Weights;

/// <summary>Names from a file, made safe for messages: control and format characters escaped, length bounded.</summary>
internal static class Names
{
    /// <summary>
    /// <paramref name="name"/> with control characters, lone surrogates and bidirectional/format characters
    /// written as <c>\uXXXX</c>, and cut to <see cref="WeightsLimits.MaxNameLength"/> characters with the full length.
    /// </summary>
    public static string Escape(string? name)
    {
        if (name is null) return "(null)";
        var text = new StringBuilder(Math.Min(name.Length, WeightsLimits.MaxNameLength) + 8);
        var shown = 0;
        for (var i = 0; i < name.Length; i++)
        {
            if (shown >= WeightsLimits.MaxNameLength)
            {
                text.Append(CultureInfo.InvariantCulture, $"... ({name.Length} characters)");
                break;
            }
            var c = name[i];
            if (char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[i + 1]))
            {
                text.Append(c).Append(name[i + 1]);
                i++;
            }
            else if (char.IsSurrogate(c) || char.IsControl(c) || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
                text.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            else
                text.Append(c);
            shown++;
        }
        return text.ToString();
    }

    /// <summary>Appends at most <see cref="WeightsLimits.MaxListedNames"/> lines, then "... and N more".</summary>
    public static void AppendLines<T>(StringBuilder text, IReadOnlyList<T> items, Func<T, string> line, string indent = "  ")
    {
        var count = Math.Min(items.Count, WeightsLimits.MaxListedNames);
        for (var i = 0; i < count; i++) text.Append(indent).AppendLine(line(items[i]));
        if (items.Count > count) text.Append(indent).AppendLine(CultureInfo.InvariantCulture, $"... and {items.Count - count} more");
    }

    /// <summary>At most <see cref="WeightsLimits.MaxListedNames"/> items joined, then "and N more".</summary>
    public static string Join<T>(IReadOnlyList<T> items, Func<T, string> format, string separator = ", ")
    {
        var count = Math.Min(items.Count, WeightsLimits.MaxListedNames);
        var parts = new List<string>(count + 1);
        for (var i = 0; i < count; i++) parts.Add(format(items[i]));
        if (items.Count > count) parts.Add($"and {items.Count - count} more");
        return string.Join(separator, parts);
    }
}
