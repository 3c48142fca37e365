using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Emit;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using static ModelDsl.Generators.Emit.EmitText;
using static ModelDsl.Generators.FrontEnd.ModelCompiler;

namespace ModelDsl.Generators.Stages;

/// <summary>
/// <c>[TokenFormerEncoder]</c>: TokenFormer's blocks, every projection and MLP a Pattention over parameter tokens, registered
/// as <c>blocks</c> under the public code's names, and the final <c>norm</c> (left out under average pooling, as for
/// <c>[TransformerEncoder]</c>). <c>GrownFrom</c> declares a model grown from one with fewer tokens: the smaller model's
/// <c>sqrt(n)</c> is kept, so with zero new keys the grown model starts as the smaller one.
/// </summary>
internal sealed class TokenFormerEncoderStage() : StageDefinition(StageKind.TokenFormerEncoder, "TokenFormerEncoder", "global::ModelDsl.Blocks.TokenFormerEncoder", "blocks")
{
    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var width = c.Width(index, stage, resolved, "a token sequence [B,N,D]");
        c.PositiveInt(index, stage, "Depth", resolved, fallback: 1, "a positive number of blocks");
        c.Heads(index, stage, "Heads", resolved, width);
        var tokens = c.PositiveInt(index, stage, "Tokens", resolved, fallback: 1, "a positive number of parameter tokens per projection");
        var ffn = stage.Get("FfnTokens") is null ? 4 * tokens : c.PositiveInt(index, stage, "FfnTokens", [], fallback: 4 * tokens, "a positive number of parameter tokens per MLP");
        resolved.Add(new("FfnTokens", ffn.ToString(CultureInfo.InvariantCulture)));
        var grownFrom = ParseInt(stage.Get("GrownFrom")) ?? 0;
        var grownFromFfn = 0;
        if (stage.Get("GrownFrom") is not null)
        {
            if (grownFrom <= 0 || grownFrom > tokens || (long)ffn * grownFrom % tokens != 0)
            {
                c.Report(Descriptors.GrowsToFewerTokens, DiagnosticTarget.Attribute(index, "GrownFrom"), stage.Member, grownFrom, tokens, ffn,
                    grownFrom > tokens ? "growing to fewer tokens than the model it grows from"
                    : grownFrom <= 0 ? "a model grows from at least one token"
                    : $"the MLPs would grow from {ffn} * {grownFrom} / {tokens} tokens, which is not a whole number");
                grownFrom = 0;
            }
            else
                grownFromFfn = (int)((long)ffn * grownFrom / tokens);
        }
        resolved.Add(new("GrownFrom", grownFrom.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("GrownFromFfn", grownFromFfn.ToString(CultureInfo.InvariantCulture)));
        var avgPooled = c.Spec.Stages.Any(s => s.Kind == StageKind.ClassifierHead && s.Get("Pool") == "Avg" && s.Get("Reads") is null && s.Get("Task") is null);
        resolved.Add(new("FinalNorm", avgPooled ? "false" : "true"));
        if (c.layout.Count > 1)
            c.encodedLayout = c.LayoutText();
        if (c.sequence is not null)
            c.SetSequence(c.sequence, stage.Member);
        return c.sequence;
    }

    // Per block: four Pattentions of Tokens (q, k, v, proj) and one of FfnTokens on every token (n x (D + D) multiply-adds
    // each), and the attention's scores and weighted sum.
    public override (long Flops, long Plain)? Flops(CompileContext c, GraphStage stage)
    {
        if (c.sequence?[1].Value is not long tokens)
            return null;
        long d = stage.Int("Dim"), n = stage.Int("Tokens"), ffn = stage.Int("FfnTokens");
        var block = Saturating.Add(Saturating.Add(MatMul(4, tokens, n, 2 * d), MatMul(tokens, ffn, 2 * d)), MatMul(2, tokens, tokens, d));
        var flops = Saturating.Multiply(block, stage.Int("Depth"));
        return (flops, flops);
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        long d = stage.Int("Dim"), n = stage.Int("Tokens"), ffn = stage.Int("FfnTokens");
        layout.Repeat("blocks", stage.Int("Depth"), block =>
        {
            foreach (var part in new[] { "attention.query", "attention.key", "attention.value", "attention.proj" })
            {
                block.Tensor(part + ".key_param_tokens", n, d);
                block.Tensor(part + ".value_param_tokens", n, d);
            }
            block.Tensor("mlp.key_param_tokens", ffn, d);
            block.Tensor("mlp.value_param_tokens", ffn, d);
        });
        if (stage.Bool("FinalNorm"))
            layout.LayerNorm("norm", d);
    }

    public override IEnumerable<StageMember> Members(GraphStage stage)
    {
        var grown = stage.Int("GrownFrom") > 0 ? $", grownFromTokens: {stage.Int("GrownFrom")}, grownFromFfnTokens: {stage.Int("GrownFromFfn")}" : "";
        yield return Module("blocks", MemberType,
            $"new {Blocks}.TokenFormerEncoder(dim: {stage.Int("Dim")}, depth: {stage.Int("Depth")}, heads: {stage.Int("Heads")}, qkvTokens: {stage.Int("Tokens")}, projTokens: {stage.Int("Tokens")}, ffnTokens: {stage.Int("FfnTokens")}{grown})");
        if (stage.Bool("FinalNorm"))
            yield return Module("norm", "global::TorchSharp.Modules.LayerNorm", $"global::TorchSharp.torch.nn.LayerNorm({stage.Int("Dim")}, eps: 1e-6)");
    }

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (!f.HasTokens)
            return;
        f.Line("x = blocks.forward(x);", stage.Output);
        if (stage.Bool("FinalNorm"))
            f.Line("x = norm.forward(x);", stage.Output);
    }
}

public readonly partial record struct StageKind
{
    public static readonly StageKind TokenFormerEncoder = new(nameof(TokenFormerEncoder));
}
