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

/// <summary>
/// <c>[ClassifierHead]</c>: timm's <c>head</c> over the pooled sequence (CLS, average with <c>fc_norm</c>, or
/// attention pooling <c>attn_pool</c>), or, naming a <c>Task</c>, a linear head over that task's decoded token.
/// </summary>
internal sealed class ClassifierHeadStage() : StageDefinition(StageKind.ClassifierHead, "ClassifierHead", "global::ModelDsl.Blocks.ClassifierHead", "head")
{
    public override bool IsHead => true;

    public override string HeadOutput => "a classifier head's logits [B,C]";

    // The linear layer on the pooled features; attention pooling (Map) is not counted.
    public override (long Flops, long Plain)? Flops(CompileContext c, GraphStage stage)
    {
        if (!stage.Has("Pool") || stage.Text("Pool") == "Map" || !stage.Has("InFeatures") || !stage.Has("Classes"))
            return null;
        var flops = MatMul(stage.Int("InFeatures"), stage.Int("Classes"));
        return (flops, flops);
    }

    // A task head is registered under its member's name, since a model has several; a pooling head is timm's `head`.
    public override string RegisteredName(StageSpec stage) => IsNamedHead(stage) ? StageCatalog.SnakeCase(stage.Member) : TimmName;

    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => taskModel || IsNamedHead(stage) ? null : Kind;

    internal static bool IsTaskHead(StageSpec stage) => stage.Get("Task") is not null;

    /// <summary>A head that reads a named segment of the sequence rather than timm's pooling.</summary>
    internal static bool IsSegmentHead(StageSpec stage) => stage.Get("Reads") is not null && stage.Get("Task") is null;

    // Registered and output under its member's name, next to any other head.
    private static bool IsNamedHead(StageSpec stage) => IsTaskHead(stage) || IsSegmentHead(stage);

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        if (IsSegmentHead(stage))
            return SegmentHeads.Infer(c, index, stage, resolved, width =>
            {
                var count = c.PositiveInt(index, stage, "Classes", resolved, fallback: 1, "a positive number of classes");
                return (Shape.Of(c.batch, Dim.Constant(count)), $"Class logits of '{stage.Member}' over '{stage.Get("Reads")}'");
            });
        // In a model with task tokens every other head reads one; ReadTask reports one that names none.
        if (stage.Get("Task") is not null || c.taskTokensMember is not null)
            return TaskHeads.Infer(c, index, stage, resolved, (width, task) => ReadTaskClasses(c, index, stage, resolved, task));
        var width = c.Width(index, stage, resolved, "a token sequence [B,N,D]");
        var classes = c.PositiveInt(index, stage, "Classes", resolved, fallback: 1, "a positive number of classes");
        var pool = stage.Get("Pool") ?? "Cls";
        if (pool is not ("Cls" or "Avg" or "Map"))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Pool"), stage.Member, "Pool", pool, "Pool.Cls, Pool.Avg or Pool.Map");
            pool = "Cls";
        }
        resolved.Add(new("Pool", pool));
        resolved.Add(new("PrefixTokens", c.prefixTokens.ToString(CultureInfo.InvariantCulture)));
        // Average pooling is over the content: tokens placed after it are left out as the prefix tokens are.
        if (c.TokensAfterContent > 0 && c.sequence?[1].Value is long length)
            resolved.Add(new("ContentTokens", (length - c.prefixTokens - c.TokensAfterContent).ToString(CultureInfo.InvariantCulture)));
        long w = width;
        long pooledWidth = w;
        c.CheckReference(index, stage, "Also", StageKind.QueryTokens);
        if (stage.Get("Also") is { } also && c.Spec.Stages.Where((_, i) => !c.broken.Contains(i)).FirstOrDefault(s => s.Member == also && s.Kind == StageKind.QueryTokens) is { } queries)
        {
            pooledWidth += (long)(ParseInt(queries.Get("Count")) ?? 0) * c.LayerRange(index, queries, report: false).Count * w;
            resolved.Add(new("Also", also));
        }
        pooledWidth = c.DerivedSize(index, stage, "InFeatures", pooledWidth, resolved, "head input features");
        long parameters = pooledWidth * classes + classes;
        if (pool == "Cls" && !c.Spec.Stages.Any(s => s.Kind == StageKind.ClsToken))
            c.Report(Descriptors.ClsPoolingWithoutClsToken, stage.Get("Pool") is null ? DiagnosticTarget.Attribute(index) : DiagnosticTarget.Attribute(index, "Pool"), stage.Member);
        if (pool == "Avg")
            parameters += 2 * w;
        if (pool == "Map")
        {
            var encoder = c.Spec.Stages.FirstOrDefault(s => s.Kind == StageKind.TransformerEncoder);
            c.Heads(index, stage, "PoolHeads", resolved, width, ParseInt(encoder?.Get("Heads")) ?? 1);
            // timm's AttentionPoolLatent takes the model's mlp_ratio.
            var poolMlpRatio = ParseDouble(encoder?.Get("MlpRatio")) is > 0 and var ratio ? ratio : AttributeDefaults.MlpRatio;
            resolved.Add(new("PoolMlpRatio", Format(poolMlpRatio)));
            var hidden = (long)(w * poolMlpRatio);
            parameters += w + (w * w + w) + (w * 2 * w + 2 * w) + (w * w + w) + 2 * w + (w * hidden + hidden) + (hidden * w + w);
            c.noWeightDecay.Add("attn_pool.latent");
        }
        if (c.sequence is null)
            return null;
        c.headMember = stage.Member;
        c.logits = Shape.Of(c.batch, Dim.Constant(classes));
        c.heads[stage.Member] = new HeadInfo(stage.Kind, stage.Member, null, c.logits, "Logits");
        c.outputs.Add(new("Logits", c.logits.Text, $"Class logits of '{stage.Member}'"));
        c.outputs.Add(new("Pooled", Shape.Of(c.batch, Dim.Constant(pooledWidth)).Text, $"The pooled embedding ({pool} pooling) that '{stage.Member}' classifies"));
        var fromResampler = c.Spec.Stages.Any(s => s.Member == c.sequenceSource && s.Kind == StageKind.Resampler);
        c.outputs.Add(new("Tokens", c.sequence.Text, fromResampler
            ? $"The query tokens of '{c.sequenceSource}' that the head reads"
            : $"The token sequence of '{c.sequenceSource}', prefix tokens first"));
        return c.logits;
    }

    private static (Shape, string) ReadTaskClasses(CompileContext c, int index, StageSpec stage, List<Argument> resolved, string? task)
    {
        foreach (var pooling in new[] { "Pool", "Also", "PoolHeads" })
        {
            if (stage.Get(pooling) is { } value)
                c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, pooling), stage.Member, pooling, value,
                    $"no {pooling}: a task head reads its task token and does not pool");
        }
        var classes = c.PositiveInt(index, stage, "Classes", resolved, fallback: 1, "a positive number of classes");
        return (Shape.Of(c.batch, Dim.Constant(classes)), $"Class logits of task \"{task}\"{From(stage, task)}");
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        if (IsNamedHead(stage.Spec))
        {
            layout.Linear(Registered(stage), stage.Int("Dim"), stage.Int("Classes"));
            return;
        }
        long d = stage.Int("Dim");
        var pool = stage.Text("Pool");
        if (pool == "Avg")
            layout.LayerNorm("fc_norm", d);
        if (pool == "Map")
        {
            // timm's AttentionPoolLatent takes the model's mlp_ratio.
            var hidden = TransformerEncoderStage.Hidden(stage.Int("Dim"), stage.Double("PoolMlpRatio"));
            layout.Tensor("attn_pool.latent", 1, 1, d);
            layout.Linear("attn_pool.q", d, d);
            layout.Linear("attn_pool.kv", d, 2 * d);
            layout.Linear("attn_pool.proj", d, d);
            layout.LayerNorm("attn_pool.norm", d);
            layout.Linear("attn_pool.mlp.fc1", d, hidden);
            layout.Linear("attn_pool.mlp.fc2", hidden, d);
        }
        // It reads InFeatures, more than Dim when it also reads query tokens (VQT's Also).
        layout.Linear("head", stage.Int("InFeatures"), stage.Int("Classes"));
    }

    // The pooled classifier of the ViT slice; task, segment and named heads, and extra pooled query outputs, have none yet.
    public override IEnumerable<string>? PyTorchMembers(GraphStage stage)
    {
        if (IsNamedHead(stage.Spec) || IsTaskHead(stage.Spec) || IsSegmentHead(stage.Spec))
            return null;
        var members = new List<string>();
        if (stage.Text("Pool") == "Avg")
            members.Add($"self.fc_norm = nn.LayerNorm({stage.Int("Dim")}, eps=layers.NORM_EPS)");
        if (stage.Text("Pool") == "Map")
            members.Add($"self.attn_pool = layers.AttentionPoolLatent(dim={stage.Int("Dim")}, heads={stage.Int("PoolHeads")}, mlp_ratio={Number(stage.Double("PoolMlpRatio"))})");
        members.Add($"self.head = layers.LinearHead(dim={stage.Int("InFeatures")}, outputs={stage.Int("Classes")})");
        return members;
    }

    public override IEnumerable<StageMember> Members(GraphStage stage)
    {
        if (IsNamedHead(stage.Spec))
        {
            yield return Module(Registered(stage), $"{Blocks}.ClassifierHead", $"new {Blocks}.ClassifierHead(dim: {stage.Int("Dim")}, classes: {stage.Int("Classes")})");
            yield break;
        }
        if (stage.Text("Pool") == "Avg")
            yield return Module("fc_norm", "global::TorchSharp.Modules.LayerNorm", $"global::TorchSharp.torch.nn.LayerNorm({stage.Int("Dim")}, eps: 1e-6)");
        if (stage.Text("Pool") == "Map")
            yield return Module("attn_pool", $"{Blocks}.AttentionPool", $"new {Blocks}.AttentionPool(dim: {stage.Int("Dim")}, heads: {stage.Int("PoolHeads")}, mlpRatio: {Number(stage.Double("PoolMlpRatio"))})");
        yield return Module("head", $"{Blocks}.ClassifierHead", $"new {Blocks}.ClassifierHead(dim: {stage.Int("InFeatures")}, classes: {stage.Int("Classes")})");
    }

    public override IEnumerable<string> Reads(GraphStage stage) => IsTaskHead(stage.Spec) ? [stage.Text("Decoder")] : [];

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (!f.HasTokens)
            return;
        if (IsTaskHead(stage.Spec))
        {
            TaskHeads.WriteForward(f, stage);
            return;
        }
        if (IsSegmentHead(stage.Spec))
        {
            SegmentHeads.WriteForward(f, stage);
            return;
        }
        var pooledShape = f.Graph.Outputs.FirstOrDefault(o => o.Name == "Pooled")?.Shape ?? "?";
        var contentTokens = stage.Resolved.Any(a => a.Name == "ContentTokens");
        var (start, length) = (stage.Int("PrefixTokens"), contentTokens ? stage.Int("ContentTokens") : 0);
        f.Line(stage.Text("Pool") switch
        {
            "Avg" when contentTokens => $"var pooled = fc_norm.forward({Blocks}.Pooling.Mean(x, start: {start}, length: {length}));",
            "Avg" => $"var pooled = fc_norm.forward({Blocks}.Pooling.AveragePatches(x, prefixTokens: {start}));",
            "Map" => "var pooled = attn_pool.forward(x);",
            _ => $"var pooled = {Blocks}.Pooling.Cls(x);",
        }, $"[{f.Batch},{stage.Int("Dim")}]");
        f.Py(stage.Text("Pool") switch
        {
            "Avg" when contentTokens => $"pooled = self.fc_norm(x[:, {start}:{start + length}].mean(dim=1))",
            "Avg" => $"pooled = self.fc_norm(x[:, {start}:].mean(dim=1))",
            "Map" => "pooled = self.attn_pool(x)",
            _ => "pooled = x[:, 0]",
        }, $"[{f.Batch},{stage.Int("Dim")}]");
        if (stage.Resolved.Any(a => a.Name == "Also"))
        {
            f.Line($"pooled = global::TorchSharp.torch.cat([pooled, {QueryTokensStage.Outputs(stage.Text("Also"))}.flatten(1)], 1);", pooledShape);
            f.Py($"pooled = torch.cat([pooled, {QueryTokensStage.Outputs(stage.Text("Also"))}.flatten(1)], dim=1)", pooledShape);
        }
        f.Line("var logits = head.forward(pooled);", stage.Output);
        f.Py("logits = self.head(pooled)", stage.Output);
        f.Values["Logits"] = f.PythonValues["Logits"] = "logits";
        f.Values["Pooled"] = f.PythonValues["Pooled"] = "pooled";
    }
}

public readonly partial record struct StageKind
{
    public static readonly StageKind ClassifierHead = new(nameof(ClassifierHead));
}
