using System;
using System.Collections.Generic;
using System.Text;
using Microsoft.CodeAnalysis.Text;

namespace ModelDsl.Generators.Tests.Infrastructure;

/// <summary>Inline diagnostic markup, as in Microsoft.CodeAnalysis.Testing: <c>{|MD0004:Dim = 32|}</c>.</summary>
internal static class Markup
{
    public sealed record Expected(string Id, TextSpan Span, string Text);

    public static (string Source, IReadOnlyList<Expected> Expected) Parse(string markup)
    {
        var source = new StringBuilder();
        var expected = new List<Expected>();
        var open = new Stack<(string Id, int Start)>();
        var text = markup.Replace("\r\n", "\n");
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '{' && i + 1 < text.Length && text[i + 1] == '|')
            {
                var colon = text.IndexOf(':', i + 2);
                if (colon < 0) throw new FormatException($"Unterminated markup at {i}.");
                open.Push((text.Substring(i + 2, colon - i - 2), source.Length));
                i = colon;
            }
            else if (text[i] == '|' && i + 1 < text.Length && text[i + 1] == '}')
            {
                if (open.Count == 0) throw new FormatException($"Unbalanced '|}}' at {i}.");
                var (id, start) = open.Pop();
                expected.Add(new Expected(id, TextSpan.FromBounds(start, source.Length), source.ToString(start, source.Length - start)));
                i++;
            }
            else
            {
                source.Append(text[i]);
            }
        }
        if (open.Count > 0) throw new FormatException("Unclosed markup.");
        expected.Sort((a, b) => a.Span.Start.CompareTo(b.Span.Start));
        return (source.ToString(), expected);
    }
}
