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
        // Prefix tokens (CLS, registers, deep prompts) at the front of each stage's output.
        private readonly Dictionary<string, int> prefixByMember = [];

        // Task tokens: the model's one [TaskTokens] stage, its distinct task names in order, and
        // its width; the decoder that reads them; which head reads each task and which loss each head.
        private string? taskTokensMember;
        private readonly List<string> taskNames = [];
        private int? taskWidth;
        private string? decoderMember;
        private Shape? decoded;
        private readonly Dictionary<string, string> headByTask = [];
        private readonly Dictionary<string, HeadInfo> heads = [];
        private readonly Dictionary<string, string> lossByHead = [];
        private readonly Dictionary<string, (string Shape, string Dtype, bool Optional, string Loss)> targetsByKey = [];
        // The image grid the patch embedding makes, for a mask head: height, width, patch size.
        private (Dim Height, Dim Width, int Patch)? imageGrid;
        private bool channelPatches;

        public void Execute()
        {
            if (!spec.IsPartial)
                Report(Descriptors.ModelNotPartial, DiagnosticTarget.Class, spec.ClassName);
            ReadForward();
            CheckStageMembers();
            ReadTaskNames();
            for (var i = 0; i < spec.Stages.Count; i++)
                stages.Add(Infer(i, spec.Stages[i]));
            CheckRegisteredNames();
            if (decoderMember is not null && decoded is not null)
                outputs.Add(new(decoderMember, decoded.Text, $"The task tokens of '{taskTokensMember}' after '{decoderMember}', one per task in the order of '{taskTokensMember}'"));
            CheckTasksTrained();
            if (stages.Count > 0 && stages.Any(s => s.Parameters > 0) && stages.All(s => s.Frozen || s.Parameters == 0))
                Report(Descriptors.NothingToTrain, DiagnosticTarget.Class, spec.ClassName);
        }

        // Fields are named as their modules register (timm's names, or a member's snake_case name),
        // so a member named Norm next to an encoder's final norm would declare `norm` twice.
        private void CheckRegisteredNames()
        {
            var owners = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < stages.Count; i++)
            {
                if (stages[i].Broken)
                    continue;
                var names = FieldNames(stages[i]).ToList();
                var taken = names.FirstOrDefault(owners.ContainsKey);
                if (taken is not null)
                {
                    Report(Descriptors.RegisteredNameTaken, DiagnosticTarget.Member(i), stages[i].Member, taken, owners[taken]);
                    stages[i] = new GraphStage(stages[i].Spec, "?", 0, false, EquatableArray<Argument>.Empty, Broken: true);
                    continue;
                }
                foreach (var name in names)
                    owners[name] = stages[i].Member;
            }
        }

        private static IEnumerable<string> FieldNames(GraphStage stage) => stage.Kind switch
        {
            // Losses hold no state: a field, not a registered module.
            StageKind.ContrastiveLoss => [StageCatalog.RegisteredName(stage.Spec)],
            _ when StageCatalog.IsLoss(stage.Kind) => stage.Resolved.Where(a => a.Name == "Field").Select(a => a.Value),
            _ => StageCatalog.RegisteredMembers(stage).Select(m => m.Name),
        };

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
            // A model with task tokens has a head and a loss per task; one without has one of each.
            var taskModel = spec.Stages.Any(s => s.Kind == StageKind.TaskTokens);
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
                if (StageCatalog.UniquenessGroup(stage, taskModel) is not { } group)
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
                StageKind.CrossEntropyLoss or StageKind.MseLoss or StageKind.BinaryCrossEntropyLoss => Loss(index, stage, resolved),
                StageKind.TaskTokens => TaskTokens(index, stage, resolved),
                StageKind.TaskDecoder => TaskDecoder(index, stage, resolved),
                StageKind.RegressionHead or StageKind.MaskHead => TaskHead(index, stage, resolved),
                StageKind.CustomModule => Custom(index, stage, resolved),
                StageKind.ChannelPatchEmbedding => PatchEmbedding(index, stage, resolved),
                StageKind.DeepPromptTokens => LayerTokens(index, stage, resolved),
                StageKind.QueryTokens => LayerTokens(index, stage, resolved),
                StageKind.Resampler => Resampler(index, stage, resolved),
                StageKind.Tower => Tower(index, stage, resolved),
                StageKind.CosineLogits => CosineLogits(index, stage, resolved),
                StageKind.TokenEmbedding => TokenEmbedding(index, stage, resolved),
                StageKind.PromptTokens => PromptTokens(index, stage, resolved),
                StageKind.VocabularyTokens => VocabularyTokens(index, stage, resolved),
                StageKind.FeatureProjection => FeatureProjection(index, stage, resolved),
                StageKind.ContrastiveLoss => ContrastiveLoss(index, stage, resolved),
                _ => throw new ArgumentOutOfRangeException(nameof(stage), stage.Kind, null),
            };
            // A stage found unusable while inferring it (a task head naming no task, a second loss on
            // a head) is left out of the module like those found before.
            if (broken.Contains(index))
                return new GraphStage(stage, "?", 0, false, EquatableArray<Argument>.Empty, Broken: true);
            if (output is not null)
                outputsByMember[stage.Member] = output;
            prefixByMember[stage.Member] = prefixTokens;
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
            imageGrid = (height, width, patch);
            channelPatches = stage.Kind == StageKind.ChannelPatchEmbedding;
            if (stage.Kind == StageKind.PatchEmbedding)
            {
                SetSequence(Shape.Of(batch, patchTokens, Dim.Constant(dim)), stage.Member);
                return (sequence, (long)inChannels * patch * patch * dim + dim);
            }

            // ChannelViT: one shared single-channel projection, channel embeddings, positions shared across channels.
            if (ParseInt(stage.Get("Channels")) is > 0 and var declared && channels is long actual && declared != actual)
                Report(Descriptors.ChannelCountMismatch, DiagnosticTarget.Attribute(index, "Channels"), Fix(actual),
                    stage.Member, declared, image.Name, actual, image.Shape.Text);
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
            // In long: register counts near int.MaxValue must reach DerivedSize's check, not overflow here.
            var prefix = covers == "PatchesOnly" ? 0 : spec.Stages.Sum(s => s.Kind switch
            {
                StageKind.ClsToken => 1L,
                StageKind.RegisterTokens => ParseInt(s.Get("Count")) is > 0 and var c ? c : 0L,
                _ => 0L,
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
            // In a model with task tokens every head reads one; ReadTask reports one that names none.
            if (stage.Get("Task") is not null || taskTokensMember is not null)
                return TaskHead(index, stage, resolved);
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
            heads[stage.Member] = new HeadInfo(stage.Kind, stage.Member, null, logits);
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
            // A model without task tokens has one loss, whose field is "loss" as it always was.
            resolved.Add(new("Field", taskTokensMember is null && stage.Kind == StageKind.CrossEntropyLoss ? "loss" : StageCatalog.SnakeCase(stage.Member)));
            if (stage.Kind == StageKind.CrossEntropyLoss)
            {
                var smoothing = stage.Get("LabelSmoothing") is { } text ? ParseDouble(text) ?? 0 : 0;
                if (smoothing is < 0 or >= 1 || double.IsNaN(smoothing))
                {
                    Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "LabelSmoothing"), stage.Member, "LabelSmoothing", Format(smoothing), "a value in [0, 1), e.g. 0.1");
                    smoothing = 0;
                }
                resolved.Add(new("LabelSmoothing", Format(smoothing)));
            }
            var headKind = StageCatalog.HeadOf(stage.Kind);
            var head = ReadOf(index, stage, headKind);
            var target = stage.Get("Target") ?? (head?.Task is { } task ? StageCatalog.SnakeCase(task) : stage.Kind == StageKind.CrossEntropyLoss ? "label" : "target");
            resolved.Add(new("Target", target));
            var weight = stage.Get("Weight") is { } w ? ParseDouble(w) ?? 1 : 1;
            if (!(weight > 0) || double.IsInfinity(weight))
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Weight"), stage.Member, "Weight", Format(weight), "a positive, finite loss weight");
                weight = 1;
            }
            resolved.Add(new("Weight", Format(weight)));
            var optional = Bool(stage, "Optional", resolved);
            resolved.Add(new("Task", head?.Task ?? ""));
            if (head is null)
            {
                // Cosine logits between towers are class logits too.
                if (!spec.Stages.Take(index).Any(s => s.Kind == headKind || headKind == StageKind.ClassifierHead && s.Kind == StageKind.CosineLogits))
                    Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, HeadOutputText(headKind), $"no [{StageCatalog.Of(headKind).ShortName}] stage comes before it");
                return (null, 0);
            }
            if (lossByHead.TryGetValue(head.Member, out var first))
            {
                broken.Add(index);
                Report(Descriptors.ConflictingStages, DiagnosticTarget.Member(index), stage.Member, first,
                    $"both read '{head.Member}'; a head has one loss, logged under {(head.Task is null ? "the model's metrics" : $"its task's name '{StageCatalog.SnakeCase(head.Task)}'")}");
                return (null, 0);
            }
            var (shape, dtype, what) = stage.Kind switch
            {
                StageKind.MseLoss => (head.Output, "float", "Regression targets (float)"),
                StageKind.BinaryCrossEntropyLoss => (head.Output, "float", "Binary masks (float, 0 or 1)"),
                _ => (Shape.Of(batch), "int64", "Class indices (int64)"),
            };
            if (!AddTarget(index, stage, target, shape, dtype, optional, $"{what} for '{stage.Member}'"))
                return (null, 0);
            lossByHead[head.Member] = stage.Member;
            resolved.Add(new("Head", head.Member));
            return (Shape.Of(), 0);
        }

        private static string HeadOutputText(StageKind headKind) => headKind switch
        {
            StageKind.RegressionHead => "a regression head's outputs [B,O]",
            StageKind.MaskHead => "a mask head's logits [B,1,H,W]",
            _ => "a classifier head's logits [B,C]",
        };

        // The head a loss reads: its Of, or the model's one head of the loss's kind.
        private HeadInfo? ReadOf(int index, StageSpec stage, StageKind headKind)
        {
            var of = stage.Get("Of");
            if (of is not null && spec.Stages.FirstOrDefault(s => s.Member == of) is { } named && StageCatalog.IsHead(named.Kind) && named.Kind != headKind)
            {
                var right = spec.Stages.Where(s => s.Kind == headKind).Select(s => s.Member).ToList();
                var fix = right.Count == 1
                    ? ImmutableDictionary<string, string?>.Empty.Add(ModelDiagnostic.FixValue, $"nameof({right[0]})")
                    : ImmutableDictionary<string, string?>.Empty;
                Report(Descriptors.LossReadsWrongHead, DiagnosticTarget.Attribute(index, "Of"), fix,
                    stage.Member, StageCatalog.Of(stage.Kind).ShortName, of, StageCatalog.Of(named.Kind).ShortName,
                    outputsByMember.TryGetValue(of, out var output) ? output.Text : "?", StageCatalog.Of(headKind).ShortName,
                    right.Count == 1 ? $"; the model's one is '{right[0]}'" : "");
                return null;
            }
            CheckReference(index, stage, "Of", headKind);
            if (of is not null && heads.TryGetValue(of, out var head) && head.Kind == headKind)
                return head;
            var declared = spec.Stages.Where(s => s.Kind == headKind).ToList();
            var inferred = heads.Values.Where(h => h.Kind == headKind).ToList();
            if (of is null && declared.Count > 1)
            {
                Report(Descriptors.BadReference, DiagnosticTarget.Attribute(index), stage.Member, "Of", "", "is not set", StageCatalog.Of(headKind).ShortName,
                    $" (the model has {declared.Count}); set Of = nameof(...)");
                return null;
            }
            // Of unset with one head, or Of naming no head (reported above): the model's one head.
            return inferred.Count == 1 && (of is null || !spec.Stages.Any(s => s.Member == of && s.Kind == headKind)) ? inferred[0] : null;
        }

        // Adds a loss's target (and its presence mask) to the batch; false when the name is taken.
        private bool AddTarget(int index, StageSpec stage, string key, Shape shape, string dtype, bool optional, string description)
        {
            var field = Pascal(key);
            string? problem = null;
            if (inputs.FirstOrDefault(i => Pascal(i.Name) == field) is { } input)
                problem = $"is also the forward input '{input.Name}'";
            else if (targetsByKey.TryGetValue(key, out var earlier))
            {
                if (earlier.Shape == shape.Text && earlier.Dtype == dtype && earlier.Optional == optional)
                    return true; // the same target read by two losses
                problem = $"'{earlier.Loss}' already reads as {earlier.Shape} {earlier.Dtype}{(earlier.Optional ? " (optional)" : "")}, not {shape.Text} {dtype}{(optional ? " (optional)" : "")}";
            }
            else if (targets.FirstOrDefault(t => t.Name == field || optional && t.Name == field + "Present") is { } clash)
                problem = $"gives the batch field '{clash.Name}', which the target '{clash.Key}' already has";
            if (problem is not null)
            {
                broken.Add(index);
                Report(Descriptors.TargetNameTaken, DiagnosticTarget.Attribute(index, stage.Get("Target") is null ? null : "Target"), stage.Member, key, problem);
                return false;
            }
            targetsByKey[key] = (shape.Text, dtype, optional, stage.Member);
            targets.Add(new(field, shape.Text, description, key));
            if (optional)
                targets.Add(new(field + "Present", Shape.Of(batch).Text,
                    $"Whether each sample carries '{key}' (bool, or 0/1), for '{stage.Member}'; the others count in neither its loss nor its metrics", key + "_present"));
            return true;
        }

        // The distinct task names, before any stage is inferred: heads may be declared before the tokens.
        private void ReadTaskNames()
        {
            var index = spec.Stages.ToList().FindIndex(s => s.Kind == StageKind.TaskTokens);
            if (index < 0 || broken.Contains(index))
                return;
            taskTokensMember = spec.Stages[index].Member;
            foreach (var name in spec.Stages[index].GetList("Names"))
            {
                if (IsTaskName(name) && !taskNames.Any(t => StageCatalog.SnakeCase(t) == StageCatalog.SnakeCase(name)))
                    taskNames.Add(name);
            }
        }

        private static bool IsTaskName(string name) =>
            name.Length > 0 && char.IsLetter(name[0]) && name.All(c => c < 128 && (char.IsLetterOrDigit(c) || c == '_'));

        private (Shape?, long) TaskTokens(int index, StageSpec stage, List<Argument> resolved)
        {
            var width = Width(index, stage, resolved, "a token sequence [B,N,D]");
            var names = stage.GetList("Names");
            if (names.Count == 0)
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index), stage.Member, "Names", "(none)", "at least one task name, e.g. [TaskTokens(\"Category\", \"Angle\")]");
            for (var i = 0; i < names.Count; i++)
            {
                var argument = $"Names[{i.ToString(CultureInfo.InvariantCulture)}]";
                if (!IsTaskName(names[i]))
                {
                    Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, argument), stage.Member, argument, $"\"{names[i]}\"",
                        "a task name that is an identifier (letters, digits, '_'), since metrics are logged under it");
                    continue;
                }
                var first = names.FindIndex(n => IsTaskName(n) && StageCatalog.SnakeCase(n) == StageCatalog.SnakeCase(names[i]));
                if (first < i)
                    Report(Descriptors.DuplicateTask, DiagnosticTarget.Attribute(index, argument), stage.Member, names[i], first, i,
                        names[first] == names[i] ? "" : $": \"{names[first]}\" and \"{names[i]}\" are both logged as '{StageCatalog.SnakeCase(names[i])}'");
            }
            var count = Math.Max(taskNames.Count, 1);
            resolved.Add(new("Count", count.ToString(CultureInfo.InvariantCulture)));
            noWeightDecay.Add(StageCatalog.RegisteredName(stage));
            taskWidth = width;
            return (Shape.Of(Dim.Constant(1), Dim.Constant(count), Dim.Constant(width)), (long)count * width);
        }

        private (Shape?, long) TaskDecoder(int index, StageSpec stage, List<Argument> resolved)
        {
            var (source, sourceName) = ReadOver(index, stage);
            var width = taskWidth ?? (int)(source?.Last.Value ?? 1);
            var sourceDim = (int)(source?.Last.Value ?? 1);
            resolved.Add(new("Dim", width.ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("SourceDim", sourceDim.ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("Source", source is null || sourceName == sequenceSource ? "" : sourceName!));
            var depth = PositiveInt(index, stage, "Depth", resolved, fallback: 1, "a positive number of decoder layers", attributeDefault: 1);
            Heads(index, stage, "Heads", resolved, width);
            var mlpRatio = PositiveDouble(index, stage, "MlpRatio", resolved, fallback: 4.0, "a positive MLP width ratio");
            if (taskTokensMember is null || !outputsByMember.ContainsKey(taskTokensMember))
            {
                // The emitted forward pass passes the task tokens in, so without them the decoder is left out.
                broken.Add(index);
                if (!upstreamBroken)
                    Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "task tokens [1,T,D] to decode",
                        taskTokensMember is null ? "the model declares no [TaskTokens] stage" : $"'{taskTokensMember}' is declared after it");
                return (null, 0);
            }
            resolved.Add(new("Tokens", taskTokensMember));
            if (source is null)
            {
                Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "a token sequence [B,N,D] to read", "no stage before it produces one");
                return (null, 0);
            }
            long d = width, s = sourceDim, hidden = (long)(width * mlpRatio);
            var selfAttention = 2 * d + (d * 3 * d + 3 * d) + (d * d + d);
            var crossAttention = 2 * d + 2 * s + (d * d + d) + (s * 2 * d + 2 * d) + (d * d + d) + 2 * d + (d * hidden + hidden) + (hidden * d + d);
            prefixTokens = 0;
            SetSequence(Shape.Of(batch, Dim.Constant(taskNames.Count == 0 ? 1 : taskNames.Count), Dim.Constant(width)), stage.Member);
            decoderMember = stage.Member;
            decoded = sequence;
            return (sequence, depth * (selfAttention + crossAttention) + 2 * d);
        }

        // Heads that read a task token: a classifier head naming a Task, a regression head, a mask head.
        private (Shape?, long) TaskHead(int index, StageSpec stage, List<Argument> resolved)
        {
            var task = ReadTask(index, stage, resolved);
            var width = taskWidth ?? 1;
            var declared = ParseInt(stage.Get("Dim"));
            if (declared is not null && declared != 0 && declared != width && decoded is not null)
                Report(Descriptors.WidthMismatch, DiagnosticTarget.Attribute(index, "Dim"), Fix(width), stage.Member, declared.Value, decoderMember!, width, decoded.Text);
            resolved.Add(new("Dim", width.ToString(CultureInfo.InvariantCulture)));
            long w = width;
            Shape output;
            long parameters;
            string description;
            switch (stage.Kind)
            {
                case StageKind.ClassifierHead:
                    foreach (var pooling in new[] { "Pool", "Also", "PoolHeads" })
                    {
                        if (stage.Get(pooling) is { } value)
                            Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, pooling), stage.Member, pooling, value,
                                $"no {pooling}: a task head reads its task token and does not pool");
                    }
                    var classes = PositiveInt(index, stage, "Classes", resolved, fallback: 1, "a positive number of classes");
                    output = Shape.Of(batch, Dim.Constant(classes));
                    parameters = w * classes + classes;
                    description = $"Class logits of task \"{task}\"{From(stage, task)}";
                    break;
                case StageKind.RegressionHead:
                    var outputs = PositiveInt(index, stage, "Outputs", resolved, fallback: 1, "a positive number of outputs", attributeDefault: 1);
                    output = Shape.Of(batch, Dim.Constant(outputs));
                    parameters = w * outputs + outputs;
                    description = $"Outputs of task \"{task}\"{From(stage, task)}";
                    break;
                default:
                    (output, parameters) = MaskHead(index, stage, resolved, width);
                    description = $"Mask logits of task \"{task}\"{From(stage, task)}, one per pixel";
                    break;
            }
            if (task is null)
            {
                broken.Add(index);
                return (null, 0);
            }
            if (decoded is null)
            {
                // The head reads the decoder's output in the emitted forward pass.
                broken.Add(index);
                if (!upstreamBroken)
                    Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "the decoded task tokens [B,T,D]",
                        decoderMember is null && spec.Stages.Any(s => s.Kind == StageKind.TaskDecoder)
                            ? "the [TaskDecoder] stage is declared after it"
                            : "no [TaskDecoder] stage comes before it");
                return (null, 0);
            }
            if (broken.Contains(index))
                return (null, 0);
            resolved.Add(new("Decoder", decoderMember!));
            heads[stage.Member] = new HeadInfo(stage.Kind, stage.Member, task, output);
            outputs.Add(new(stage.Member, output.Text, description));
            return (output, parameters);
        }

        private static string From(StageSpec head, string? task) => head.Member == task ? "" : $" from '{head.Member}'";

        // The task a head reads; null (reported) when it names none, or one another head reads.
        private string? ReadTask(int index, StageSpec stage, List<Argument> resolved)
        {
            var task = stage.Get("Task");
            var listed = string.Join(", ", taskNames.Select(t => $"\"{t}\""));
            if (taskTokensMember is null)
            {
                Report(Descriptors.TaskNotFound, DiagnosticTarget.Attribute(index, task is null ? null : "Task"), stage.Member, task ?? "",
                    task is null ? "is not set" : "has no token", " (the model declares no [TaskTokens] stage)");
                return null;
            }
            var unread = taskNames.Where(t => !headByTask.ContainsKey(t) && !spec.Stages.Any(s => StageCatalog.IsHead(s.Kind) && s.Get("Task") == t)).ToList();
            var fix = unread.Count == 1
                ? ImmutableDictionary<string, string?>.Empty.Add(ModelDiagnostic.FixValue, $"\"{unread[0]}\"")
                : ImmutableDictionary<string, string?>.Empty;
            if (task is null || !taskNames.Contains(task))
            {
                Report(Descriptors.TaskNotFound, DiagnosticTarget.Attribute(index, task is null ? null : "Task"), task is null ? ImmutableDictionary<string, string?>.Empty : fix,
                    stage.Member, task ?? "", task is null ? "is not set" : $"names no task of '{taskTokensMember}'", $"; the tasks are {listed}");
                return null;
            }
            if (headByTask.TryGetValue(task, out var other))
            {
                Report(Descriptors.TaskReadTwice, DiagnosticTarget.Attribute(index, "Task"), fix, stage.Member, task, other,
                    unread.Count > 0 ? $"; no head reads {string.Join(", ", unread.Select(t => $"\"{t}\""))}" : "");
                return null;
            }
            headByTask[task] = stage.Member;
            resolved.Add(new("Task", task));
            resolved.Add(new("TaskIndex", taskNames.IndexOf(task).ToString(CultureInfo.InvariantCulture)));
            return task;
        }

        // A mask head: per-patch features of an encoder and the image grid they came from.
        private (Shape, long) MaskHead(int index, StageSpec stage, List<Argument> resolved, int width)
        {
            var encoders = spec.Stages.Where(s => s.Kind == StageKind.TransformerEncoder).ToList();
            if (stage.Get("Over") is null && encoders.Count != 1)
                Report(Descriptors.BadReference, DiagnosticTarget.Attribute(index), stage.Member, "Over", "", "is not set", "TransformerEncoder",
                    encoders.Count == 0 ? " (the model has none)" : "; set Over = nameof(...)");
            CheckReference(index, stage, "Over", StageKind.TransformerEncoder);
            var over = stage.Get("Over") ?? SingleEncoder();
            Shape? source = null;
            if (over is not null && spec.Stages.Any(s => s.Member == over && s.Kind == StageKind.TransformerEncoder))
            {
                if (!outputsByMember.TryGetValue(over, out source) && !upstreamBroken)
                    Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index, stage.Get("Over") is null ? null : "Over"), stage.Member, $"the output of '{over}'", $"'{over}' is declared after it");
            }
            var patchStage = spec.Stages.FirstOrDefault(s => s.Kind is StageKind.PatchEmbedding or StageKind.ChannelPatchEmbedding);
            if (channelPatches && patchStage is not null)
            {
                Report(Descriptors.ConflictingStages, DiagnosticTarget.Member(index), stage.Member, patchStage.Member,
                    $"a mask head needs one token per image patch, and '{patchStage.Member}' makes one per channel and patch");
                source = null;
            }
            var (height, gridWidth, patch) = imageGrid ?? (Dim.Constant(1), Dim.Constant(1), 1);
            if (imageGrid is not null && (height.Value is null || gridWidth.Value is null))
            {
                var image = parsedInputs.First(i => i.Shape.Rank == 4);
                Report(Descriptors.InputRankMismatch, DiagnosticTarget.Attribute(index), stage.Member, image.Name, "an image [B,C,H,W] with a fixed height and width", image.Shape.Text);
                source = null;
            }
            var (h, wd) = ((int)(height.Value ?? 1), (int)(gridWidth.Value ?? 1));
            var sourceDim = (int)(source?.Last.Value ?? 1);
            var pixelDim = PositiveInt(index, stage, "PixelDim", resolved, fallback: 16, "a positive pixel embedding width", attributeDefault: 16);
            resolved.Add(new("Source", source is null ? "" : over!));
            resolved.Add(new("SourceDim", sourceDim.ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("PatchSize", patch.ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("GridHeight", Math.Max(h / patch, 1).ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("GridWidth", Math.Max(wd / patch, 1).ToString(CultureInfo.InvariantCulture)));
            resolved.Add(new("PrefixTokens", (over is not null && prefixByMember.TryGetValue(over, out var prefix) ? prefix : 0).ToString(CultureInfo.InvariantCulture)));
            if (source is null)
                broken.Add(index);
            long d = width, s = sourceDim, e = pixelDim, pp = (long)patch * patch;
            return (Shape.Of(batch, Dim.Constant(1), Dim.Constant(h), Dim.Constant(wd)), s * pp * e + pp * e + d * e + e);
        }

        // Each task should have a head, and each head a loss; otherwise its token only costs.
        private void CheckTasksTrained()
        {
            var index = spec.Stages.ToList().FindIndex(s => s.Member == taskTokensMember);
            // After an error (a head naming a wrong task, a loss reading a wrong head) the warning
            // would mostly repeat it.
            if (index < 0 || stages[index].Broken || Diagnostics.Any(d => d.Descriptor.DefaultSeverity == DiagnosticSeverity.Error))
                return;
            var names = spec.Stages[index].GetList("Names");
            foreach (var task in taskNames)
            {
                var argument = DiagnosticTarget.Attribute(index, $"Names[{names.IndexOf(task).ToString(CultureInfo.InvariantCulture)}]");
                if (!headByTask.TryGetValue(task, out var head))
                {
                    if (!spec.Stages.Any(s => StageCatalog.IsHead(s.Kind) && s.Get("Task") == task))
                        Report(Descriptors.TaskNotTrained, argument, task, taskTokensMember!, "has no head", "add a head with Task = \"" + task + "\", or remove the task");
                }
                else if (!lossByHead.ContainsKey(head) && heads.ContainsKey(head) && !spec.Stages.Any(s => StageCatalog.IsLoss(s.Kind) && s.Get("Of") == head))
                    Report(Descriptors.TaskNotTrained, argument, task, taskTokensMember!, $"is read by '{head}', which no loss reads",
                        $"add a [{LossFor(heads[head].Kind)}(nameof({head}))]");
            }
        }

        private static string LossFor(StageKind head) => head switch
        {
            StageKind.RegressionHead => "MseLoss",
            StageKind.MaskHead => "BinaryCrossEntropyLoss",
            _ => "CrossEntropyLoss",
        };

        // The tokens a stage reads by Over: the named encoder's output, or the sequence so far.
        private (Shape? Source, string? Name) ReadOver(int index, StageSpec stage)
        {
            CheckReference(index, stage, "Over", StageKind.TransformerEncoder);
            var source = sequence;
            var sourceName = sequenceSource;
            if (stage.Get("Over") is { } over && outputsByMember.TryGetValue(over, out var named) && spec.Stages.Any(s => s.Member == over && s.Kind == StageKind.TransformerEncoder))
                (source, sourceName) = (named, over);
            else if (stage.Get("Over") is { } later && spec.Stages.Any(s => s.Member == later && s.Kind == StageKind.TransformerEncoder))
                Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index, "Over"), stage.Member, $"the output of '{later}'", $"'{later}' is declared after it");
            return (source, sourceName);
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
            noWeightDecay.Add(StageCatalog.RegisteredName(stage));
            return (Shape.Of(Dim.Constant(depth), Dim.Constant(count), Dim.Constant(width)), (long)depth * count * width);
        }

        private (Shape?, long) Resampler(int index, StageSpec stage, List<Argument> resolved)
        {
            var (source, sourceName) = ReadOver(index, stage);
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

    /// <summary>What a loss can read: a head's kind, member, task (null for a classic head) and output shape.</summary>
    private sealed record HeadInfo(StageKind Kind, string Member, string? Task, Shape Output);

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
