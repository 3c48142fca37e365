using System;
using System.Text;

namespace ModelDsl.Generators.Emit;

/// <summary>Writes C# text with four-space indentation; blocks close themselves when disposed.</summary>
internal sealed class CodeWriter
{
    private readonly StringBuilder text = new();
    private int depth;

    public CodeWriter Line(string line = "")
    {
        if (line.Length > 0)
            text.Append(' ', depth * 4).Append(line);
        text.Append('\n');
        return this;
    }

    public IDisposable Block(string header)
    {
        Line(header);
        Line("{");
        depth++;
        return new Closer(this);
    }

    /// <summary>
    /// Writes another writer's lines here, each indented as this writer is, with their trailing shape comments
    /// (<c>// [B,N,D]</c>) aligned in one column after the longest statement, unless that would pass
    /// <see cref="MaxCommentColumn"/>: a longer statement keeps its comment two spaces after it.
    /// </summary>
    public CodeWriter Lines(CodeWriter other)
    {
        var lines = other.ToString().Split('\n');
        var shaped = new (string Statement, string? Comment)[lines.Length - 1];
        for (var i = 0; i < shaped.Length; i++)
        {
            var at = lines[i].LastIndexOf("// [", StringComparison.Ordinal);
            shaped[i] = at > 0 && lines[i].EndsWith("]", StringComparison.Ordinal) && lines[i].Substring(0, at).Trim().EndsWith(";", StringComparison.Ordinal)
                ? (lines[i].Substring(0, at).TrimEnd(), lines[i].Substring(at))
                : (lines[i], null);
        }
        var column = 0;
        foreach (var (statement, comment) in shaped)
        {
            if (comment is not null && statement.Length + 2 <= MaxCommentColumn)
                column = Math.Max(column, statement.Length + 2);
        }
        foreach (var (statement, comment) in shaped)
            Line(comment is null ? statement : statement.PadRight(Math.Max(column, statement.Length + 2)) + comment);
        return this;
    }

    /// <summary>Appends another writer's lines as they are.</summary>
    public CodeWriter Append(CodeWriter other)
    {
        text.Append(other.text);
        return this;
    }

    /// <summary>Shape comments are aligned up to this column of the statement (indentation not counted).</summary>
    public const int MaxCommentColumn = 72;

    public override string ToString() => text.ToString();

    private sealed class Closer(CodeWriter writer) : IDisposable
    {
        public void Dispose()
        {
            writer.depth--;
            writer.Line("}");
        }
    }
}
