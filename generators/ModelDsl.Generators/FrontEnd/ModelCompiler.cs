using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;

namespace ModelDsl.Generators.FrontEnd;

/// <summary>
/// Infers the shape of every stage of a declaration, in declaration order, and reports what does
/// not fit. The generator emits from the graph; the analyzers report the diagnostics. Best effort:
/// a broken stage gets its defaults so the rest is still checked and the emitted code compiles.
/// </summary>
public static partial class ModelCompiler
{
    public static (ModelGraph Graph, ImmutableArray<ModelDiagnostic> Diagnostics) Compile(ModelSpec spec) =>
        Compile(spec, EquatableArray<ModelSpec>.Empty);

    /// <param name="towers">The specs of the [Model] classes the model reaches through its towers (see <see cref="TowerLibrary"/>).</param>
    public static (ModelGraph Graph, ImmutableArray<ModelDiagnostic> Diagnostics) Compile(ModelSpec spec, EquatableArray<ModelSpec> towers) =>
        Compile(spec, towers, []);

    private static (ModelGraph Graph, ImmutableArray<ModelDiagnostic> Diagnostics) Compile(ModelSpec spec, EquatableArray<ModelSpec> towers, ImmutableArray<string> path)
    {
        var run = new Run(spec) { Towers = towers, Path = path.Add(spec.TypeName) };
        run.Execute();
        return (run.ToGraph(), run.Diagnostics.ToImmutable());
    }

    private sealed partial class Run(ModelSpec spec)
    {
        private ModelSpec Spec => spec;

        public readonly ImmutableArray<ModelDiagnostic>.Builder Diagnostics = ImmutableArray.CreateBuilder<ModelDiagnostic>();
        private readonly List<GraphInput> inputs = [];
        private readonly List<(string Name, Shape Shape)> parsedInputs = [];
        private readonly List<GraphStage> stages = [];
        private readonly List<GraphValue> outputs = [];
        private readonly List<GraphValue> targets = [];
        private readonly List<string> noWeightDecay = [];
        // Stages whose declaration cannot be built (wrong member type, a duplicate, an unusable
        // custom type): reported, then left out of the module so the rest still compiles.
        private readonly HashSet<int> broken = [];

        // The token sequence [B,N,D] flowing through the stages, and who produced it last.
        private Shape? sequence;
        private string? sequenceSource;
        private Dim batch = Dim.Symbol("B");
        private Dim patchTokens = Dim.Constant(0);
        private int prefixTokens;
        private string? headMember;
        private Shape? logits;
        // Set when an earlier error (an input shape, the forward method, the embedding) leaves the
        // sequence unknown: later stages then stay silent instead of reporting consequences.
        private bool upstreamBroken;
        private readonly Dictionary<string, Shape> outputsByMember = [];

        public void Execute()
        {
            if (!spec.IsPartial)
                Report(Descriptors.ModelNotPartial, DiagnosticTarget.Class, spec.ClassName);
            ReadForward();
            CheckStageMembers();
            for (var i = 0; i < spec.Stages.Count; i++)
                stages.Add(Infer(i, spec.Stages[i]));
            if (stages.Count > 0 && stages.Any(s => s.Parameters > 0) && stages.All(s => s.Frozen || s.Parameters == 0))
                Report(Descriptors.NothingToTrain, DiagnosticTarget.Class, spec.ClassName);
        }

        public ModelGraph ToGraph() => new(
            spec,
            inputs.ToEquatableArray(),
            stages.ToEquatableArray(),
            outputs.ToEquatableArray(),
            targets.ToEquatableArray(),
            noWeightDecay.ToEquatableArray(),
            prefixTokens);

        private void ReadForward()
        {
            if (spec.Forward is not { } forward)
            {
                upstreamBroken = true;
                Report(Descriptors.ForwardMissing, DiagnosticTarget.Class, spec.ClassName, "");
                return;
            }
            if (!forward.IsPartial)
                Report(Descriptors.ForwardMissing, DiagnosticTarget.Forward, spec.ClassName, $" ('{forward.Name}' is not partial)");

            for (var i = 0; i < forward.Inputs.Count; i++)
            {
                var input = forward.Inputs[i];
                Shape? shape = null;
                if (input.Shape is null)
                    Report(Descriptors.InputWithoutShape, DiagnosticTarget.Input(i), input.Name, forward.Name);
                else if (!Shape.TryParse(input.Shape, out shape, out var error))
                    Report(Descriptors.UnparsableShape, DiagnosticTarget.Input(i), input.Shape, input.Name, error!);
                else if (shape!.Dims.Select((d, at) => (d, at)).FirstOrDefault(x => x.d.Value <= 0) is { d: not null } bad)
                {
                    Report(Descriptors.UnparsableShape, DiagnosticTarget.Input(i), input.Shape, input.Name, $"dimension {bad.at} is {bad.d.Text}, and dimensions must be positive");
                    shape = null;
                }
                if (shape is null)
                    upstreamBroken = true;
                inputs.Add(new GraphInput(input.Name, input.Type, shape?.Text));
                if (shape is not null)
                    parsedInputs.Add((input.Name, shape));
            }
            if (parsedInputs.Count > 0 && parsedInputs[0].Shape.Rank > 0)
                batch = parsedInputs[0].Shape[0];
        }

        private void CheckStageMembers()
        {
            var firstOfKind = new Dictionary<StageKind, string>();
            for (var i = 0; i < spec.Stages.Count; i++)
            {
                var stage = spec.Stages[i];
                var entry = StageCatalog.Of(stage.Kind);
                if (!stage.IsPartial)
                    Report(Descriptors.StageNotPartial, DiagnosticTarget.Member(i), stage.Member, ShortType(stage.Kind is StageKind.CustomModule or StageKind.Tower ? stage.MemberType : entry.MemberType));
                foreach (var other in stage.OtherStageAttributes)
                    Report(Descriptors.ConflictingStageAttributes, DiagnosticTarget.Member(i), stage.Member, entry.ShortName, other);
                if (stage.Kind == StageKind.Tower)
                {
                    CheckTowerMember(i, stage);
                    continue;
                }
                if (stage.Kind == StageKind.CustomModule)
                {
                    var facts = stage.MemberTypeFacts;
                    if (!facts.IsTensorModule || !facts.HasPublicParameterlessConstructor)
                        broken.Add(i);
                    if (!facts.IsTensorModule || !facts.HasPublicParameterlessConstructor)
                        Report(Descriptors.CustomModuleNotUsable, DiagnosticTarget.Member(i), stage.Member, ShortType(stage.MemberType),
                            facts.IsTensorModule ? "has no public parameterless constructor" : "is not a Module<Tensor,Tensor>");
                    continue;
                }
                if (stage.MemberType != entry.MemberType)
                    broken.Add(i);
                if (stage.MemberType != entry.MemberType)
                    Report(Descriptors.WrongMemberType, DiagnosticTarget.Member(i), stage.Member, entry.ShortName, ShortType(entry.MemberType), ShortType(stage.MemberType));
                if (StageCatalog.UniquenessGroup(stage.Kind) is not { } group)
                    continue;
                if (firstOfKind.TryGetValue(group, out var first))
                {
                    broken.Add(i);
                    Report(Descriptors.DuplicateStage, DiagnosticTarget.Member(i), stage.Member, entry.ShortName, first);
                }
                else
                    firstOfKind[group] = stage.Member;
            }
        }

        private GraphStage Infer(int index, StageSpec stage)
        {
            if (broken.Contains(index))
            {
                upstreamBroken = true;
                return new GraphStage(stage, "?", 0, false, EquatableArray<Argument>.Empty, Broken: true);
            }
            var resolved = new List<Argument>();
            var frozen = Bool(stage, "Frozen", resolved);
            var (output, parameters) = stage.Kind switch
            {
                StageKind.PatchEmbedding => PatchEmbedding(index, stage, resolved),
                StageKind.ClsToken => Tokens(index, stage, resolved, count: 1),
                StageKind.RegisterTokens => Tokens(index, stage, resolved, count: PositiveInt(index, stage, "Count", resolved, fallback: 1, "a positive number of register tokens")),
                StageKind.PositionEmbedding => Positions(index, stage, resolved),
                StageKind.TransformerEncoder => Encoder(index, stage, resolved),
                StageKind.ClassifierHead => Head(index, stage, resolved),
                StageKind.CrossEntropyLoss => Loss(index, stage, resolved),
                StageKind.CustomModule => Custom(index, stage, resolved),
                StageKind.ChannelPatchEmbedding => PatchEmbedding(index, stage, resolved),
                StageKind.DeepPromptTokens => LayerTokens(index, stage, resolved),
                StageKind.QueryTokens => LayerTokens(index, stage, resolved),
                StageKind.Resampler => Resampler(index, stage, resolved),
                StageKind.Tower => Tower(index, stage, resolved),
                StageKind.CosineLogits => CosineLogits(index, stage, resolved),
                StageKind.TokenEmbedding => TokenEmbedding(index, stage, resolved),
                StageKind.PromptTokens => PromptTokens(index, stage, resolved),
                StageKind.FeatureProjection => FeatureProjection(index, stage, resolved),
                StageKind.ContrastiveLoss => ContrastiveLoss(index, stage, resolved),
                _ => throw new ArgumentOutOfRangeException(nameof(stage), stage.Kind, null),
            };
            if (output is not null)
                outputsByMember[stage.Member] = output;
            return new GraphStage(stage, output?.Text ?? "?", parameters, frozen || FrozenWithin(stage), resolved.ToEquatableArray(), Inner: InnerStages(stage));
        }

        private (Shape?, long) PatchEmbedding(int index, StageSpec stage, List<Argument> resolved)
        {
            var patch = PositiveInt(index, stage, "PatchSize", resolved, fallback: 1, "a positive patch size in pixels");
            var dim = PositiveInt(index, stage, "Dim", resolved, fallback: 1, "a positive embedding width");
            var image = parsedInputs.FirstOrDefault(i => i.Shape.Rank == 4);
            if (image.Shape is null)
            {
                upstreamBroken = true;
                if (parsedInputs.Count > 0)
                    Report(Descriptors.InputRankMismatch, DiagnosticTarget.Attribute(index), stage.Member, parsedInputs[0].Name, "an image [B,C,H,W]", parsedInputs[0].Shape.Text);
                else if (spec.Forward is { Inputs.Count: 0 } && inputs.Count == 0)
                    Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "an image input [B,C,H,W]", "the forward method has no input");
                resolved.Add(new("InChannels", "1"));
                if (stage.Kind == StageKind.ChannelPatchEmbedding)
                {
                    // The emitted constructor reads these too.
                    Bool(stage, "SampleChannels", resolved);
                    resolved.Add(new("PatchesPerChannel", "1"));
                }
                return (null, 0);
            }

            var (channels, height, width) = (image.Shape[1].Value, image.Shape[2], image.Shape[3]);
            if (channels is null)
                Report(Descriptors.InputRankMismatch, DiagnosticTarget.Attribute(index), stage.Member, image.Name, "an image [B,C,H,W] with a fixed channel count C", image.Shape.Text);
            if (!height.IsDivisibleBy(patch) || !width.IsDivisibleBy(patch))
            {
                var suggestion = CommonDivisorNear(height.Value, width.Value, patch);
                Report(Descriptors.ImageNotDivisibleByPatch, DiagnosticTarget.Attribute(index, "PatchSize"),
                    Fix(suggestion == patch ? null : suggestion), stage.Member, patch, image.Name, height, width, image.Shape.Text, suggestion?.ToString(CultureInfo.InvariantCulture) ?? "a divisor of both");
            }
            var inChannels = (int)(channels ?? 1);
            resolved.Add(new("InChannels", inChannels.ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("Input", image.Name));
            patchTokens = height / Dim.Constant(patch) * (width / Dim.Constant(patch));
            if (stage.Kind == StageKind.PatchEmbedding)
            {
                SetSequence(Shape.Of(batch, patchTokens, Dim.Constant(dim)), stage.Member);
                return (sequence, (long)inChannels * patch * patch * dim + dim);
            }

            // ChannelViT: one shared single-channel projection, channel embeddings, positions shared across channels.
            Bool(stage, "SampleChannels", resolved);
            var perChannel = DerivedSize(index, stage, "PatchesPerChannel", patchTokens.Value ?? 1, resolved, "patches per channel");
            if (spec.Stages.FirstOrDefault(s => s.Kind == StageKind.PositionEmbedding) is { } positions)
                Report(Descriptors.ConflictingStages, DiagnosticTarget.Member(spec.Stages.ToList().IndexOf(positions)), positions.Member, stage.Member,
                    $"'{stage.Member}' already adds a position table shared across its {inChannels} channels; remove '{positions.Member}'");
            patchTokens = Dim.Constant(inChannels) * patchTokens;
            SetSequence(Shape.Of(batch, patchTokens, Dim.Constant(dim)), stage.Member);
            return (sequence, (long)patch * patch * dim + dim + (long)inChannels * dim + perChannel * dim);
        }

        private (Shape?, long) Tokens(int index, StageSpec stage, List<Argument> resolved, int count)
        {
            RequireEmbeddingGroup(index, stage);
            var width = Width(index, stage, resolved, "a token sequence [B,N,D]");
            if (stage.Kind == StageKind.ClsToken) resolved.Add(new("Count", "1"));
            noWeightDecay.Add(StageCatalog.Of(stage.Kind).RegisteredName);
            if (sequence is null)
                return (null, (long)count * width);
            prefixTokens += count;
            SetSequence(sequence.With(1, sequence[1] + Dim.Constant(count)), stage.Member);
            return (sequence, (long)count * width);
        }

        private (Shape?, long) Positions(int index, StageSpec stage, List<Argument> resolved)
        {
            RequireEmbeddingGroup(index, stage);
            var width = Width(index, stage, resolved, "a token sequence [B,N,D]");
            var covers = stage.Get("Covers") ?? "PrefixAndPatches";
            if (covers is not ("PrefixAndPatches" or "PatchesOnly"))
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Covers"), stage.Member, "Covers", covers, "PositionCoverage.PrefixAndPatches or PositionCoverage.PatchesOnly");
                covers = "PrefixAndPatches";
            }
            resolved.Add(new("Covers", covers));
            // timm: the table covers every prefix token unless no_embed_class; prefix tokens may be declared later.
            var prefix = covers == "PatchesOnly" ? 0 : spec.Stages.Sum(s => s.Kind switch
            {
                StageKind.ClsToken => 1,
                StageKind.RegisterTokens => ParseInt(s.Get("Count")) is > 0 and var c ? c : 0,
                _ => 0,
            });
            var length = patchTokens + Dim.Constant(prefix);
            if (length.Value is not long rows)
            {
                resolved.Add(new("Length", "1"));
                return (sequence, 0);
            }
            rows = DerivedSize(index, stage, "Length", rows, resolved, "position table rows");
            noWeightDecay.Add(StageCatalog.Of(stage.Kind).RegisteredName);
            return (sequence, rows * width);
        }

        private (Shape?, long) Encoder(int index, StageSpec stage, List<Argument> resolved)
        {
            var width = Width(index, stage, resolved, "a token sequence [B,N,D]");
            var depth = PositiveInt(index, stage, "Depth", resolved, fallback: 1, "a positive number of blocks");
            Heads(index, stage, "Heads", resolved, width);
            var mlpRatio = PositiveDouble(index, stage, "MlpRatio", resolved, fallback: 4.0, "a positive MLP width ratio");
            Bool(stage, "Causal", resolved);
            var hidden = (long)(width * mlpRatio);
            var avgPooled = spec.Stages.Any(s => s.Kind == StageKind.ClassifierHead && s.Get("Pool") == "Avg");
            resolved.Add(new("FinalNorm", avgPooled ? "false" : "true"));
            var prompts = LayerTokensInto(stage, StageKind.DeepPromptTokens);
            if (prompts is not null && sequence is not null && ParseInt(prompts.Get("Count")) is > 0 and var promptCount)
            {
                resolved.Add(new("DeepPrompts", prompts.Member));
                resolved.Add(new("PromptOffset", prefixTokens.ToString(CultureInfo.InvariantCulture)));
                // Prompts sit with the prefix tokens, so average pooling leaves them out as VPT does.
                prefixTokens += promptCount;
                sequence = sequence.With(1, sequence[1] + Dim.Constant(promptCount));
            }
            if (LayerTokensInto(stage, StageKind.QueryTokens) is { } queries)
                resolved.Add(new("Queries", queries.Member));
            long w = width;
            var block = 2 * w + (w * 3 * w + 3 * w) + (w * w + w) + 2 * w + (w * hidden + hidden) + (hidden * w + w);
            if (sequence is not null)
                SetSequence(sequence, stage.Member);
            return (sequence, depth * block + (avgPooled ? 0 : 2 * w));
        }

        private (Shape?, long) Head(int index, StageSpec stage, List<Argument> resolved)
        {
            var width = Width(index, stage, resolved, "a token sequence [B,N,D]");
            var classes = PositiveInt(index, stage, "Classes", resolved, fallback: 1, "a positive number of classes");
            var pool = stage.Get("Pool") ?? "Cls";
            if (pool is not ("Cls" or "Avg" or "Map"))
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Pool"), stage.Member, "Pool", pool, "Pool.Cls, Pool.Avg or Pool.Map");
                pool = "Cls";
            }
            resolved.Add(new("Pool", pool));
            resolved.Add(new("PrefixTokens", prefixTokens.ToString(CultureInfo.InvariantCulture)));
            long w = width;
            long pooledWidth = w;
            CheckReference(index, stage, "Also", StageKind.QueryTokens);
            if (stage.Get("Also") is { } also && spec.Stages.Where((_, i) => !broken.Contains(i)).FirstOrDefault(s => s.Member == also && s.Kind == StageKind.QueryTokens) is { } queries)
            {
                pooledWidth += (long)(ParseInt(queries.Get("Count")) ?? 0) * EncoderDepth(queries) * w;
                resolved.Add(new("Also", also));
            }
            pooledWidth = DerivedSize(index, stage, "InFeatures", pooledWidth, resolved, "head input features");
            long parameters = pooledWidth * classes + classes;
            if (pool == "Cls" && !spec.Stages.Any(s => s.Kind == StageKind.ClsToken))
                Report(Descriptors.ClsPoolingWithoutClsToken, stage.Get("Pool") is null ? DiagnosticTarget.Attribute(index) : DiagnosticTarget.Attribute(index, "Pool"), stage.Member);
            if (pool == "Avg")
                parameters += 2 * w;
            if (pool == "Map")
            {
                var encoder = spec.Stages.FirstOrDefault(s => s.Kind == StageKind.TransformerEncoder);
                Heads(index, stage, "PoolHeads", resolved, width, ParseInt(encoder?.Get("Heads")) ?? 1);
                // timm's AttentionPoolLatent takes the model's mlp_ratio.
                var poolMlpRatio = ParseDouble(encoder?.Get("MlpRatio")) is > 0 and var ratio ? ratio : 4.0;
                resolved.Add(new("PoolMlpRatio", Format(poolMlpRatio)));
                var hidden = (long)(w * poolMlpRatio);
                parameters += w + (w * w + w) + (w * 2 * w + 2 * w) + (w * w + w) + 2 * w + (w * hidden + hidden) + (hidden * w + w);
                noWeightDecay.Add("attn_pool.latent");
            }
            if (sequence is null)
                return (null, parameters);
            headMember = stage.Member;
            logits = Shape.Of(batch, Dim.Constant(classes));
            outputs.Add(new("Logits", logits.Text, $"Class logits of '{stage.Member}'"));
            outputs.Add(new("Pooled", Shape.Of(batch, Dim.Constant(pooledWidth)).Text, $"The pooled embedding ({pool} pooling) that '{stage.Member}' classifies"));
            var fromResampler = spec.Stages.Any(s => s.Member == sequenceSource && s.Kind == StageKind.Resampler);
            outputs.Add(new("Tokens", sequence.Text, fromResampler
                ? $"The query tokens of '{sequenceSource}' that the head reads"
                : $"The token sequence of '{sequenceSource}', prefix tokens first"));
            return (logits, parameters);
        }

        private (Shape?, long) Loss(int index, StageSpec stage, List<Argument> resolved)
        {
            var smoothing = stage.Get("LabelSmoothing") is { } text ? ParseDouble(text) ?? 0 : 0;
            if (smoothing is < 0 or >= 1 || double.IsNaN(smoothing))
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "LabelSmoothing"), stage.Member, "LabelSmoothing", Format(smoothing), "a value in [0, 1), e.g. 0.1");
                smoothing = 0;
            }
            resolved.Add(new("LabelSmoothing", Format(smoothing)));
            CheckReference(index, stage, "Of", StageKind.ClassifierHead);
            var target = stage.Get("Target") ?? "label";
            resolved.Add(new("Target", target));
            var weight = stage.Get("Weight") is { } w ? ParseDouble(w) ?? 1 : 1;
            if (!(weight > 0) || double.IsInfinity(weight))
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Weight"), stage.Member, "Weight", Format(weight), "a positive, finite loss weight");
                weight = 1;
            }
            resolved.Add(new("Weight", Format(weight)));
            if (logits is null)
            {
                if (!spec.Stages.Take(index).Any(s => s.Kind is StageKind.ClassifierHead or StageKind.CosineLogits))
                    Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "a classifier head's logits [B,C]", "no [ClassifierHead] stage comes before it");
                return (null, 0);
            }
            resolved.Add(new("Head", headMember!));
            targets.Add(new(Pascal(target), Shape.Of(batch).Text, $"Class indices (int64) for '{stage.Member}'"));
            return (Shape.Of(), 0);
        }

        private (Shape?, long) Custom(int index, StageSpec stage, List<Argument> resolved)
        {
            var contract = stage.Get("Contract") ?? "";
            resolved.Add(new("Contract", contract));
            var arrow = contract.IndexOf("->", StringComparison.Ordinal);
            if (arrow < 0)
            {
                Report(Descriptors.UnparsableShape, DiagnosticTarget.Attribute(index, "Contract"), contract, stage.Member, "a contract needs '->' between the input and the output shape");
                return (sequence, UnknownParameters);
            }
            if (!Shape.TryParse(contract.Substring(0, arrow), out var input, out var error) || !Shape.TryParse(contract.Substring(arrow + 2), out var output, out error))
            {
                Report(Descriptors.UnparsableShape, DiagnosticTarget.Attribute(index, "Contract"), contract, stage.Member, error!);
                return (sequence, UnknownParameters);
            }
            if (sequence is null)
            {
                Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "a token sequence to transform", "no stage before it produces one");
                return (null, UnknownParameters);
            }
            if (input!.Rank != sequence.Rank)
            {
                Report(Descriptors.ContractMismatch, DiagnosticTarget.Attribute(index, "Contract"), stage.Member, contract,
                    $"it receives {sequence.Text} of rank {sequence.Rank} from '{sequenceSource}', not rank {input.Rank}");
                return (sequence, UnknownParameters);
            }

            // Bind the contract's plain symbols to what the stage receives, then check the rest.
            var bindings = new Dictionary<string, Dim>();
            for (var d = 0; d < input.Rank; d++)
            {
                if (IsPlainSymbol(input[d]) && !bindings.ContainsKey(input[d].Text))
                    bindings[input[d].Text] = sequence[d];
            }
            for (var d = 0; d < input.Rank; d++)
            {
                var expected = input[d].Substitute(bindings);
                if (!expected.Equals(sequence[d]))
                {
                    var shown = expected.Text == input[d].Text ? input[d].Text : $"{input[d].Text} = {expected.Text}";
                    Report(Descriptors.ContractMismatch, DiagnosticTarget.Attribute(index, "Contract"), stage.Member, contract,
                        $"it receives {sequence.Text} from '{sequenceSource}', whose dimension {d} is {sequence[d].Text}, not {shown}");
                    return (sequence, UnknownParameters);
                }
            }
            var unbound = output!.Dims.SelectMany(d => d.Symbols).FirstOrDefault(s => !bindings.ContainsKey(s));
            if (unbound is not null)
            {
                Report(Descriptors.ContractMismatch, DiagnosticTarget.Attribute(index, "Contract"), stage.Member, contract,
                    $"its output uses '{unbound}', which the input side does not bind");
                return (sequence, UnknownParameters);
            }
            SetSequence(new Shape(output.Dims.Select(d => d.Substitute(bindings))), stage.Member);
            return (sequence, UnknownParameters);
        }

        // Prefix tokens and positions are added right after the patch embedding (timm's _pos_embed),
        // so a stage that transforms the patches cannot sit between them.
        private void RequireEmbeddingGroup(int index, StageSpec stage)
        {
            if (sequenceSource is null)
                return;
            var source = spec.Stages.First(s => s.Member == sequenceSource);
            if (source.Kind is StageKind.PatchEmbedding or StageKind.ChannelPatchEmbedding or StageKind.ClsToken or StageKind.RegisterTokens or StageKind.PositionEmbedding)
                return;
            Report(Descriptors.ConflictingStages, DiagnosticTarget.Member(index), stage.Member, sequenceSource,
                $"prefix tokens and positions join the sequence right after the patch embedding; declare '{stage.Member}' before '{sequenceSource}'");
        }

        // Deep prompts and query tokens: one set per block of the encoder they go into.
        private (Shape?, long) LayerTokens(int index, StageSpec stage, List<Argument> resolved)
        {
            var width = Width(index, stage, resolved, "a token sequence [B,N,D]");
            var count = PositiveInt(index, stage, "Count", resolved, fallback: 1, "a positive number of tokens per block");
            var encoders = spec.Stages.Where(s => s.Kind == StageKind.TransformerEncoder).ToList();
            if (stage.Get("Into") is null && encoders.Count != 1)
                Report(Descriptors.BadReference, DiagnosticTarget.Attribute(index), stage.Member, "Into", "", "is not set", "TransformerEncoder",
                    encoders.Count == 0 ? " (the model has none)" : "; set Into = nameof(...)");
            CheckReference(index, stage, "Into", StageKind.TransformerEncoder);
            var depth = EncoderDepth(stage);
            resolved.Add(new("Depth", depth.ToString(CultureInfo.InvariantCulture)));
            noWeightDecay.Add(StageCatalog.RegisteredName(stage.Kind, stage.Member));
            return (Shape.Of(Dim.Constant(depth), Dim.Constant(count), Dim.Constant(width)), (long)depth * count * width);
        }

        private (Shape?, long) Resampler(int index, StageSpec stage, List<Argument> resolved)
        {
            CheckReference(index, stage, "Over", StageKind.TransformerEncoder);
            var source = sequence;
            var sourceName = sequenceSource;
            if (stage.Get("Over") is { } over && outputsByMember.TryGetValue(over, out var named))
                (source, sourceName) = (named, over);
            else if (stage.Get("Over") is { } later && spec.Stages.Any(s => s.Member == later && s.Kind == StageKind.TransformerEncoder))
                Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index, "Over"), stage.Member, $"the output of '{later}'", $"'{later}' is declared after it");
            if (source is null)
            {
                Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "a token sequence [B,N,D] to read", "no stage before it produces one");
                resolved.Add(new("SourceDim", "1"));
                resolved.Add(new("Dim", "1"));
                resolved.Add(new("Source", ""));
                // The emitted constructor reads these too.
                resolved.Add(new("Queries", "1"));
                resolved.Add(new("Depth", "1"));
                resolved.Add(new("Heads", "1"));
                resolved.Add(new("MlpRatio", "4"));
                return (null, 0);
            }
            var sourceDim = (int)(source.Last.Value ?? 1);
            var declared = ParseInt(stage.Get("Dim")) ?? 0;
            if (declared < 0)
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Dim"), stage.Member, "Dim", declared, "a positive width, or 0 for the source's width");
            var dim = declared > 0 ? declared : sourceDim;
            resolved.Add(new("SourceDim", sourceDim.ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("Dim", dim.ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("Source", sourceName == sequenceSource ? "" : sourceName!));
            var queries = PositiveInt(index, stage, "Queries", resolved, fallback: 1, "a positive number of query tokens");
            var depth = PositiveInt(index, stage, "Depth", resolved, fallback: 1, "a positive number of cross-attention layers", attributeDefault: 1);
            Heads(index, stage, "Heads", resolved, dim);
            var mlpRatio = PositiveDouble(index, stage, "MlpRatio", resolved, fallback: 4.0, "a positive MLP width ratio");
            long d = dim, s = sourceDim, hidden = (long)(dim * mlpRatio);
            var layer = 2 * d + 2 * s + (d * d + d) + (s * 2 * d + 2 * d) + (d * d + d) + 2 * d + (d * hidden + hidden) + (hidden * d + d);
            prefixTokens = 0;
            SetSequence(Shape.Of(batch, Dim.Constant(queries), Dim.Constant(dim)), stage.Member);
            return (sequence, queries * d + depth * layer);
        }

        // Broken stages are left out of the module, so nothing may refer to them.
        private StageSpec? LayerTokensInto(StageSpec encoder, StageKind kind) =>
            spec.Stages.Where((_, i) => !broken.Contains(i)).FirstOrDefault(s => s.Kind == kind && (s.Get("Into") ?? SingleEncoder()) == encoder.Member);

        private string? SingleEncoder()
        {
            var encoders = spec.Stages.Where(s => s.Kind == StageKind.TransformerEncoder).ToList();
            return encoders.Count == 1 ? encoders[0].Member : null;
        }

        private int EncoderDepth(StageSpec layerTokens)
        {
            var into = layerTokens.Get("Into") ?? SingleEncoder();
            var encoder = spec.Stages.FirstOrDefault(s => s.Member == into && s.Kind == StageKind.TransformerEncoder);
            return ParseInt(encoder?.Get("Depth")) is > 0 and var depth ? depth : 1;
        }

        private void CheckReference(int index, StageSpec stage, string argument, StageKind kind)
        {
            if (stage.Get(argument) is not { } name)
                return;
            var named = spec.Stages.FirstOrDefault(s => s.Member == name);
            if (named?.Kind == kind)
                return;
            var candidates = spec.Stages.Where(s => s.Kind == kind).Select(s => s.Member).ToList();
            var problem = named is null ? "names no stage of the model" : $"is a [{StageCatalog.Of(named.Kind).ShortName}] stage";
            var hint = candidates.Count == 1 ? $"; the model's one is '{candidates[0]}'" : "";
            var fix = candidates.Count == 1
                ? ImmutableDictionary<string, string?>.Empty.Add(ModelDiagnostic.FixValue, $"nameof({candidates[0]})")
                : ImmutableDictionary<string, string?>.Empty;
            Report(Descriptors.BadReference, DiagnosticTarget.Attribute(index, argument), fix,
                stage.Member, argument, name, problem, StageCatalog.Of(kind).ShortName, hint);
        }

        // The width a stage receives; an explicit Dim must agree with it.
        private int Width(int index, StageSpec stage, List<Argument> resolved, string needs)
        {
            var declared = ParseInt(stage.Get("Dim"));
            if (sequence is null)
            {
                if (!upstreamBroken)
                    Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, needs,
                        "no stage before it produces one; declare it after the [PatchEmbedding] stage");
                var fallback = declared is > 0 ? declared.Value : 1;
                resolved.Add(new("Dim", fallback.ToString(CultureInfo.InvariantCulture)));
                return fallback;
            }
            var width = sequence.Last;
            var actual = (int)(width.Value ?? 1);
            if (declared is not null && declared != 0 && declared != actual)
                Report(Descriptors.WidthMismatch, DiagnosticTarget.Attribute(index, "Dim"), Fix(actual),
                    stage.Member, declared.Value, sequenceSource!, actual, sequence.Text);
            resolved.Add(new("Dim", actual.ToString(CultureInfo.InvariantCulture)));
            return actual;
        }

        private int Heads(int index, StageSpec stage, string argument, List<Argument> resolved, int width, int fallback = 1)
        {
            var heads = ParseInt(stage.Get(argument)) ?? (argument == "Heads" ? 0 : fallback);
            if (heads <= 0)
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, stage.Get(argument) is null ? null : argument),
                    stage.Member, argument, heads, $"a positive number of attention heads that divides the width {width}");
                heads = 1;
            }
            else if (sequence is not null && width % heads != 0)
            {
                var nearest = NearestDivisor(width, heads);
                Report(Descriptors.HeadsDoNotDivideWidth, DiagnosticTarget.Attribute(index, argument), Fix(nearest),
                    stage.Member, argument, heads, width, nearest);
                heads = nearest;
            }
            resolved.Add(new(argument, heads.ToString(CultureInfo.InvariantCulture)));
            return heads;
        }

        // attributeDefault: the attribute property's initial value, which AttributeData does not show when unwritten.
        private int PositiveInt(int index, StageSpec stage, string argument, List<Argument> resolved, int fallback, string expected, int attributeDefault = 0)
        {
            var value = ParseInt(stage.Get(argument)) ?? attributeDefault;
            if (value <= 0)
            {
                // Not written at all: point at the attribute, since there is no argument to squiggle.
                var target = DiagnosticTarget.Attribute(index, stage.Get(argument) is null ? null : argument);
                Report(Descriptors.ValueOutOfRange, target, stage.Member, argument, stage.Get(argument) is null ? "0 (not set)" : value.ToString(CultureInfo.InvariantCulture), expected);
                value = fallback;
            }
            resolved.Add(new(argument, value.ToString(CultureInfo.InvariantCulture)));
            return value;
        }

        // A size the graph derives (not one the user wrote) must still fit a TorchSharp int argument;
        // half-typed sizes reach 10^18 and would otherwise overflow the emitter.
        private long DerivedSize(int index, StageSpec stage, string name, long value, List<Argument> resolved, string what)
        {
            if (value is <= 0 or > int.MaxValue)
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index), stage.Member, name, value.ToString(CultureInfo.InvariantCulture),
                    $"{what} between 1 and {int.MaxValue}; reduce the sizes that multiply into it");
                value = 1;
            }
            resolved.Add(new(name, value.ToString(CultureInfo.InvariantCulture)));
            return value;
        }

        private double PositiveDouble(int index, StageSpec stage, string argument, List<Argument> resolved, double fallback, string expected)
        {
            var value = stage.Get(argument) is { } text ? ParseDouble(text) ?? fallback : fallback;
            if (value <= 0 || double.IsNaN(value) || double.IsInfinity(value))
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, argument), stage.Member, argument, Format(value), expected);
                value = fallback;
            }
            resolved.Add(new(argument, Format(value)));
            return value;
        }

        private static bool Bool(StageSpec stage, string argument, List<Argument> resolved)
        {
            var value = stage.Get(argument) == "true";
            resolved.Add(new(argument, value ? "true" : "false"));
            return value;
        }

        private void SetSequence(Shape shape, string source)
        {
            sequence = shape;
            sequenceSource = source;
        }

        private void Report(DiagnosticDescriptor descriptor, DiagnosticTarget target, params object[] arguments) =>
            Report(descriptor, target, ImmutableDictionary<string, string?>.Empty, arguments);

        private void Report(DiagnosticDescriptor descriptor, DiagnosticTarget target, ImmutableDictionary<string, string?> properties, params object[] arguments) =>
            Diagnostics.Add(new ModelDiagnostic(descriptor, target,
                arguments.Select(a => Convert.ToString(a, CultureInfo.InvariantCulture) ?? "").ToEquatableArray(), properties));

        private static ImmutableDictionary<string, string?> Fix(long? value) =>
            value is null
                ? ImmutableDictionary<string, string?>.Empty
                : ImmutableDictionary<string, string?>.Empty.Add(ModelDiagnostic.FixValue, value.Value.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>A custom stage's parameters are not known before its module is built.</summary>
    public const long UnknownParameters = -1;

    private static bool IsPlainSymbol(Dim dim) => dim.Value is null && dim.Symbols.Count() == 1 && dim.Text == dim.Symbols.First();

    // Searches the divisors of the size (O(sqrt)), not the integers up to the wanted value: a
    // half-typed Heads = 2147483647 must not stall the editor.
    private static int NearestDivisor(int width, int wanted) =>
        (int)Divisors(width).OrderBy(d => Math.Abs(d - (long)wanted)).ThenBy(d => d).First();

    private static long? CommonDivisorNear(long? height, long? width, int wanted)
    {
        if (height is null && width is null) return null;
        var common = height is { } h && width is { } w ? Gcd(h, w) : height ?? width!.Value;
        return Divisors(common).Where(d => d > 1).OrderBy(d => Math.Abs(d - (long)wanted)).ThenBy(d => d).Cast<long?>().FirstOrDefault();
    }

    // d <= n / d, not d * d <= n, which overflows for n near long.MaxValue and never ends; and at
    // most a million steps, so an image side of 2^62 still gets its suggestion (from the divisors
    // up to a million and their cofactors) while the editor waits milliseconds, not minutes.
    private const long MaxDivisorSearch = 1 << 20;

    private static IEnumerable<long> Divisors(long n)
    {
        for (long d = 1; d <= n / d && d <= MaxDivisorSearch; d++)
        {
            if (n % d != 0) continue;
            yield return d;
            if (d != n / d) yield return n / d;
        }
    }

    private static long Gcd(long a, long b) => b == 0 ? Math.Abs(a) : Gcd(b, a % b);

    private static int? ParseInt(string? text) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static double? ParseDouble(string? text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string ShortType(string type) => type.Substring(type.LastIndexOf('.') + 1);

    internal static string Pascal(string name) => name.Length == 0 ? name : char.ToUpperInvariant(name[0]) + name.Substring(1);
}
