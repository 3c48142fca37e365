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

/// <summary><c>[TaskTokens("A", "B", ...)]</c>: one learnable query token per task, <c>[1,T,D]</c>, decoded by a <c>[TaskDecoder]</c>.</summary>
internal sealed class TaskTokensStage() : StageDefinition(StageKind.TaskTokens, "TaskTokens", Parameter)
{
    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var width = c.Width(index, stage, resolved, "a token sequence [B,N,D]");
        var names = stage.GetList("Names");
        if (names.Count == 0)
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index), stage.Member, "Names", "(none)", "at least one task name, e.g. [TaskTokens(\"Category\", \"Angle\")]");
        for (var i = 0; i < names.Count; i++)
        {
            var argument = $"Names[{i.ToString(CultureInfo.InvariantCulture)}]";
            if (!IsTaskName(names[i]))
            {
                c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, argument), stage.Member, argument, $"\"{names[i]}\"",
                    "a task name that is an identifier (letters, digits, '_'), since metrics are logged under it");
                continue;
            }
            var first = names.FindIndex(n => IsTaskName(n) && StageCatalog.SnakeCase(n) == StageCatalog.SnakeCase(names[i]));
            if (first < i)
                c.Report(Descriptors.DuplicateTask, DiagnosticTarget.Attribute(index, argument), stage.Member, names[i], first, i,
                    names[first] == names[i] ? "" : $": \"{names[first]}\" and \"{names[i]}\" are both logged as '{StageCatalog.SnakeCase(names[i])}'");
        }
        var count = Math.Max(c.taskNames.Count, 1);
        resolved.Add(new("Count", count.ToString(CultureInfo.InvariantCulture)));
        c.noWeightDecay.Add(RegisteredName(stage));
        c.taskWidth = width;
        return Shape.Of(Dim.Constant(1), Dim.Constant(count), Dim.Constant(width));
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Own(Registered(stage), 1, stage.Int("Count"), stage.Int("Dim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [OwnParameter(Registered(stage), $"{Blocks}.Tokens.CreateQueries(count: {stage.Int("Count")}, dim: {stage.Int("Dim")})")];
}

/// <summary><c>[TaskDecoder]</c>: the task tokens attend to themselves and over a token sequence, <c>[B,T,D]</c>.</summary>
internal sealed class TaskDecoderStage() : StageDefinition(StageKind.TaskDecoder, "TaskDecoder", "global::ModelDsl.Blocks.TaskDecoder")
{
    public override bool IsHeadPart => true;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var (source, sourceName) = c.ReadOver(index, stage);
        var width = c.taskWidth ?? (int)(source?.Last.Value ?? 1);
        var sourceDim = (int)(source?.Last.Value ?? 1);
        resolved.Add(new("Dim", width.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("SourceDim", sourceDim.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("Source", source is null || sourceName == c.sequenceSource ? "" : sourceName!));
        var depth = c.PositiveInt(index, stage, "Depth", resolved, fallback: 1, "a positive number of decoder layers", attributeDefault: AttributeDefaults.DecoderDepth);
        c.Heads(index, stage, "Heads", resolved, width);
        var mlpRatio = c.PositiveDouble(index, stage, "MlpRatio", resolved, fallback: AttributeDefaults.MlpRatio, "a positive MLP width ratio");
        if (c.taskTokensMember is null || !c.outputsByMember.ContainsKey(c.taskTokensMember))
        {
            // The emitted forward pass passes the task tokens in, so without them the decoder is left out.
            c.broken.Add(index);
            if (!c.upstreamBroken)
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "task tokens [1,T,D] to decode",
                    c.taskTokensMember is null ? "the model declares no [TaskTokens] stage" : $"'{c.taskTokensMember}' is declared after it");
            return null;
        }
        resolved.Add(new("Tokens", c.taskTokensMember));
        if (source is null)
        {
            c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "a token sequence [B,N,D] to read", "no stage before it produces one");
            return null;
        }
        long d = width, s = sourceDim, hidden = (long)(width * mlpRatio);
        var selfAttention = 2 * d + (d * 3 * d + 3 * d) + (d * d + d);
        var crossAttention = 2 * d + 2 * s + (d * d + d) + (s * 2 * d + 2 * d) + (d * d + d) + 2 * d + (d * hidden + hidden) + (hidden * d + d);
        c.prefixTokens = 0;
        c.SetSequence(Shape.Of(c.batch, Dim.Constant(c.taskNames.Count == 0 ? 1 : c.taskNames.Count), Dim.Constant(width)), stage.Member);
        c.StartLayout(stage.Member, c.sequence![1]);
        c.decoderMember = stage.Member;
        c.decoded = c.sequence;
        return c.sequence;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        var name = Registered(stage);
        long d = stage.Int("Dim"), source = stage.Int("SourceDim"), hidden = TransformerEncoderStage.Hidden(stage.Int("Dim"), stage.Double("MlpRatio"));
        layout.Repeat(name + ".layers", stage.Int("Depth"), layer =>
        {
            layer.LayerNorm("norm1", d);
            layer.Linear("attn.qkv", d, 3 * d);
            layer.Linear("attn.proj", d, d);
            layer.CrossAttentionBlock("cross", d, source, hidden);
        });
        layout.LayerNorm(name + ".norm", d);
    }

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module(Registered(stage), MemberType, $"new {Blocks}.TaskDecoder(dim: {stage.Int("Dim")}, sourceDim: {stage.Int("SourceDim")}, depth: {stage.Int("Depth")}, heads: {stage.Int("Heads")}, mlpRatio: {Number(stage.Double("MlpRatio"))})")];

    public override IEnumerable<string> Reads(GraphStage stage) => [stage.Text("Source")];

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (!f.HasTokens)
            return;
        var read = stage.Text("Source");
        var tokens = Registered(f.Stage(stage.Text("Tokens"), StageKind.TaskTokens));
        f.Line($"x = {Registered(stage)}.forward({tokens}, {(read.Length == 0 ? "x" : Camel(read) + "Output")});", stage.Output);
        // Task heads read it by name (the emitter keeps it in a local); it is an output of the model.
        if (!f.Kept.Contains(stage.Member))
            return;
        f.Values[stage.Member] = Camel(stage.Member) + "Output";
        // Each task's token in a local of its name, so the heads read `angleToken`, not an index.
        var tasks = f.Stages.Where(s => s.Resolved.Any(a => a.Name == "Decoder") && s.Text("Decoder") == stage.Member)
            .Select(s => (Task: s.Text("Task"), Index: s.Int("TaskIndex"))).Distinct().OrderBy(t => t.Index);
        foreach (var (task, taskIndex) in tasks)
            f.Line($"var {TaskHeads.TokenLocal(task)} = x.select(1, {taskIndex.ToString(CultureInfo.InvariantCulture)});", $"[{f.Batch},{stage.Int("Dim")}]");
    }
}

/// <summary><c>[RegressionHead(Task = ...)]</c>: a linear head over a task's decoded token, <c>[B,O]</c>.</summary>
internal sealed class RegressionHeadStage() : StageDefinition(StageKind.RegressionHead, "RegressionHead", "global::ModelDsl.Blocks.RegressionHead")
{
    public override bool IsHead => true;

    public override string HeadOutput => "a regression head's outputs [B,O]";

    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved) =>
        stage.Get("Reads") is not null && stage.Get("Task") is null
            ? SegmentHeads.Infer(c, index, stage, resolved, width =>
            {
                var outputs = c.PositiveInt(index, stage, "Outputs", resolved, fallback: 1, "a positive number of outputs", attributeDefault: AttributeDefaults.RegressionOutputs);
                return (Shape.Of(c.batch, Dim.Constant(outputs)), $"Outputs of '{stage.Member}' over '{stage.Get("Reads")}'");
            })
            : TaskHeads.Infer(c, index, stage, resolved, (width, task) =>
        {
            var outputs = c.PositiveInt(index, stage, "Outputs", resolved, fallback: 1, "a positive number of outputs", attributeDefault: AttributeDefaults.RegressionOutputs);
            return (Shape.Of(c.batch, Dim.Constant(outputs)), $"Outputs of task \"{task}\"{From(stage, task)}");
        });

    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Linear(Registered(stage), stage.Int("Dim"), stage.Int("Outputs"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module(Registered(stage), MemberType, $"new {Blocks}.RegressionHead(dim: {stage.Int("Dim")}, outputs: {stage.Int("Outputs")})")];

    public override IEnumerable<string> Reads(GraphStage stage) => stage.Resolved.Any(a => a.Name == "Decoder") ? [stage.Text("Decoder")] : [];

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (!f.HasTokens)
            return;
        if (stage.Resolved.Any(a => a.Name == "SegmentStart"))
            SegmentHeads.WriteForward(f, stage);
        else
            TaskHeads.WriteForward(f, stage);
    }
}

/// <summary><c>[MaskHead(Task = ...)]</c>: per-pixel logits from a task token and an encoder's patch tokens, <c>[B,1,H,W]</c>.</summary>
internal sealed class MaskHeadStage() : StageDefinition(StageKind.MaskHead, "MaskHead", "global::ModelDsl.Blocks.MaskHead")
{
    public override bool IsHead => true;

    public override string HeadOutput => "a mask head's logits [B,1,H,W]";

    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved) =>
        TaskHeads.Infer(c, index, stage, resolved, (width, task) => (ReadMask(c, index, stage, resolved, width), $"Mask logits of task \"{task}\"{From(stage, task)}, one per pixel"));

    // A mask head: per-patch features of an encoder and the image grid they came from.
    internal static Shape ReadMask(CompileContext c, int index, StageSpec stage, List<Argument> resolved, int width)
    {
        var encoders = c.Spec.Stages.Where(s => s.Kind == StageKind.TransformerEncoder).ToList();
        if (stage.Get("Over") is null && encoders.Count != 1)
            c.Report(Descriptors.BadReference, DiagnosticTarget.Attribute(index), stage.Member, "Over", "", "is not set", "TransformerEncoder",
                encoders.Count == 0 ? " (the model has none)" : "; set Over = nameof(...)");
        c.CheckReference(index, stage, "Over", StageKind.TransformerEncoder);
        var over = stage.Get("Over") ?? c.SingleEncoder();
        Shape? source = null;
        if (over is not null && c.Spec.Stages.Any(s => s.Member == over && s.Kind == StageKind.TransformerEncoder))
        {
            if (!c.outputsByMember.TryGetValue(over, out source) && !c.upstreamBroken)
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index, stage.Get("Over") is null ? null : "Over"), stage.Member, $"the output of '{over}'", $"'{over}' is declared after it");
        }
        var patchStage = c.Spec.Stages.FirstOrDefault(s => s.Kind == StageKind.PatchEmbedding || s.Kind == StageKind.ChannelPatchEmbedding);
        if (c.channelPatches && patchStage is not null)
        {
            c.Report(Descriptors.ConflictingStages, DiagnosticTarget.Member(index), stage.Member, patchStage.Member,
                $"a mask head needs one token per image patch, and '{patchStage.Member}' makes one per channel and patch");
            source = null;
        }
        if (c.TokensAfterContent > 0 && c.layout.LastOrDefault() is { } trailing)
        {
            c.Report(Descriptors.ConflictingStages, DiagnosticTarget.Member(index), stage.Member, trailing.Name,
                $"a mask head reads the patch tokens as the image grid, and '{trailing.Name}' places tokens after them; place them with Place.Prefix");
            source = null;
        }
        var (height, gridWidth, patch) = c.imageGrid ?? (Dim.Constant(1), Dim.Constant(1), 1);
        if (c.imageGrid is not null && (height.Value is null || gridWidth.Value is null))
        {
            var image = c.parsedInputs.First(i => i.Shape.Rank == 4);
            c.Report(Descriptors.InputRankMismatch, DiagnosticTarget.Attribute(index), stage.Member, image.Name, "an image [B,C,H,W] with a fixed height and width", image.Shape.Text);
            source = null;
        }
        var (h, wd) = ((int)(height.Value ?? 1), (int)(gridWidth.Value ?? 1));
        var sourceDim = (int)(source?.Last.Value ?? 1);
        var pixelDim = c.PositiveInt(index, stage, "PixelDim", resolved, fallback: AttributeDefaults.MaskPixelDim, "a positive pixel embedding width", attributeDefault: AttributeDefaults.MaskPixelDim);
        resolved.Add(new("Source", source is null ? "" : over!));
        resolved.Add(new("SourceDim", sourceDim.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("PatchSize", patch.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("GridHeight", Math.Max(h / patch, 1).ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("GridWidth", Math.Max(wd / patch, 1).ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("PrefixTokens", (over is not null && c.prefixByMember.TryGetValue(over, out var prefix) ? prefix : 0).ToString(CultureInfo.InvariantCulture)));
        if (source is null)
            c.broken.Add(index);
        long d = width, s = sourceDim, e = pixelDim, pp = (long)patch * patch;
        return Shape.Of(c.batch, Dim.Constant(1), Dim.Constant(h), Dim.Constant(wd));
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        var name = Registered(stage);
        long pixelDim = stage.Int("PixelDim"), patch = stage.Int("PatchSize");
        layout.Linear(name + ".pixels", stage.Int("SourceDim"), patch * patch * pixelDim);
        layout.Linear(name + ".query", stage.Int("Dim"), pixelDim);
    }

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module(Registered(stage), MemberType, $"new {Blocks}.MaskHead(dim: {stage.Int("Dim")}, sourceDim: {stage.Int("SourceDim")}, pixelDim: {stage.Int("PixelDim")}, patchSize: {stage.Int("PatchSize")}, gridHeight: {stage.Int("GridHeight")}, gridWidth: {stage.Int("GridWidth")}, prefixTokens: {stage.Int("PrefixTokens")})")];

    public override IEnumerable<string> Reads(GraphStage stage) => [stage.Text("Source"), stage.Text("Decoder")];

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (!f.HasTokens)
            return;
        f.Line($"var {Camel(stage.Member)}Output = {Registered(stage)}.forward({TaskHeads.TaskToken(stage)}, {Camel(stage.Text("Source"))}Output);", stage.Output);
        f.Values[stage.Member] = Camel(stage.Member) + "Output";
    }
}

/// <summary>What every head that reads a task token shares: the task it names, the decoder's width, its output.</summary>
internal static class TaskHeads
{
    /// <param name="read">The kind's own arguments, given the token width and the task: the output shape and its description.</param>
    // Heads that read a task token: a classifier head naming a Task, a regression head, a mask head.
    internal static Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved, System.Func<int, string?, (Shape Output, string Description)> read)
    {
        var task = c.ReadTask(index, stage, resolved);
        var width = c.taskWidth ?? 1;
        var declared = ParseInt(stage.Get("Dim"));
        if (declared is not null && declared != 0 && declared != width && c.decoded is not null)
            c.Report(Descriptors.WidthMismatch, DiagnosticTarget.Attribute(index, "Dim"), Fix(width), stage.Member, declared.Value, c.decoderMember!, width, c.decoded.Text);
        resolved.Add(new("Dim", width.ToString(CultureInfo.InvariantCulture)));
        var (output, description) = read(width, task);
        if (task is null)
        {
            c.broken.Add(index);
            return null;
        }
        if (c.decoded is null)
        {
            // The head reads the decoder's output in the emitted forward pass.
            c.broken.Add(index);
            if (!c.upstreamBroken)
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "the decoded task tokens [B,T,D]",
                    c.decoderMember is null && c.Spec.Stages.Any(s => s.Kind == StageKind.TaskDecoder)
                        ? "the [TaskDecoder] stage is declared after it"
                        : "no [TaskDecoder] stage comes before it");
            return null;
        }
        if (c.broken.Contains(index))
            return null;
        resolved.Add(new("Decoder", c.decoderMember!));
        c.heads[stage.Member] = new HeadInfo(stage.Kind, stage.Member, task, output, stage.Member);
        c.outputs.Add(new(stage.Member, output.Text, description));
        return output;
    }

    // The decoded token of a task head's task: [B,D], unbound into a local by the decoder.
    internal static string TaskToken(GraphStage stage) => TokenLocal(stage.Text("Task"));

    internal static string TokenLocal(string task) => Camel(task) + "Token";

    internal static void WriteForward(ForwardWriter f, GraphStage stage)
    {
        f.Line($"var {Camel(stage.Member)}Output = {Registered(stage)}.forward({TaskToken(stage)});", stage.Output);
        f.Values[stage.Member] = Camel(stage.Member) + "Output";
    }
}

public readonly partial record struct StageKind
{
    public static readonly StageKind TaskTokens = new(nameof(TaskTokens));
    public static readonly StageKind TaskDecoder = new(nameof(TaskDecoder));
    public static readonly StageKind RegressionHead = new(nameof(RegressionHead));
    public static readonly StageKind MaskHead = new(nameof(MaskHead));
}
