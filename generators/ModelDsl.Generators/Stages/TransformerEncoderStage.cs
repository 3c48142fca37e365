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
        var avgPooled = c.Spec.Stages.Any(s => s.Kind == StageKind.ClassifierHead && s.Get("Pool") == "Avg" && s.Get("Reads") is null && s.Get("Task") is null);
        resolved.Add(new("FinalNorm", avgPooled ? "false" : "true"));
        // Stages acting inside the blocks: deep prompts lengthen the sequence and sit with the prefix
        // tokens, so average pooling leaves them out as VPT does.
        var hooks = new List<StageSpec>();
        foreach (var hook in c.HooksInto(stage))
        {
            var definition = StageDefinitions.Of(hook.Kind);
            if (definition.AddsTokens)
            {
                // Prompts whose count is wrong were reported; the module is built without them.
                if (definition.TokensAdded(hook) is not (> 0 and var added) || c.sequence is null)
                    continue;
                resolved.Add(new("Offset." + hook.Member, c.prefixTokens.ToString(CultureInfo.InvariantCulture)));
                c.AddPrompts(hook.Member, added);
                c.prefixTokens += added;
                c.sequence = c.sequence.With(1, c.sequence[1] + Dim.Constant(added));
            }
            hooks.Add(hook);
        }
        resolved.Add(new("Hooks", string.Join(",", hooks.Select(h => h.Member))));
        if (c.layout.Count > 1)
            c.encodedLayout = c.LayoutText();
        // Merging and pruning inside the blocks shorten the sequence the encoder gives.
        c.RunTokensThrough(stage, depth, hooks);
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
        // Hooks whose results are read afterwards live in locals; the others are passed inline.
        var hooks = stage.Text("Hooks").Split(',').Where(h => h.Length > 0)
            // A hook found broken after the encoder was inferred (reported) is not built.
            .Select(h => f.Stages.FirstOrDefault(s => s.Member == h && !s.Broken && StageDefinitions.Of(s.Kind).IsEncoderHook))
            .OfType<GraphStage>().ToList();
        var arguments = new List<string>();
        foreach (var hook in hooks)
        {
            var definition = StageDefinitions.Of(hook.Kind);
            if (!definition.HasHookOutputs)
            {
                arguments.Add(definition.HookExpression(hook, stage));
                continue;
            }
            f.Line($"var {Camel(hook.Member)}Hook = {definition.HookExpression(hook, stage)};");
            arguments.Add(Camel(hook.Member) + "Hook");
        }
        f.Line(hooks.Count == 0 ? "x = blocks.forward(x);" : $"x = blocks.Forward(x, {string.Join(", ", arguments)});", stage.Output);
        foreach (var hook in hooks)
            StageDefinitions.Of(hook.Kind).AfterEncoder(f, hook);
        if (stage.Bool("FinalNorm"))
            f.Line("x = norm.forward(x);", stage.Output);
    }
}

public readonly partial record struct StageKind
{
    public static readonly StageKind TransformerEncoder = new(nameof(TransformerEncoder));
}
