using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Emit;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using static ModelDsl.Generators.Emit.EmitText;
using static ModelDsl.Generators.FrontEnd.ModelCompiler;

namespace ModelDsl.Generators.Stages;

/// <summary>
/// A stage that acts inside the blocks of the encoder named by <c>Into</c> (of the blocks in <c>Layers</c>, all by default):
/// it runs a block itself (routing around it, merging or pruning between its attention and its MLP). What a block then
/// works on is <see cref="StageDefinition.InsideBlock"/>; the encoder derives the sequence it gives from it. Declared after
/// its encoder, whose token counts its checks read.
/// </summary>
internal abstract class InsideBlockStage(StageKind kind, string attribute, string memberType) : StageDefinition(kind, attribute, memberType)
{
    public override bool IsEncoderHook => true;

    // Several of a kind, on different blocks (EViT prunes at blocks 3, 6 and 9).
    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    /// <summary>Whether the kind removes tokens (merging, pruning): heads cannot read the segments after the prefix then.</summary>
    protected abstract bool Shortens { get; }

    /// <summary>What the kind does, for messages: <c>merges tokens</c>.</summary>
    protected abstract string Verb { get; }

    /// <summary>Checks the kind's own arguments (adding what the emitter reads to <paramref name="resolved"/>).</summary>
    protected abstract void CheckArguments(CompileContext c, int index, StageSpec stage, List<Argument> resolved);

    /// <summary>Checks against the tokens that enter each block of the encoder.</summary>
    protected virtual void CheckTokens(CompileContext c, int index, StageSpec stage, (int First, int Count) range, EncoderTokens through, string encoder)
    {
    }

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var width = c.Width(index, stage, resolved, "a token sequence [B,N,D]");
        var encoders = c.Spec.Stages.Where(s => s.Kind == StageKind.TransformerEncoder).ToList();
        if (stage.Get("Into") is null && encoders.Count != 1)
            c.Report(Descriptors.BadReference, DiagnosticTarget.Attribute(index), stage.Member, "Into", "", "is not set", "TransformerEncoder",
                encoders.Count == 0 ? " (the model has none)" : "; set Into = nameof(...)");
        c.CheckReference(index, stage, "Into", StageKind.TransformerEncoder);
        var range = c.LayerRange(index, stage, report: true);
        resolved.Add(new("FirstLayer", range.First.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("LayerCount", range.Count.ToString(CultureInfo.InvariantCulture)));
        CheckArguments(c, index, stage, resolved);

        var encoder = stage.Get("Into") ?? c.SingleEncoder();
        if (encoder is null || !encoders.Any(e => e.Member == encoder))
        {
            c.broken.Add(index);
            return null;
        }
        if (!c.encoderTokens.TryGetValue(encoder, out var through))
        {
            // Declared before its encoder (or the encoder's sequence is unknown, which was reported).
            c.broken.Add(index);
            if (c.Spec.Stages.ToList().FindIndex(s => s.Member == encoder) > index)
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Member(index), stage.Member, $"its encoder '{encoder}'", $"'{encoder}' is declared after it; declare '{stage.Member}' after '{encoder}'");
            return null;
        }
        resolved.Add(new("Prefix", through.Prefix.ToString(CultureInfo.InvariantCulture)));
        if (encoders.First(e => e.Member == encoder).Get("Causal") == "true")
        {
            // The runtime refuses it too (Attention.ForwardTapped); MoD's top-k would read the future.
            c.broken.Add(index);
            c.Report(Descriptors.InsideCausalEncoder, DiagnosticTarget.Member(index), stage.Member, Verb, encoder);
            return null;
        }
        CheckTokens(c, index, stage, range, through, encoder);
        CheckSharedBlocks(c, index, stage, range, through, encoder);
        return Shape.Of(c.batch, Dim.Constant(through.After), Dim.Constant(width));
    }

    // At most one stage acts inside a block; deep prompts keep fixed places, which merging and pruning would move.
    private void CheckSharedBlocks(CompileContext c, int index, StageSpec stage, (int First, int Count) range, EncoderTokens through, string encoder)
    {
        var target = DiagnosticTarget.Attribute(index, stage.Get("Layers") is null ? null : "Layers");
        for (var other = 0; other < index; other++)
        {
            var earlier = c.Spec.Stages[other];
            if (c.broken.Contains(other) || (earlier.Get("Into") ?? c.SingleEncoder()) != encoder)
                continue;
            var definition = StageDefinitions.Of(earlier.Kind);
            if (earlier.Kind == StageKind.DeepPromptTokens && Shortens)
            {
                var prompts = c.LayerRange(other, earlier, report: false);
                if (prompts.First + prompts.Count - 1 >= range.First)
                {
                    c.Report(Descriptors.PromptsMovedInsideEncoder, target, stage.Member, Verb, encoder, range.First, earlier.Member,
                        BlockText(prompts));
                    return;
                }
                continue;
            }
            if (definition is not InsideBlockStage)
                continue;
            var otherRange = c.LayerRange(other, earlier, report: false);
            for (var block = 0; block < through.Entering.Length - 1; block++)
            {
                var tokens = through.Entering[block];
                if (InsideBlock(stage, range, block, tokens, through.Prefix) is null || definition.InsideBlock(earlier, otherRange, block, tokens, through.Prefix) is null)
                    continue;
                c.Report(Descriptors.HooksShareBlock, target, stage.Member, block, encoder, earlier.Member,
                    earlier.Kind == StageKind.TokenMerging && !IsIn(otherRange, block) ? " (merging acts in every block after its first, for its proportional attention)" : "");
                return;
            }
        }
    }

    protected static bool IsIn((int First, int Count) range, int block) => block >= range.First && block < range.First + range.Count;

    protected static string BlockText((int First, int Count) range) =>
        range.Count == 1 ? range.First.ToString(CultureInfo.InvariantCulture) : $"{range.First}..{range.First + range.Count - 1}";

    public override string HookExpression(GraphStage stage, GraphStage encoder) => Registered(stage);

    // What it changes in the blocks is in the encoder's row (its FLOPs against the plain ones).
    public override (long Flops, long Plain)? Flops(CompileContext c, GraphStage stage) => (0, 0);

    protected static string Flag(bool value) => value ? "true" : "false";
}

/// <summary><c>[TokenMerging]</c> (ToMe): <c>R</c> tokens merged per block of the range, without retraining.</summary>
internal sealed class TokenMergingStage() : InsideBlockStage(StageKind.TokenMerging, "TokenMerging", "global::ModelDsl.Blocks.TokenMerging")
{
    protected override bool Shortens => true;

    protected override string Verb => "merges tokens";

    private static int R(StageSpec stage) => ParseInt(stage.Get("R")) ?? 0;

    protected override void CheckArguments(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var r = R(stage);
        if (r < 0)
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "R"), stage.Member, "R", r.ToString(CultureInfo.InvariantCulture), "0 or more tokens merged per block");
            r = 0;
        }
        resolved.Add(new("R", r.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("ProportionalAttention", Flag(stage.Get("ProportionalAttention") != "false")));
    }

    public override BlockTokens? InsideBlock(StageSpec hook, (int First, int Count) range, int block, int tokens, int prefix)
    {
        var r = R(hook);
        // As the runtime's RunsBlock: its blocks, and with proportional attention every later block.
        if (r <= 0 || !(IsIn(range, block) || (block > range.First && hook.Get("ProportionalAttention") != "false")))
            return null;
        // After its range the blocks still run through it (log-size attention), on every token.
        var merged = IsIn(range, block) ? Math.Min(r, Math.Max(0, tokens - prefix) / 2) : 0;
        return new BlockTokens(tokens, tokens - merged, tokens - merged);
    }

    protected override void CheckTokens(CompileContext c, int index, StageSpec stage, (int First, int Count) range, EncoderTokens through, string encoder)
    {
        var r = R(stage);
        for (var block = range.First; block < range.First + range.Count && block < through.Entering.Length - 1; block++)
        {
            var tokens = through.Entering[block];
            var mergeable = Math.Max(0, tokens - through.Prefix);
            if (r <= mergeable / 2)
                continue;
            var fits = Enumerable.Range(0, r).Reverse().First(candidate => Fits(candidate, range, through.Entering[range.First], through.Prefix));
            c.Report(Descriptors.MergesMoreThanLeft, DiagnosticTarget.Attribute(index, "R"),
                System.Collections.Immutable.ImmutableDictionary<string, string?>.Empty.Add(ModelDiagnostic.FixValue, fits.ToString(CultureInfo.InvariantCulture)),
                stage.Member, r, block, tokens, mergeable, through.Prefix, mergeable / 2, fits);
            return;
        }
    }

    // Whether r merges fully in every block of the range, from the tokens entering its first block.
    private static bool Fits(int r, (int First, int Count) range, int tokens, int prefix)
    {
        for (var i = 0; i < range.Count; i++)
        {
            if (r > (tokens - prefix) / 2)
                return false;
            tokens -= r;
        }
        return true;
    }

    public override IEnumerable<StageMember> Members(GraphStage stage)
    {
        var proportional = stage.Bool("ProportionalAttention") ? "" : ", proportionalAttention: false";
        yield return new StageMember(Registered(stage), MemberType,
            $"new {Blocks}.TokenMerging(r: {stage.Int("R")}, firstLayer: {stage.Int("FirstLayer")}, layers: {stage.Int("LayerCount")}, prefixTokens: {stage.Int("Prefix")}{proportional})",
            MemberRole.Field);
    }
}

/// <summary><c>[TokenPruning]</c> (EViT): the tokens the class token attends to most are kept, the rest fused.</summary>
internal sealed class TokenPruningStage() : InsideBlockStage(StageKind.TokenPruning, "TokenPruning", "global::ModelDsl.Blocks.TokenPruning")
{
    protected override bool Shortens => true;

    protected override string Verb => "prunes tokens";

    private static double? KeepRate(StageSpec stage) => ParseDouble(stage.Get("KeepRate")) is { } rate && rate > 0 && rate <= 1 ? rate : null;

    private static bool Fuse(StageSpec stage) => stage.Get("Fuse") != "false";

    protected override void CheckArguments(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        if (KeepRate(stage) is not { } rate)
        {
            c.Report(Descriptors.KeepRateOutOfRange, DiagnosticTarget.Attribute(index, stage.Get("KeepRate") is null ? null : "KeepRate"),
                stage.Member, stage.Get("KeepRate") ?? "0 (not set)");
            rate = 1;
        }
        resolved.Add(new("KeepRate", Format(rate)));
        resolved.Add(new("Fuse", Flag(Fuse(stage))));
    }

    public override BlockTokens? InsideBlock(StageSpec hook, (int First, int Count) range, int block, int tokens, int prefix)
    {
        if (!IsIn(range, block) || KeepRate(hook) is not { } rate || prefix < 1)
            return null;
        var others = tokens - prefix;
        var kept = (int)Math.Ceiling(rate * others);
        var after = kept >= others ? tokens : prefix + kept + (Fuse(hook) ? 1 : 0);
        return new BlockTokens(tokens, after, after);
    }

    protected override void CheckTokens(CompileContext c, int index, StageSpec stage, (int First, int Count) range, EncoderTokens through, string encoder)
    {
        if (through.Prefix > 0)
            return;
        c.broken.Add(index);
        c.Report(Descriptors.PruningWithoutClassToken, DiagnosticTarget.Member(index), stage.Member, encoder);
    }

    public override IEnumerable<StageMember> Members(GraphStage stage)
    {
        var fuse = stage.Bool("Fuse") ? "" : ", fuse: false";
        yield return new StageMember(Registered(stage), MemberType,
            $"new {Blocks}.TokenPruning(keepRate: {Number(stage.Double("KeepRate"))}, firstLayer: {stage.Int("FirstLayer")}, layers: {stage.Int("LayerCount")}, prefixTokens: {stage.Int("Prefix")}{fuse})",
            MemberRole.Field);
    }
}

/// <summary><c>[DepthRouting]</c> (Mixture-of-Depths): a router per routed block sends the top tokens through it.</summary>
internal sealed class DepthRoutingStage() : InsideBlockStage(StageKind.DepthRouting, "DepthRouting", "global::ModelDsl.Blocks.DepthRouters")
{
    protected override bool Shortens => false;

    protected override string Verb => "routes tokens";

    private static double? Capacity(StageSpec stage) => ParseDouble(stage.Get("Capacity")) is { } capacity && capacity > 0 && capacity <= 1 ? capacity : null;

    private static int Every(StageSpec stage) => ParseInt(stage.Get("Every")) is > 0 and var every ? every : 1;

    /// <summary>Routed blocks in a range: its first, then every <c>Every</c>-th.</summary>
    private static int Routers((int First, int Count) range, int every) => (range.Count - 1) / every + 1;

    protected override void CheckArguments(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        if (Capacity(stage) is not { } capacity)
        {
            c.Report(Descriptors.CapacityOutOfRange, DiagnosticTarget.Attribute(index, stage.Get("Capacity") is null ? null : "Capacity"),
                stage.Member, stage.Get("Capacity") ?? "0 (not set)");
            capacity = 1;
        }
        resolved.Add(new("Capacity", Format(capacity)));
        if (stage.Get("Every") is not null)
            c.PositiveInt(index, stage, "Every", resolved, fallback: 1, "a positive step between routed blocks (2: alternate blocks)");
        else
            resolved.Add(new("Every", "1"));
    }

    public override BlockTokens? InsideBlock(StageSpec hook, (int First, int Count) range, int block, int tokens, int prefix)
    {
        if (!IsIn(range, block) || (block - range.First) % Every(hook) != 0 || Capacity(hook) is not { } capacity)
            return null;
        var others = tokens - prefix;
        var routed = prefix + Math.Min(others, Math.Max(1, (int)Math.Ceiling(capacity * others)));
        return new BlockTokens(routed, routed, tokens, Routed: tokens);
    }

    // The routers: Linear(D,1) on every token entering each routed block.
    public override (long Flops, long Plain)? Flops(CompileContext c, GraphStage stage)
    {
        if (!c.encoderTokens.TryGetValue(stage.Spec.Get("Into") ?? c.SingleEncoder() ?? "", out var through))
            return null;
        var range = (stage.Int("FirstLayer"), stage.Int("LayerCount"));
        long flops = 0;
        for (var block = range.Item1; block < range.Item1 + range.Item2 && block < through.Entering.Length - 1; block += stage.Int("Every"))
            flops = Saturating.Add(flops, MatMul(through.Entering[block], stage.Int("Dim")));
        return (flops, 0);
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        long d = stage.Int("Dim");
        layout.Repeat(Registered(stage), Count(stage), router =>
        {
            router.Tensor("weight", 1, d);
            router.Tensor("bias", 1);
        });
    }

    private static int Count(GraphStage stage) => Routers((stage.Int("FirstLayer"), stage.Int("LayerCount")), stage.Int("Every"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module(Registered(stage), MemberType, $"new {Blocks}.DepthRouters(dim: {stage.Int("Dim")}, count: {Count(stage)})")];

    public override string HookExpression(GraphStage stage, GraphStage encoder)
    {
        var every = stage.Int("Every") == 1 ? "" : $", every: {stage.Int("Every")}";
        return $"new {Blocks}.DepthRouting({Registered(stage)}, capacity: {Number(stage.Double("Capacity"))}, firstLayer: {stage.Int("FirstLayer")}, pinnedTokens: {stage.Int("Prefix")}{every})";
    }
}

public readonly partial record struct StageKind
{
    public static readonly StageKind TokenMerging = new(nameof(TokenMerging));
    public static readonly StageKind TokenPruning = new(nameof(TokenPruning));
    public static readonly StageKind DepthRouting = new(nameof(DepthRouting));
}
