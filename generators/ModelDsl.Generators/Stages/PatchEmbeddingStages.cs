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
using static ModelDsl.Generators.FrontEnd.ModelCompiler.CompileContext;

namespace ModelDsl.Generators.Stages;

/// <summary><c>[PatchEmbedding]</c>: an image <c>[B,C,H,W]</c> cut into patches, each projected to a token (timm's <c>patch_embed</c>).</summary>
internal sealed class PatchEmbeddingStage() : StageDefinition(StageKind.PatchEmbedding, "PatchEmbedding", "global::ModelDsl.Blocks.PatchEmbedding", "patch_embed")
{
    public override bool IsSequenceStart(StageSpec stage) => true;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved) => InferPatches(c, index, stage, resolved);

    // The patch projection: each of the N patches (C x p x p pixels) to D.
    public override (long Flops, long Plain)? Flops(CompileContext c, GraphStage stage)
    {
        if (c.sequence?[1].Value is not long patches)
            return null;
        long patch = stage.Int("PatchSize"), flops = MatMul(patches, stage.Int("InChannels"), patch, patch, stage.Int("Dim"));
        return (flops, flops);
    }

    // Both kinds: the image input, the grid, and the patch tokens [B,N,D] (ChannelViT: one per channel and patch).
    internal static Shape? InferPatches(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var patch = c.PositiveInt(index, stage, "PatchSize", resolved, fallback: 1, "a positive patch size in pixels");
        var dim = c.PositiveInt(index, stage, "Dim", resolved, fallback: 1, "a positive embedding width");
        c.widthGuessed = ParseInt(stage.Get("Dim")) is not > 0;
        var named = stage.Get("Input");
        var image = named is null ? c.parsedInputs.FirstOrDefault(i => i.Shape.Rank == 4) : c.parsedInputs.FirstOrDefault(i => i.Name == named);
        if (named is not null && image.Shape is not null && image.Shape.Rank != 4)
        {
            c.Report(Descriptors.InputRankMismatch, DiagnosticTarget.Attribute(index, "Input"), stage.Member, image.Name, "an image [B,C,H,W]", image.Shape.Text);
            image = default;
        }
        else if (named is not null && image.Shape is null && c.inputs.All(i => i.Name != named))
            c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index, "Input"), stage.Member, $"a forward input '{named}' [B,C,H,W]", "the forward method has no input of that name");
        if (image.Shape is null)
        {
            c.upstreamBroken = true;
            if (named is null && c.parsedInputs.Count > 0)
                c.Report(Descriptors.InputRankMismatch, DiagnosticTarget.Attribute(index), stage.Member, c.parsedInputs[0].Name, "an image [B,C,H,W]", c.parsedInputs[0].Shape.Text);
            else if (named is null && c.Spec.Forward is { Inputs.Count: 0 } && c.inputs.Count == 0)
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "an image input [B,C,H,W]", "the forward method has no input");
            resolved.Add(new("InChannels", "1"));
            if (stage.Kind == StageKind.ChannelPatchEmbedding)
            {
                // The emitted constructor reads these too.
                Bool(stage, "SampleChannels", resolved);
                resolved.Add(new("PatchesPerChannel", "1"));
            }
            return null;
        }

        var (channels, height, width) = (image.Shape[1].Value, image.Shape[2], image.Shape[3]);
        if (channels is null)
            c.Report(Descriptors.InputRankMismatch, DiagnosticTarget.Attribute(index), stage.Member, image.Name, "an image [B,C,H,W] with a fixed channel count C", image.Shape.Text);
        if (!height.IsDivisibleBy(patch) || !width.IsDivisibleBy(patch))
        {
            var suggestion = CommonDivisorNear(height.Value, width.Value, patch);
            c.Report(Descriptors.ImageNotDivisibleByPatch, DiagnosticTarget.Attribute(index, "PatchSize"),
                Fix(suggestion == patch ? null : suggestion), stage.Member, patch, image.Name, height, width, image.Shape.Text, suggestion?.ToString(CultureInfo.InvariantCulture) ?? "a divisor of both");
        }
        var inChannels = (int)(channels ?? 1);
        resolved.Add(new("InChannels", inChannels.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("Input", image.Name));
        c.MarkRead(image.Name, "Float");
        c.patchTokens = height / Dim.Constant(patch) * (width / Dim.Constant(patch));
        c.imageGrid = (height, width, patch);
        c.channelPatches = stage.Kind == StageKind.ChannelPatchEmbedding;
        if (stage.Kind == StageKind.PatchEmbedding)
        {
            c.SetSequence(Shape.Of(c.batch, c.patchTokens, Dim.Constant(dim)), stage.Member);
            c.StartLayout(stage.Member, c.patchTokens);
            return c.sequence;
        }

        // ChannelViT: one shared single-channel projection, channel embeddings, positions shared across channels.
        if (ParseInt(stage.Get("Channels")) is > 0 and var declared && channels is long actual && declared != actual)
            c.Report(Descriptors.ChannelCountMismatch, DiagnosticTarget.Attribute(index, "Channels"), Fix(actual),
                stage.Member, declared, image.Name, actual, image.Shape.Text);
        Bool(stage, "SampleChannels", resolved);
        var perChannel = c.DerivedSize(index, stage, "PatchesPerChannel", c.patchTokens.Value ?? 1, resolved, "patches per channel");
        if (c.Spec.Stages.FirstOrDefault(s => s.Kind == StageKind.PositionEmbedding) is { } positions)
            c.Report(Descriptors.ConflictingStages, DiagnosticTarget.Member(c.Spec.Stages.ToList().IndexOf(positions)), positions.Member, stage.Member,
                $"'{stage.Member}' already adds a position table shared across its {inChannels} channels; remove '{positions.Member}'");
        c.patchTokens = Dim.Constant(inChannels) * c.patchTokens;
        c.SetSequence(Shape.Of(c.batch, c.patchTokens, Dim.Constant(dim)), stage.Member);
        c.StartLayout(stage.Member, c.patchTokens);
        return c.sequence;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        long d = stage.Int("Dim"), p = stage.Int("PatchSize");
        layout.Tensor("patch_embed.proj.weight", d, stage.Int("InChannels"), p, p);
        layout.Tensor("patch_embed.proj.bias", d);
    }

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module("patch_embed", MemberType, $"new {Blocks}.PatchEmbedding(inChannels: {stage.Int("InChannels")}, patchSize: {stage.Int("PatchSize")}, dim: {stage.Int("Dim")})")];

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (stage.Resolved.Any(a => a.Name == "Input"))
            WriteSequenceStart(f, $"patch_embed.forward({stage.Text("Input")})", stage.Output, $"self.patch_embed({stage.Text("Input")})");
    }

    // The content tokens, then timm's _pos_embed: [CLS | registers | content] whatever the declaration
    // order, positions added before the prefix tokens join (PatchesOnly) or after (PrefixAndPatches).
    internal static void WriteSequenceStart(ForwardWriter f, string content, string contentShape, string? pythonContent = null)
    {
        if (f.HasTokens)
            return;
        f.HasTokens = true;
        var positions = f.Stages.FirstOrDefault(s => s.Kind == StageKind.PositionEmbedding);
        var placed = f.Stages.Select(s => (Stage: s, Placed: StageDefinitions.Of(s.Kind).PlacedTokens(s.Spec))).Where(p => p.Placed is not null).ToList();
        var prefix = placed.Where(p => p.Placed!.Value.Place == Placement.Prefix).OrderBy(p => p.Placed!.Value.Rank).Select(p => p.Stage).ToList();
        var after = placed.Where(p => p.Placed!.Value.Place == Placement.AfterContent).Select(p => p.Stage).ToList();
        f.Line($"var x = {content};", contentShape);
        f.Py($"x = {pythonContent ?? "?"}", contentShape);
        if (positions?.Text("Covers") == "PatchesOnly")
            AddPositions(f, contentShape);
        if (prefix.Count > 0)
        {
            var shape = f.Stages.Last(prefix.Contains).Output;
            f.Line($"x = {Blocks}.Tokens.Prepend(x, {string.Join(", ", prefix.Select(p => StageDefinitions.Of(p.Kind).PlacedExpression(p)))});", shape);
            f.Py($"x = layers.prepend(x, [{string.Join(", ", prefix.Select(p => StageDefinitions.Of(p.Kind).PyTorchPlacedExpression(p)))}])", shape);
        }
        if (positions?.Text("Covers") == "PrefixAndPatches")
            AddPositions(f, positions.Output);
        if (after.Count > 0)
        {
            var shape = f.Stages.Last(after.Contains).Output;
            f.Line($"x = {Blocks}.Tokens.Append(x, {string.Join(", ", after.Select(p => StageDefinitions.Of(p.Kind).PlacedExpression(p)))});", shape);
            f.Py($"x = layers.append(x, [{string.Join(", ", after.Select(p => StageDefinitions.Of(p.Kind).PyTorchPlacedExpression(p)))}])", shape);
        }
        if (positions?.Text("Covers") == "All")
            AddPositions(f, positions.Output);
    }

    private static void AddPositions(ForwardWriter f, string shape)
    {
        f.Line("x = x + pos_embed;", shape);
        f.Py("x = x + self.pos_embed", shape);
    }

    public override IEnumerable<string>? PyTorchMembers(GraphStage stage) =>
        [$"self.patch_embed = layers.PatchEmbed(in_chans={stage.Int("InChannels")}, patch_size={stage.Int("PatchSize")}, dim={stage.Int("Dim")})"];
}

/// <summary><c>[ChannelPatchEmbedding]</c> (ChannelViT): one shared single-channel projection, a learned embedding per channel, positions shared across channels.</summary>
internal sealed class ChannelPatchEmbeddingStage() : StageDefinition(StageKind.ChannelPatchEmbedding, "ChannelPatchEmbedding", "global::ModelDsl.Blocks.ChannelPatchEmbedding", "patch_embed")
{
    public override bool IsSequenceStart(StageSpec stage) => true;

    // Both are the model's patch_embed.
    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => StageKind.PatchEmbedding;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved) => PatchEmbeddingStage.InferPatches(c, index, stage, resolved);

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        long d = stage.Int("Dim"), p = stage.Int("PatchSize");
        layout.Tensor("patch_embed.channel_embed", 1, stage.Int("InChannels"), d);
        layout.Tensor("patch_embed.pos_embed", 1, stage.Int("PatchesPerChannel"), d);
        layout.Tensor("patch_embed.proj.weight", d, 1, p, p);
        layout.Tensor("patch_embed.proj.bias", d);
    }

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module("patch_embed", MemberType, $"new {Blocks}.ChannelPatchEmbedding(channels: {stage.Int("InChannels")}, patchSize: {stage.Int("PatchSize")}, dim: {stage.Int("Dim")}, patchesPerChannel: {stage.Int("PatchesPerChannel")}, sampleChannels: {Bool(stage.Bool("SampleChannels"))})")];

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (stage.Resolved.Any(a => a.Name == "Input"))
            PatchEmbeddingStage.WriteSequenceStart(f, $"patch_embed.forward({stage.Text("Input")})", stage.Output);
    }
}

public readonly partial record struct StageKind
{
    public static readonly StageKind PatchEmbedding = new(nameof(PatchEmbedding));
    public static readonly StageKind ChannelPatchEmbedding = new(nameof(ChannelPatchEmbedding));
}
