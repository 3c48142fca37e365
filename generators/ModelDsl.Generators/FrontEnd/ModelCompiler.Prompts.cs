using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;

namespace ModelDsl.Generators.FrontEnd;

// Family 1, shallow prompts: token ids embedded with a fixed-length position table, learnable
// context tokens placed into that sequence, a projection of one token to a shared feature width,
// and CLIP's contrastive loss over square cosine logits.
public static partial class ModelCompiler
{
    private sealed partial class Run
    {
        // The token-id input the embedding reads, its length, the table length and the prompts placed so far.
        private string? tokenInput;
        private Dim? textLength;
        private int tokenTableLength;
        private int tokenVocab;
        private int promptCount;

        private (Shape?, long) TokenEmbedding(int index, StageSpec stage, List<Argument> resolved)
        {
            var vocab = PositiveInt(index, stage, "Vocab", resolved, fallback: 1, "a positive vocabulary size");
            var dim = PositiveInt(index, stage, "Dim", resolved, fallback: 1, "a positive embedding width");
            var maxLength = PositiveInt(index, stage, "MaxLength", resolved, fallback: 1, "a positive number of position rows");
            (tokenVocab, tokenTableLength) = (vocab, maxLength);
            long parameters = (long)vocab * dim + (long)maxLength * dim;
            var named = stage.Get("Input");
            var ids = named is null
                ? parsedInputs.Where(i => i.Shape.Rank == 2).ToList()
                : parsedInputs.Where(i => i.Name == named).ToList();
            if (ids.Count != 1)
            {
                upstreamBroken = true;
                if (named is not null && ids.Count == 0 && spec.Forward is not null)
                    Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index, "Input"), stage.Member, $"a forward input '{named}' of token ids [B,T]", "the forward method has no input of that name");
                else if (named is null && inputs.Count == parsedInputs.Count && spec.Forward is not null)
                    Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "one forward input of token ids [B,T]",
                        ids.Count == 0 ? "the forward method has none of rank 2" : $"it has {ids.Count} ({string.Join(", ", ids.Select(i => i.Name))}); name one with Input = \"...\"");
                resolved.Add(new("Input", ""));
                return (null, parameters);
            }
            var input = ids[0];
            if (input.Shape.Rank != 2)
            {
                upstreamBroken = true;
                Report(Descriptors.InputRankMismatch, DiagnosticTarget.Attribute(index, "Input"), stage.Member, input.Name, "token ids [B,T]", input.Shape.Text);
                resolved.Add(new("Input", ""));
                return (null, parameters);
            }
            resolved.Add(new("Input", input.Name));
            tokenInput = input.Name;
            textLength = input.Shape[1];
            if (textLength.Value is long length && length > maxLength)
                Report(Descriptors.TokenSequenceTooLong, DiagnosticTarget.Attribute(index, stage.Get("MaxLength") is null ? null : "MaxLength"), Fix(length),
                    stage.Member, "MaxLength", maxLength, $"at least {length}", $"'{input.Name}' has {length} tokens ({input.Shape.Text})");
            SetSequence(Shape.Of(input.Shape[0], input.Shape[1], Dim.Constant(dim)), stage.Member);
            return (sequence, parameters);
        }

        private (Shape?, long) PromptTokens(int index, StageSpec stage, List<Argument> resolved)
        {
            var source = sequenceSource is null ? null : spec.Stages.First(s => s.Member == sequenceSource);
            var reparam = stage.Get("Reparameterize") ?? "None";
            if (reparam is not ("None" or "Mlp" or "BiLstm"))
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Reparameterize"), stage.Member, "Reparameterize", reparam, "Reparam.None, Reparam.Mlp or Reparam.BiLstm");
                reparam = "None";
            }
            resolved.Add(new("Reparameterize", reparam));
            var residual = (stage.Get("Residual") ?? "true") == "true";
            resolved.Add(new("Residual", residual ? "true" : "false"));
            var after = ParseInt(stage.Get("After")) ?? 1;
            if (source?.Kind != StageKind.TokenEmbedding)
            {
                if (!upstreamBroken)
                    Report(Descriptors.PromptsNeedTokenSequence, DiagnosticTarget.Attribute(index), stage.Member,
                        source is null ? "nothing (no stage before it produces a sequence)" : $"the output {sequence?.Text} of '{source.Member}', a [{StageCatalog.Of(source.Kind).ShortName}] stage");
                foreach (var (name, value) in new[] { ("Dim", "1"), ("Count", "1"), ("After", "0"), ("Classes", "0"), ("Hidden", "1"), ("Placed", "false") })
                    resolved.Add(new(name, value));
                return (sequence, 0);
            }
            var width = Width(index, stage, resolved, "a token sequence [B,T,D]");
            var length = textLength!.Value;
            var room = length is long t ? tokenTableLength - t : (long?)null;
            var count = ParseInt(stage.Get("Count")) ?? 0;
            if (count < 1 || (room is { } r && count > r))
            {
                var embed = sequenceSource!;
                Report(Descriptors.TokenSequenceTooLong, DiagnosticTarget.Attribute(index, stage.Get("Count") is null ? null : "Count"), stage.Member, "Count",
                    stage.Get("Count") is null ? "0 (not set)" : count.ToString(CultureInfo.InvariantCulture),
                    room is { } most ? (most >= 1 ? $"1 to {most}" : "no prompts at all") : "a positive count",
                    room is not null ? $"'{embed}' has MaxLength = {tokenTableLength} and '{tokenInput}' has {length} tokens" : "prompt tokens need a positive count");
                count = 1;
            }
            resolved.Add(new("Count", count.ToString(CultureInfo.InvariantCulture)));
            if (after < 0 || (length is long fixedLength && after > fixedLength))
            {
                Report(Descriptors.TokenSequenceTooLong, DiagnosticTarget.Attribute(index, "After"), stage.Member, "After", after,
                    length is long l ? $"0 to {l}" : "0 or more", $"the prompts go between the tokens of '{tokenInput}' {sequence!.Text}");
                after = 1;
            }
            resolved.Add(new("After", after.ToString(CultureInfo.InvariantCulture)));

            var perClass = stage.Get("PerClass") == "true";
            var classes = ParseInt(stage.Get("Classes")) ?? 0;
            var rows = sequence![0];
            if (perClass)
            {
                if (rows.Value is long fixedRows && (classes == 0 || classes == fixedRows))
                    classes = (int)fixedRows;
                else
                {
                    Report(Descriptors.PerClassPromptCount, DiagnosticTarget.Attribute(index, stage.Get("Classes") is null ? null : "Classes"), Fix(rows.Value),
                        stage.Member, classes == 0 ? "0 (not set)" : classes.ToString(CultureInfo.InvariantCulture), rows.Text, $"'{tokenInput}' is {sequence.Text.Replace("," + width.ToString(CultureInfo.InvariantCulture) + "]", "]")}",
                        rows.Value?.ToString(CultureInfo.InvariantCulture) ?? $"the number of rows, with '{tokenInput}' declared with a fixed row count");
                    classes = classes > 0 ? classes : 1;
                }
            }
            else
                classes = 0;
            resolved.Add(new("Classes", classes.ToString(CultureInfo.InvariantCulture)));
            var hidden = ParseInt(stage.Get("Hidden")) ?? 0;
            if (hidden < 0)
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Hidden"), stage.Member, "Hidden", hidden, "a positive encoder width, or 0 for the token width");
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
            noWeightDecay.Add(StageCatalog.RegisteredName(stage.Kind, stage.Member) + ".ctx");
            promptCount += count;
            SetSequence(sequence.With(1, sequence[1] + Dim.Constant(count)), stage.Member);
            return (sequence, parameters);
        }

        // CSP: learned vectors for a range of ids of the embedding declared right before; the
        // sequence is unchanged. They go before any prompts, whose inserted rows have no ids.
        private (Shape?, long) VocabularyTokens(int index, StageSpec stage, List<Argument> resolved)
        {
            var source = sequenceSource is null ? null : spec.Stages.First(s => s.Member == sequenceSource);
            if (source?.Kind != StageKind.TokenEmbedding)
            {
                if (!upstreamBroken)
                    Report(Descriptors.PromptsNeedTokenSequence, DiagnosticTarget.Attribute(index), stage.Member,
                        source is null ? "nothing (no stage before it produces a sequence)" : $"the output {sequence?.Text} of '{source.Member}', a [{StageCatalog.Of(source.Kind).ShortName}] stage");
                foreach (var (name, value) in new[] { ("Dim", "1"), ("First", "0"), ("Count", "1"), ("Placed", "false") })
                    resolved.Add(new(name, value));
                return (sequence, 0);
            }
            var width = Width(index, stage, resolved, "a token sequence [B,T,D]");
            var count = PositiveInt(index, stage, "Count", resolved, fallback: 1, "a positive number of learned ids");
            var first = ParseInt(stage.Get("First")) ?? 0;
            var last = tokenVocab - 1;
            if (first < 0 || first > last)
            {
                Report(Descriptors.VocabularyTokensOutOfRange, DiagnosticTarget.Attribute(index, "First"), stage.Member, first, first + (long)count - 1, source.Member, tokenVocab, last,
                    $"First in 0..{last}");
                first = 0;
            }
            if (first + (long)count > tokenVocab)
            {
                Report(Descriptors.VocabularyTokensOutOfRange, DiagnosticTarget.Attribute(index, "Count"), Fix(tokenVocab - first),
                    stage.Member, first, first + (long)count - 1, source.Member, tokenVocab, last,
                    $"Count in 1..{tokenVocab - first}, so that First + Count <= {tokenVocab}");
                // Keeps the built model valid: the same range, cut at the last id.
                resolved.RemoveAll(a => a.Name == "Count");
                count = tokenVocab - first;
                resolved.Add(new("Count", count.ToString(CultureInfo.InvariantCulture)));
            }
            resolved.Add(new("First", first.ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("Placed", "true"));
            noWeightDecay.Add(StageCatalog.RegisteredName(stage.Kind, stage.Member) + ".weight");
            return (sequence, (long)count * width);
        }

        private (Shape?, long) FeatureProjection(int index, StageSpec stage, List<Argument> resolved)
        {
            var outDim = PositiveInt(index, stage, "Dim", resolved, fallback: 1, "a positive feature width");
            var pool = stage.Get("Pool") ?? "Cls";
            if (pool is not ("Cls" or "Avg" or "EndToken"))
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Pool"), stage.Member, "Pool", pool, "FeaturePool.Cls, FeaturePool.Avg or FeaturePool.EndToken");
                pool = "Cls";
            }
            resolved.Add(new("Pool", pool));
            var endToken = ParseInt(stage.Get("EndToken")) ?? 0;
            resolved.Add(new("EndToken", endToken.ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("Input", tokenInput ?? ""));
            resolved.Add(new("Offset", promptCount.ToString(CultureInfo.InvariantCulture)));
            var inDim = (int)(sequence?.Last.Value ?? 1);
            resolved.Add(new("InDim", inDim.ToString(CultureInfo.InvariantCulture)));
            long parameters = (long)inDim * outDim;
            if (sequence is null)
            {
                if (!upstreamBroken)
                    Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "a token sequence [B,N,D]", "no stage before it produces one");
                return (null, parameters);
            }
            string? problem = pool switch
            {
                "Cls" when !spec.Stages.Take(index).Any(s => s.Kind == StageKind.ClsToken) =>
                    "the model declares no [ClsToken] before it; add one, or pool with FeaturePool.Avg",
                "EndToken" when tokenInput is null =>
                    $"its tokens come from '{sequenceSource}', not from a [TokenEmbedding] of token ids",
                "EndToken" when endToken < 0 || endToken >= tokenVocab =>
                    $"EndToken = {endToken} is not an id of the vocabulary 0..{tokenVocab - 1}",
                _ => null,
            };
            if (problem is not null)
            {
                Report(Descriptors.FeaturePoolingSource, DiagnosticTarget.Attribute(index, pool == "EndToken" && tokenInput is not null ? "EndToken" : stage.Get("Pool") is null ? null : "Pool"),
                    stage.Member, "FeaturePool." + pool, pool == "Cls" ? "a CLS token first in the sequence" : "token ids with an end token", problem);
                return (null, parameters);
            }
            var features = Shape.Of(sequence[0], Dim.Constant(outDim));
            outputs.Add(new("Features", features.Text, $"The {pool} token of '{sequenceSource}' projected by '{stage.Member}'"));
            return (features, parameters);
        }

        private (Shape?, long) ContrastiveLoss(int index, StageSpec stage, List<Argument> resolved)
        {
            var weight = stage.Get("Weight") is { } w ? ParseDouble(w) ?? 1 : 1;
            if (!(weight > 0) || double.IsInfinity(weight))
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Weight"), stage.Member, "Weight", Format(weight), "a positive, finite loss weight");
                weight = 1;
            }
            resolved.Add(new("Weight", Format(weight)));
            var source = spec.Stages.Take(index).FirstOrDefault(s => s.Kind == StageKind.CosineLogits);
            if (logits is null || source is null)
            {
                if (source is null)
                    Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "[CosineLogits] [B,B]", "no [CosineLogits] stage comes before it");
                return (null, 0);
            }
            if (!logits[0].Equals(logits[1]))
            {
                Report(Descriptors.ContrastiveNeedsPairs, DiagnosticTarget.Attribute(index), stage.Member, source.Member, logits.Text, logits[0].Text, logits[1].Text);
                return (null, 0);
            }
            resolved.Add(new("Logits", source.Member));
            return (Shape.Of(), 0);
        }
    }
}
