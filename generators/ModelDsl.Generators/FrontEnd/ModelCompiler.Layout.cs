using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;

namespace ModelDsl.Generators.FrontEnd;

// The token sequence as data: named segments in order, each with its role. The stages that build the
// sequence add their segments; heads read a segment by name; the generated docs show the layout.
public static partial class ModelCompiler
{
    internal enum SegmentRole
    {
        /// <summary>In front of the content: CLS, registers, other prefix tokens.</summary>
        Prefix,
        /// <summary>Deep prompts an encoder inserts after the prefix tokens.</summary>
        Prompts,
        /// <summary>The patches, the token ids' vectors, or what a stage turned the sequence into.</summary>
        Content,
        /// <summary>Tokens after the content.</summary>
        After,
    }

    /// <param name="Rank">Prefix tokens' order whatever the declaration order (timm's [CLS | registers | ...]).</param>
    internal sealed record Segment(string Name, SegmentRole Role, Dim Length, int Rank = 0);

    internal sealed partial class CompileContext
    {
        internal readonly List<Segment> layout = [];

        /// <summary>The sequence starts (or is replaced by a stage that makes new tokens): one content segment.</summary>
        internal void StartLayout(string content, Dim length)
        {
            layout.Clear();
            layout.Add(new Segment(content, SegmentRole.Content, length));
        }

        internal void AddPrefix(string name, int count, int rank)
        {
            var at = layout.FindLastIndex(s => s.Role == SegmentRole.Prefix && s.Rank <= rank) + 1;
            layout.Insert(at, new Segment(name, SegmentRole.Prefix, Dim.Constant(count), rank));
        }

        internal void AddPrompts(string name, int count)
        {
            var at = layout.FindLastIndex(s => s.Role is SegmentRole.Prefix or SegmentRole.Prompts) + 1;
            layout.Insert(at, new Segment(name, SegmentRole.Prompts, Dim.Constant(count)));
        }

        internal void AddAfter(string name, int count) => layout.Add(new Segment(name, SegmentRole.After, Dim.Constant(count)));

        /// <summary>Tokens inserted into the content (prompts placed between token ids).</summary>
        internal void GrowContent(int count)
        {
            var at = layout.FindIndex(s => s.Role == SegmentRole.Content);
            if (at >= 0)
                layout[at] = layout[at] with { Length = layout[at].Length + Dim.Constant(count) };
        }

        /// <summary>A stage that maps the sequence to another one: the layout holds while the length does.</summary>
        internal void KeepOrReplaceLayout(string member, Shape output)
        {
            if (output.Rank != 3)
                layout.Clear();
            else if (sequence is null || !sequence[1].Equals(output[1]))
                StartLayout(member, output[1]);
        }

        internal int TokensAfterContent => layout.Where(s => s.Role == SegmentRole.After).Sum(s => (int)(s.Length.Value ?? 0));

        /// <summary>The segment of that name and where it starts; null when there is none or its place is not a number.</summary>
        internal (long Start, long Length)? FindSegment(string name)
        {
            long start = 0;
            foreach (var segment in layout)
            {
                if (segment.Length.Value is not long length)
                    return null;
                if (segment.Name == name)
                    return (start, length);
                start += length;
            }
            return null;
        }

        /// <summary><c>Cls [0] | Patches [1..16] | Summary [17..18]</c>; symbolic lengths stay symbolic.</summary>
        internal string LayoutText()
        {
            var parts = new List<string>();
            var start = Dim.Constant(0);
            foreach (var segment in layout)
            {
                var last = start + segment.Length - Dim.Constant(1);
                parts.Add(segment.Length.Value == 1 ? $"{segment.Name} [{start.Text}]" : $"{segment.Name} [{start.Text}..{last.Text}]");
                start += segment.Length;
            }
            return string.Join(" | ", parts);
        }
    }
}
