using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using ModelDsl.Generators.Stages;

namespace ModelDsl.Generators.FrontEnd;

// Hooks that act inside an encoder's blocks (routing, merging, pruning): the tokens each block works on, derived once by
// the encoder from its hooks' InsideBlock, and the segments a shortened sequence no longer has.
public static partial class ModelCompiler
{
    /// <summary>The tokens through one encoder: its prefix tokens and the tokens entering each block (the last entry: leaving the last block).</summary>
    internal sealed record EncoderTokens(int Prefix, int[] Entering)
    {
        public int After => Entering[Entering.Length - 1];
    }

    /// <summary>The most blocks whose token counts are traced (far beyond any encoder; Depth = int.MaxValue must not allocate).</summary>
    internal const int MaxTracedBlocks = 4096;

    internal sealed partial class CompileContext
    {
        internal readonly Dictionary<string, EncoderTokens> encoderTokens = [];

        // Segments a hook merged or pruned away, and the hook: a head reading one is told so.
        internal readonly Dictionary<string, string> removedSegments = [];

        /// <summary>
        /// Runs the token count through the encoder's blocks under its hooks (the first hook acting inside a block decides it;
        /// two in one block are reported by the hooks), records it, and shortens the sequence and its layout when merging or
        /// pruning removed tokens: the prefix segments keep their place, the content keeps its name, the rest is gone.
        /// </summary>
        internal void RunTokensThrough(StageSpec encoder, int depth, IReadOnlyList<StageSpec> hooks)
        {
            if (sequence?[1].Value is not long start || start > int.MaxValue)
                return;
            var tokens = (int)start;
            // Blocks past the last one a hook acts in change nothing; a declared depth can be absurd (reported by the
            // parameter budget), so the trace is also capped.
            var traced = Math.Min(depth, MaxTracedBlocks);
            var entering = new int[traced + 1];
            depth = traced;
            string? shortenedBy = null;
            for (var block = 0; block < depth; block++)
            {
                entering[block] = tokens;
                foreach (var hook in hooks)
                {
                    var range = LayerRange(spec.Stages.ToList().IndexOf(hook), hook, report: false);
                    if (StageDefinitions.Of(hook.Kind).InsideBlock(hook, range, block, tokens, prefixTokens) is not { } inside)
                        continue;
                    if (inside.After != tokens)
                        shortenedBy ??= hook.Member;
                    tokens = inside.After;
                    break;
                }
            }
            entering[depth] = tokens;
            encoderTokens[encoder.Member] = new EncoderTokens(prefixTokens, entering);
            if (shortenedBy is null || sequence is null)
                return;
            sequence = sequence.With(1, Dim.Constant(tokens));
            var content = layout.FirstOrDefault(s => s.Role == SegmentRole.Content)?.Name ?? encoder.Member;
            foreach (var gone in layout.Where(s => s.Role is not SegmentRole.Prefix))
            {
                if (gone.Name != content)
                    removedSegments[gone.Name] = shortenedBy;
            }
            layout.RemoveAll(s => s.Role is not SegmentRole.Prefix);
            layout.Add(new Segment(content, SegmentRole.Content, Dim.Constant(tokens - prefixTokens)));
        }
    }
}
