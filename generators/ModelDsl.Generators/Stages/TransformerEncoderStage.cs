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

/// <summary><c>[TransformerEncoder]</c>: timm's pre-norm <c>blocks</c> and the final <c>norm</c> (left out under average pooling, as timm's <c>fc_norm</c> replaces it).</summary>
internal sealed class TransformerEncoderStage() : StageDefinition(StageKind.TransformerEncoder, "TransformerEncoder", "global::ModelDsl.Blocks.TransformerEncoder", "blocks")
{
    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var width = c.Width(index, stage, resolved, "a token sequence [B,N,D]");
        var depth = c.PositiveInt(index, stage, "Depth", resolved, fallback: 1, "a positive number of blocks");
        c.Heads(index, stage, "Heads", resolved, width);
        var mlpRatio = c.PositiveDouble(index, stage, "MlpRatio", resolved, fallback: 4.0, "a positive MLP width ratio");
        Bool(stage, "Causal", resolved);
        var hidden = (long)(width * mlpRatio);
        var avgPooled = c.Spec.Stages.Any(s => s.Kind == StageKind.ClassifierHead && s.Get("Pool") == "Avg");
        resolved.Add(new("FinalNorm", avgPooled ? "false" : "true"));
        var prompts = c.LayerTokensInto(stage, StageKind.DeepPromptTokens);
        if (prompts is not null && c.sequence is not null && ParseInt(prompts.Get("Count")) is > 0 and var promptCount)
        {
            resolved.Add(new("DeepPrompts", prompts.Member));
            resolved.Add(new("PromptOffset", c.prefixTokens.ToString(CultureInfo.InvariantCulture)));
            // Prompts sit with the prefix tokens, so average pooling leaves them out as VPT does.
            c.prefixTokens += promptCount;
            c.sequence = c.sequence.With(1, c.sequence[1] + Dim.Constant(promptCount));
        }
        if (c.LayerTokensInto(stage, StageKind.QueryTokens) is { } queries)
            resolved.Add(new("Queries", queries.Member));
        long w = width;
        var block = 2 * w + (w * 3 * w + 3 * w) + (w * w + w) + 2 * w + (w * hidden + hidden) + (hidden * w + w);
        if (c.sequence is not null)
            c.SetSequence(c.sequence, stage.Member);
        return c.sequence;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        long d = stage.Int("Dim"), hidden = Hidden(stage.Int("Dim"), stage.Double("MlpRatio"));
        layout.Repeat("blocks", stage.Int("Depth"), block =>
        {
            block.LayerNorm("norm1", d);
            block.Linear("attn.qkv", d, 3 * d);
            block.Linear("attn.proj", d, d);
            block.LayerNorm("norm2", d);
            block.Linear("mlp.fc1", d, hidden);
            block.Linear("mlp.fc2", hidden, d);
        });
        if (stage.Bool("FinalNorm"))
            layout.LayerNorm("norm", d);
    }

    // The runtime's hidden width: (int)(dim * mlpRatio), as EncoderBlock.HiddenFeatures computes it.
    internal static long Hidden(int dim, double mlpRatio) => (int)(dim * mlpRatio);

    public override IEnumerable<StageMember> Members(GraphStage stage)
    {
        yield return Module("blocks", MemberType, $"new {Blocks}.TransformerEncoder(dim: {stage.Int("Dim")}, depth: {stage.Int("Depth")}, heads: {stage.Int("Heads")}, mlpRatio: {Number(stage.Double("MlpRatio"))}{(stage.Bool("Causal") ? ", causal: true" : "")})");
        if (stage.Bool("FinalNorm"))
            yield return Module("norm", "global::TorchSharp.Modules.LayerNorm", $"global::TorchSharp.torch.nn.LayerNorm({stage.Int("Dim")}, eps: 1e-6)");
    }

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (!f.HasTokens)
            return;
        var prompts = stage.Resolved.Any(a => a.Name == "DeepPrompts")
            ? $"{Registered(f.Stage(stage.Text("DeepPrompts"), StageKind.DeepPromptTokens))}, promptOffset: {stage.Int("PromptOffset")}"
            : null;
        if (stage.Resolved.Any(a => a.Name == "Queries"))
        {
            var queries = f.Stage(stage.Text("Queries"), StageKind.QueryTokens);
            f.Line($"var encoded = blocks.ForwardWithQueries(x, {Registered(queries)}{(prompts is null ? "" : ", " + prompts)});");
            f.Line("x = encoded.Tokens;", stage.Output);
            f.Line("var queryOutputs = encoded.QueryOutputs;", $"[{f.Batch},{queries.Int("Depth")},{queries.Int("Count")},{queries.Int("Dim")}]");
        }
        else
            f.Line(prompts is null ? "x = blocks.forward(x);" : $"x = blocks.Forward(x, {prompts});", stage.Output);
        if (stage.Bool("FinalNorm"))
            f.Line("x = norm.forward(x);", stage.Output);
    }
}
