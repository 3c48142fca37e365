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

/// <summary><c>[TokenEmbedding]</c>: token ids <c>[R,T]</c> to vectors <c>[R,T,D]</c>, with its own position table (CLIP's text tower).</summary>
internal sealed class TokenEmbeddingStage() : StageDefinition(StageKind.TokenEmbedding, "TokenEmbedding", "global::ModelDsl.Blocks.TokenEmbedding", "token_embedding")
{
    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var vocab = c.PositiveInt(index, stage, "Vocab", resolved, fallback: 1, "a positive vocabulary size");
        var dim = c.PositiveInt(index, stage, "Dim", resolved, fallback: 1, "a positive embedding width");
        c.widthGuessed = ParseInt(stage.Get("Dim")) is not > 0;
        var maxLength = c.PositiveInt(index, stage, "MaxLength", resolved, fallback: 1, "a positive number of position rows");
        (c.tokenVocab, c.tokenTableLength) = (vocab, maxLength);
        long parameters = (long)vocab * dim + (long)maxLength * dim;
        var named = stage.Get("Input");
        var ids = named is null
            ? c.parsedInputs.Where(i => i.Shape.Rank == 2).ToList()
            : c.parsedInputs.Where(i => i.Name == named).ToList();
        if (ids.Count != 1)
        {
            c.upstreamBroken = true;
            if (named is not null && ids.Count == 0 && c.Spec.Forward is not null)
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index, "Input"), stage.Member, $"a forward input '{named}' of token ids [B,T]", "the forward method has no input of that name");
            else if (named is null && c.inputs.Count == c.parsedInputs.Count && c.Spec.Forward is not null)
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "one forward input of token ids [B,T]",
                    ids.Count == 0 ? "the forward method has none of rank 2" : $"it has {ids.Count} ({string.Join(", ", ids.Select(i => i.Name))}); name one with Input = \"...\"");
            resolved.Add(new("Input", ""));
            return null;
        }
        var input = ids[0];
        if (input.Shape.Rank != 2)
        {
            c.upstreamBroken = true;
            c.Report(Descriptors.InputRankMismatch, DiagnosticTarget.Attribute(index, "Input"), stage.Member, input.Name, "token ids [B,T]", input.Shape.Text);
            resolved.Add(new("Input", ""));
            return null;
        }
        resolved.Add(new("Input", input.Name));
        c.MarkRead(input.Name, "Int64");
        c.tokenInput = input.Name;
        c.textLength = input.Shape[1];
        if (c.textLength.Value is long length && length > maxLength)
            c.Report(Descriptors.TokenSequenceTooLong, DiagnosticTarget.Attribute(index, stage.Get("MaxLength") is null ? null : "MaxLength"), Fix(length),
                stage.Member, "MaxLength", maxLength, $"at least {length}", $"'{input.Name}' has {length} tokens ({input.Shape.Text})");
        c.SetSequence(Shape.Of(input.Shape[0], input.Shape[1], Dim.Constant(dim)), stage.Member);
        c.StartLayout(stage.Member, input.Shape[1]);
        return c.sequence;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        var name = Registered(stage);
        long d = stage.Int("Dim");
        layout.Tensor(name + ".weight", stage.Int("Vocab"), d);
        layout.Tensor(name + ".positions", stage.Int("MaxLength"), d);
    }

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module(Registered(stage), MemberType, $"new {Blocks}.TokenEmbedding(vocab: {stage.Int("Vocab")}, dim: {stage.Int("Dim")}, maxLength: {stage.Int("MaxLength")})")];

    // Token ids -> vectors, learned vocabulary vectors in place of theirs, prompts placed, then
    // positions over the whole sequence.
    public override void Forward(ForwardWriter f, GraphStage embedding)
    {
        if (f.HasTokens || embedding.Text("Input").Length == 0)
            return;
        f.HasTokens = true;
        f.Line($"var x = {Registered(embedding)}.forward({embedding.Text("Input")});", embedding.Output);
        var last = embedding;
        foreach (var vocabulary in f.Stages.Where(s => s.Kind == StageKind.VocabularyTokens && s.Bool("Placed")))
            f.Line($"x = {Registered(vocabulary)}.forward({embedding.Text("Input")}, x);", vocabulary.Output);
        foreach (var prompts in f.Stages.Where(s => s.Kind == StageKind.PromptTokens && s.Bool("Placed")))
        {
            f.Line($"x = {Registered(prompts)}.Insert(x, after: {prompts.Int("After")});", prompts.Output);
            last = prompts;
        }
        f.Line($"x = {Registered(embedding)}.AddPositions(x);", last.Output);
    }
}

/// <summary><c>[PromptTokens]</c> (CoOp, PRE, P-tuning): learnable context tokens placed into the token sequence, optionally reparameterised.</summary>
internal sealed class PromptTokensStage() : StageDefinition(StageKind.PromptTokens, "PromptTokens", "global::ModelDsl.Blocks.PromptTokens")
{
    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var source = c.sequenceSource is null ? null : c.Spec.Stages.First(s => s.Member == c.sequenceSource);
        var reparam = stage.Get("Reparameterize") ?? "None";
        if (reparam is not ("None" or "Mlp" or "BiLstm"))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Reparameterize"), stage.Member, "Reparameterize", reparam, "Reparam.None, Reparam.Mlp or Reparam.BiLstm");
            reparam = "None";
        }
        resolved.Add(new("Reparameterize", reparam));
        var residual = stage.Get("Residual") is { } written ? written == "true" : AttributeDefaults.PromptResidual;
        resolved.Add(new("Residual", residual ? "true" : "false"));
        var after = ParseInt(stage.Get("After")) ?? AttributeDefaults.PromptsAfter;
        if (source?.Kind != StageKind.TokenEmbedding)
        {
            if (!c.upstreamBroken)
                c.Report(Descriptors.PromptsNeedTokenSequence, DiagnosticTarget.Attribute(index), stage.Member,
                    source is null ? "nothing (no stage before it produces a sequence)" : $"the output {c.sequence?.Text} of '{source.Member}', a [{StageDefinitions.Of(source.Kind).ShortName}] stage");
            foreach (var (name, value) in new[] { ("Dim", "1"), ("Count", "1"), ("After", "0"), ("Classes", "0"), ("Hidden", "1"), ("Placed", "false") })
                resolved.Add(new(name, value));
            return c.sequence;
        }
        var width = c.Width(index, stage, resolved, "a token sequence [B,T,D]");
        var length = c.textLength!.Value;
        var room = length is long t ? c.tokenTableLength - t : (long?)null;
        var count = ParseInt(stage.Get("Count")) ?? 0;
        if (count < 1 || (room is { } r && count > r))
        {
            var embed = c.sequenceSource!;
            c.Report(Descriptors.TokenSequenceTooLong, DiagnosticTarget.Attribute(index, stage.Get("Count") is null ? null : "Count"), stage.Member, "Count",
                stage.Get("Count") is null ? "0 (not set)" : count.ToString(CultureInfo.InvariantCulture),
                room is { } most ? (most >= 1 ? $"1 to {most}" : "no prompts at all") : "a positive count",
                room is not null ? $"'{embed}' has MaxLength = {c.tokenTableLength} and '{c.tokenInput}' has {length} tokens" : "prompt tokens need a positive count");
            count = 1;
        }
        resolved.Add(new("Count", count.ToString(CultureInfo.InvariantCulture)));
        if (after < 0 || (length is long fixedLength && after > fixedLength))
        {
            c.Report(Descriptors.TokenSequenceTooLong, DiagnosticTarget.Attribute(index, "After"), stage.Member, "After", after,
                length is long l ? $"0 to {l}" : "0 or more", $"the prompts go between the tokens of '{c.tokenInput}' {c.sequence!.Text}");
            after = 1;
        }
        resolved.Add(new("After", after.ToString(CultureInfo.InvariantCulture)));

        var perClass = stage.Get("PerClass") == "true";
        var classes = ParseInt(stage.Get("Classes")) ?? 0;
        var rows = c.sequence![0];
        if (perClass)
        {
            if (rows.Value is long fixedRows && (classes == 0 || classes == fixedRows))
                classes = (int)fixedRows;
            else
            {
                c.Report(Descriptors.PerClassPromptCount, DiagnosticTarget.Attribute(index, stage.Get("Classes") is null ? null : "Classes"), Fix(rows.Value),
                    stage.Member, classes == 0 ? "0 (not set)" : classes.ToString(CultureInfo.InvariantCulture), rows.Text, $"'{c.tokenInput}' is {c.sequence.Text.Replace("," + width.ToString(CultureInfo.InvariantCulture) + "]", "]")}",
                    rows.Value?.ToString(CultureInfo.InvariantCulture) ?? $"the number of rows, with '{c.tokenInput}' declared with a fixed row count");
                classes = classes > 0 ? classes : 1;
            }
        }
        else
            classes = 0;
        resolved.Add(new("Classes", classes.ToString(CultureInfo.InvariantCulture)));
        var hidden = ParseInt(stage.Get("Hidden")) ?? 0;
        if (hidden < 0)
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Hidden"), stage.Member, "Hidden", hidden, "a positive encoder width, or 0 for the token width");
            hidden = 0;
        }
        hidden = hidden > 0 ? hidden : width;
        resolved.Add(new("Hidden", hidden.ToString(CultureInfo.InvariantCulture)));

        long d = width, h = hidden;
        long parameters = (classes > 0 ? classes : 1) * (long)count * d + reparam switch
        {
            "Mlp" => d * h + h + h * d + d,
            // Bidirectional LSTM (two biases per direction, as PyTorch) and the linear map of both directions back.
            "BiLstm" => 2 * (4 * h * d + 4 * h * h + 8 * h) + 2 * h * d + d,
            _ => 0,
        };
        resolved.Add(new("Placed", "true"));
        c.noWeightDecay.Add(RegisteredName(stage) + ".ctx");
        c.promptCount += count;
        c.SetSequence(c.sequence.With(1, c.sequence[1] + Dim.Constant(count)), stage.Member);
        c.GrowContent(count);
        return c.sequence;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        var name = Registered(stage);
        long d = stage.Int("Dim"), h = stage.Int("Hidden"), count = stage.Int("Count"), classes = stage.Int("Classes");
        layout.Tensor(name + ".ctx", classes > 0 ? [classes, count, d] : [count, d]);
        switch (stage.Text("Reparameterize"))
        {
            case "Mlp":
                layout.Linear(name + ".encoder.0", d, h);
                layout.Linear(name + ".encoder.2", h, d);
                break;
            case "BiLstm":
                // PyTorch's bidirectional LSTM (two biases per direction), then the linear map of both directions back.
                foreach (var direction in new[] { "", "_reverse" })
                {
                    layout.Tensor(name + ".encoder.lstm.weight_ih_l0" + direction, 4 * h, d);
                    layout.Tensor(name + ".encoder.lstm.weight_hh_l0" + direction, 4 * h, h);
                    layout.Tensor(name + ".encoder.lstm.bias_ih_l0" + direction, 4 * h);
                    layout.Tensor(name + ".encoder.lstm.bias_hh_l0" + direction, 4 * h);
                }
                layout.Linear(name + ".encoder.proj", 2 * h, d);
                break;
        }
        // Fold() writes the encoded prompts into ctx and drops the encoder: a saved file may lack it.
        layout.Foldable(name + ".encoder");
    }

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module(Registered(stage), MemberType, $"new {Blocks}.PromptTokens(count: {stage.Int("Count")}, dim: {stage.Int("Dim")}, classes: {stage.Int("Classes")}, reparameterize: global::ModelDsl.Reparam.{stage.Text("Reparameterize")}, hidden: {stage.Int("Hidden")}, residual: {Bool(stage.Bool("Residual"))})")];
}

/// <summary><c>[VocabularyTokens(First, Count)]</c> (CSP): learned vectors for a range of ids of the frozen embedding before it.</summary>
internal sealed class VocabularyTokensStage() : StageDefinition(StageKind.VocabularyTokens, "VocabularyTokens", "global::ModelDsl.Blocks.VocabularyTokens")
{
    // CSP: learned vectors for a range of ids of the embedding declared right before; the
    // sequence is unchanged. They go before any prompts, whose inserted rows have no ids.
    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var source = c.sequenceSource is null ? null : c.Spec.Stages.First(s => s.Member == c.sequenceSource);
        if (source?.Kind != StageKind.TokenEmbedding)
        {
            if (!c.upstreamBroken)
                c.Report(Descriptors.PromptsNeedTokenSequence, DiagnosticTarget.Attribute(index), stage.Member,
                    source is null ? "nothing (no stage before it produces a sequence)" : $"the output {c.sequence?.Text} of '{source.Member}', a [{StageDefinitions.Of(source.Kind).ShortName}] stage");
            foreach (var (name, value) in new[] { ("Dim", "1"), ("First", "0"), ("Count", "1"), ("Placed", "false") })
                resolved.Add(new(name, value));
            return c.sequence;
        }
        var width = c.Width(index, stage, resolved, "a token sequence [B,T,D]");
        var count = c.PositiveInt(index, stage, "Count", resolved, fallback: 1, "a positive number of learned ids");
        var first = ParseInt(stage.Get("First")) ?? 0;
        var last = c.tokenVocab - 1;
        if (first < 0 || first > last)
        {
            c.Report(Descriptors.VocabularyTokensOutOfRange, DiagnosticTarget.Attribute(index, "First"), stage.Member, first, first + (long)count - 1, source.Member, c.tokenVocab, last,
                $"First in 0..{last}");
            first = 0;
        }
        if (first + (long)count > c.tokenVocab)
        {
            c.Report(Descriptors.VocabularyTokensOutOfRange, DiagnosticTarget.Attribute(index, "Count"), Fix(c.tokenVocab - first),
                stage.Member, first, first + (long)count - 1, source.Member, c.tokenVocab, last,
                $"Count in 1..{c.tokenVocab - first}, so that First + Count <= {c.tokenVocab}");
            // Keeps the built model valid: the same range, cut at the last id.
            resolved.RemoveAll(a => a.Name == "Count");
            count = c.tokenVocab - first;
            resolved.Add(new("Count", count.ToString(CultureInfo.InvariantCulture)));
        }
        resolved.Add(new("First", first.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("Placed", "true"));
        c.noWeightDecay.Add(RegisteredName(stage) + ".weight");
        return c.sequence;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Tensor(Registered(stage) + ".weight", stage.Int("Count"), stage.Int("Dim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module(Registered(stage), MemberType, $"new {Blocks}.VocabularyTokens(first: {stage.Int("First")}, count: {stage.Int("Count")}, dim: {stage.Int("Dim")})")];
}

/// <summary><c>[FeatureProjection]</c>: one token per row (CLS, average or end token) projected to a shared feature width, <c>[R,E]</c>.</summary>
internal sealed class FeatureProjectionStage() : StageDefinition(StageKind.FeatureProjection, "FeatureProjection", "global::ModelDsl.Blocks.FeatureProjection")
{
    public override bool IsHeadPart => true;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var outDim = c.PositiveInt(index, stage, "Dim", resolved, fallback: 1, "a positive feature width");
        var pool = stage.Get("Pool") ?? "Cls";
        if (pool is not ("Cls" or "Avg" or "EndToken"))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Pool"), stage.Member, "Pool", pool, "FeaturePool.Cls, FeaturePool.Avg or FeaturePool.EndToken");
            pool = "Cls";
        }
        resolved.Add(new("Pool", pool));
        var endToken = ParseInt(stage.Get("EndToken")) ?? 0;
        resolved.Add(new("EndToken", endToken.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("Input", c.tokenInput ?? ""));
        resolved.Add(new("Offset", c.promptCount.ToString(CultureInfo.InvariantCulture)));
        var inDim = (int)(c.sequence?.Last.Value ?? 1);
        resolved.Add(new("InDim", inDim.ToString(CultureInfo.InvariantCulture)));
        long parameters = (long)inDim * outDim;
        if (c.sequence is null)
        {
            if (!c.upstreamBroken)
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "a token sequence [B,N,D]", "no stage before it produces one");
            return null;
        }
        string? problem = pool switch
        {
            "Cls" when !c.Spec.Stages.Take(index).Any(s => s.Kind == StageKind.ClsToken) =>
                "the model declares no [ClsToken] before it; add one, or pool with FeaturePool.Avg",
            "EndToken" when c.tokenInput is null =>
                $"its tokens come from '{c.sequenceSource}', not from a [TokenEmbedding] of token ids",
            "EndToken" when endToken < 0 || endToken >= c.tokenVocab =>
                $"EndToken = {endToken} is not an id of the vocabulary 0..{c.tokenVocab - 1}",
            _ => null,
        };
        if (problem is not null)
        {
            c.Report(Descriptors.FeaturePoolingSource, DiagnosticTarget.Attribute(index, pool == "EndToken" && c.tokenInput is not null ? "EndToken" : stage.Get("Pool") is null ? null : "Pool"),
                stage.Member, "FeaturePool." + pool, pool == "Cls" ? "a CLS token first in the sequence" : "token ids with an end token", problem);
            return null;
        }
        var features = Shape.Of(c.sequence[0], Dim.Constant(outDim));
        c.outputs.Add(new("Features", features.Text, $"The {pool} token of '{c.sequenceSource}' projected by '{stage.Member}'"));
        return features;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Tensor(Registered(stage) + ".weight", stage.Int("Dim"), stage.Int("InDim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module(Registered(stage), MemberType, $"new {Blocks}.FeatureProjection(dim: {stage.Int("InDim")}, outDim: {stage.Int("Dim")})")];

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (!f.HasTokens || stage.Output == "?")
            return;
        var rows = stage.Output.Trim('[', ']').Split(',')[0];
        var pooled = stage.Text("Pool") switch
        {
            "Avg" => "x.mean(new long[] { 1 })",
            "EndToken" => $"{Blocks}.FeatureProjection.AtEndToken(x, {stage.Text("Input")}, endToken: {stage.Int("EndToken")}, offset: {stage.Int("Offset")})",
            _ => "x.select(1, 0)",
        };
        f.Line($"var featureToken = {pooled};", $"[{rows},{stage.Int("InDim")}]");
        f.Line($"var features = {Registered(stage)}.forward(featureToken);", stage.Output);
        f.Values["Features"] = "features";
    }
}

public readonly partial record struct StageKind
{
    public static readonly StageKind TokenEmbedding = new(nameof(TokenEmbedding));
    public static readonly StageKind PromptTokens = new(nameof(PromptTokens));
    public static readonly StageKind VocabularyTokens = new(nameof(VocabularyTokens));
    public static readonly StageKind FeatureProjection = new(nameof(FeatureProjection));
}
