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
        var mlpRatio = c.PositiveDouble(index, stage, "MlpRatio", resolved, fallback: AttributeDefaults.MlpRatio, "a positive MLP width ratio");
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
        // Whether every hook has a PyTorch twin is the encoder's own twin's condition (PyTorchMembers sees no other stage).
        resolved.Add(new("HooksHaveTwins", hooks.All(h => StageDefinitions.Of(h.Kind).HasPyTorchHook) ? "true" : "false"));
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

    /// <summary>
    /// Every block's attention (qkv, scores, weighted sum, proj) on the tokens it attends over and its MLP on the tokens
    /// it feeds, as the hooks acting inside the blocks say (<see cref="StageDefinition.InsideBlock"/>); query tokens add
    /// their own pass. Plain: every block on all the tokens entering the encoder.
    /// </summary>
    public override (long Flops, long Plain)? Flops(CompileContext c, GraphStage stage)
    {
        if (!c.encoderTokens.TryGetValue(stage.Member, out var through))
            return null;
        long d = stage.Int("Dim"), hidden = Hidden(stage.Int("Dim"), stage.Double("MlpRatio"));
        long Block(long attention, long mlp) => Saturating.Add(Saturating.Add(Saturating.Add(
            MatMul(attention, d, 3 * d), MatMul(2, attention, attention, d)), MatMul(attention, d, d)), MatMul(2, mlp, d, hidden));
        var hooks = stage.Text("Hooks").Split(',').Where(h => h.Length > 0)
            .Select(h => c.Spec.Stages.First(s => s.Member == h)).ToList();
        var indices = hooks.Select(h => c.Spec.Stages.ToList().IndexOf(h)).ToList();
        var depth = stage.Int("Depth");
        var traced = through.Entering.Length - 1;
        long flops = 0, plain = 0;
        for (var block = 0; block < traced; block++)
        {
            var tokens = through.Entering[block];
            long attention = tokens, mlp = tokens, queries = 0;
            for (var i = 0; i < hooks.Count; i++)
            {
                var range = c.LayerRange(indices[i], hooks[i], report: false);
                if (hooks[i].Kind == StageKind.QueryTokens && block >= range.First && block < range.First + range.Count)
                    queries = ParseInt(hooks[i].Get("Count")) ?? 0;
                else if (StageDefinitions.Of(hooks[i].Kind).InsideBlock(hooks[i], range, block, tokens, through.Prefix) is { } inside && attention == tokens && mlp == tokens)
                    (attention, mlp) = (inside.Attention, inside.Mlp);
            }
            // VQT's queries: their own q and the keys/values of the tokens, scores and sum over them, proj and MLP.
            var queryPass = queries == 0 ? 0 : Saturating.Add(Saturating.Add(Saturating.Add(
                MatMul(queries, d, 2 * d), MatMul(tokens, d, 2 * d)), MatMul(2, queries, tokens, d)), MatMul(2, queries, d, hidden));
            flops = Saturating.Add(flops, Saturating.Add(Block(attention, mlp), queryPass));
            plain = Saturating.Add(plain, Saturating.Add(Block(through.Entering[0], through.Entering[0]), queries == 0 ? 0 : queryPass));
        }
        // Blocks past the traced ones (an absurd depth) work on the tokens left.
        var rest = (long)depth - traced;
        if (rest > 0)
        {
            flops = Saturating.Add(flops, Saturating.Multiply(Block(through.After, through.After), rest));
            plain = Saturating.Add(plain, Saturating.Multiply(Block(through.Entering[0], through.Entering[0]), rest));
        }
        return (flops, plain);
    }

    // The runtime's hidden width: (int)(dim * mlpRatio), as EncoderBlock.HiddenFeatures computes it.
    internal static long Hidden(int dim, double mlpRatio) => (int)(dim * mlpRatio);

    public override IEnumerable<StageMember> Members(GraphStage stage)
    {
        yield return Module("blocks", MemberType, $"new {Blocks}.TransformerEncoder(dim: {stage.Int("Dim")}, depth: {stage.Int("Depth")}, heads: {stage.Int("Heads")}, mlpRatio: {Number(stage.Double("MlpRatio"))}{(stage.Bool("Causal") ? ", causal: true" : "")})");
        if (stage.Bool("FinalNorm"))
            yield return Module("norm", "global::TorchSharp.Modules.LayerNorm", $"global::TorchSharp.torch.nn.LayerNorm({stage.Int("Dim")}, eps: 1e-6)");
    }

    // A twin when every hook into it has one (deep prompts do; query tokens and the inside-block hooks not yet).
    public override IEnumerable<string>? PyTorchMembers(GraphStage stage) => !stage.Bool("HooksHaveTwins") ? null :
        new[] { $"self.blocks = layers.Encoder(dim={stage.Int("Dim")}, depth={stage.Int("Depth")}, heads={stage.Int("Heads")}, mlp_ratio={Number(stage.Double("MlpRatio"))}{(stage.Bool("Causal") ? ", causal=True" : "")})" }
            .Concat(stage.Bool("FinalNorm") ? [$"self.norm = nn.LayerNorm({stage.Int("Dim")}, eps=layers.NORM_EPS)"] : []);

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
        // Hooks with outputs are locals in the twin too, named as in C#.
        var pythonHooks = new List<string>();
        foreach (var hook in hooks)
        {
            var expression = StageDefinitions.Of(hook.Kind).PyTorchHookExpression(hook, stage) ?? "?";
            if (!StageDefinitions.Of(hook.Kind).HasHookOutputs)
            {
                pythonHooks.Add(expression);
                continue;
            }
            f.Py($"{Camel(hook.Member)}Hook = {expression}");
            pythonHooks.Add(Camel(hook.Member) + "Hook");
        }
        f.Py(pythonHooks.Count > 0 ? $"x = self.blocks(x, [{string.Join(", ", pythonHooks)}])" : "x = self.blocks(x)", stage.Output);
        foreach (var hook in hooks)
            StageDefinitions.Of(hook.Kind).AfterEncoder(f, hook);
        if (stage.Bool("FinalNorm"))
        {
            f.Line("x = norm.forward(x);", stage.Output);
            f.Py("x = self.norm(x)", stage.Output);
        }
    }
}

public readonly partial record struct StageKind
{
    public static readonly StageKind TransformerEncoder = new(nameof(TransformerEncoder));
}
