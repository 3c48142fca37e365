using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using ModelDsl.Generators.Stages;

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

    internal static (ModelGraph Graph, ImmutableArray<ModelDiagnostic> Diagnostics) Compile(ModelSpec spec, EquatableArray<ModelSpec> towers, ImmutableArray<string> path)
    {
        var run = new CompileContext(spec) { Towers = towers, Path = path.Add(spec.TypeName) };
        run.Execute();
        return (run.ToGraph(), run.Diagnostics.ToImmutable());
    }

    internal sealed partial class CompileContext(ModelSpec spec)
    {
        internal ModelSpec Spec => spec;

        public readonly ImmutableArray<ModelDiagnostic>.Builder Diagnostics = ImmutableArray.CreateBuilder<ModelDiagnostic>();
        internal readonly List<GraphInput> inputs = [];
        internal readonly List<(string Name, Shape Shape)> parsedInputs = [];
        internal readonly List<GraphStage> stages = [];
        internal readonly List<GraphValue> outputs = [];
        internal readonly List<GraphValue> targets = [];
        internal readonly List<string> noWeightDecay = [];
        // Stages whose declaration cannot be built (wrong member type, a duplicate, an unusable
        // custom type): reported, then left out of the module so the rest still compiles.
        internal readonly HashSet<int> broken = [];

        // The token sequence [B,N,D] flowing through the stages, and who produced it last.
        internal Shape? sequence;
        internal string? sequenceSource;
        internal Dim batch = Dim.Symbol("B");
        internal Dim patchTokens = Dim.Constant(0);
        internal int prefixTokens;
        // The layout the (last) encoder processes, for the generated docs.
        internal string? encodedLayout;
        internal string? headMember;
        internal Shape? logits;
        // Set when an earlier error (an input shape, the forward method, the embedding) leaves the
        // sequence unknown: later stages then stay silent instead of reporting consequences.
        internal bool upstreamBroken;
        // The forward method cannot be completed (static, void, params/ref parameters): it and the training step are not emitted.
        internal bool forwardBroken;
        // The sequence's width is a fallback for a width that was reported wrong (Dim = 0): checks of what divides
        // it would report consequences of that error (and offer fixes such as Heads = 1).
        internal bool widthGuessed;
        internal readonly Dictionary<string, Shape> outputsByMember = [];
        // Prefix tokens (CLS, registers, deep prompts) at the front of each stage's output.
        internal readonly Dictionary<string, int> prefixByMember = [];

        // Task tokens: the model's one [TaskTokens] stage, its distinct task names in order, and
        // its width; the decoder that reads them; which head reads each task and which loss each head.
        internal string? taskTokensMember;
        internal readonly List<string> taskNames = [];
        internal int? taskWidth;
        internal string? decoderMember;
        internal Shape? decoded;
        internal readonly Dictionary<string, string> headByTask = [];
        internal readonly Dictionary<string, HeadInfo> heads = [];
        internal readonly Dictionary<string, string> lossByHead = [];
        internal readonly Dictionary<string, (string Shape, string Dtype, bool Optional, string Loss)> targetsByKey = [];
        // The image grid the patch embedding makes, for a mask head: height, width, patch size.
        internal (Dim Height, Dim Width, int Patch)? imageGrid;
        internal bool channelPatches;

        public void Execute()
        {
            if (!spec.IsPartial)
                Report(Descriptors.ModelNotPartial, DiagnosticTarget.Class, spec.ClassName);
            // The generated part is a class deriving from a TorchSharp module: a record or struct cannot be completed.
            if (spec.TypeKind != "class")
                Report(Descriptors.ModelNotClass, DiagnosticTarget.Class, spec.ClassName, spec.TypeKind);
            ReadForward();
            CheckStageMembers();
            ReadTaskNames();
            for (var i = 0; i < spec.Stages.Count; i++)
                stages.Add(Infer(i, spec.Stages[i]));
            CheckRegisteredNames();
            CheckGeneratedNames();
            if (decoderMember is not null && decoded is not null)
                outputs.Add(new(decoderMember, decoded.Text, $"The task tokens of '{taskTokensMember}' after '{decoderMember}', one per task in the order of '{taskTokensMember}'"));
            // An encoder-only model (no head, no projection) gives its token sequence: it is a valid tower.
            if (outputs.Count == 0 && sequence is { Rank: 3 } && sequenceSource is not null)
                outputs.Add(new("Tokens", sequence.Text, $"The token sequence of '{sequenceSource}'"));
            CheckTasksTrained();
            CheckInputsRead();
            if (stages.Count > 0 && stages.Any(s => s.Parameters > 0) && stages.All(s => s.Frozen || s.Parameters == 0))
                Report(Descriptors.NothingToTrain, DiagnosticTarget.Class, spec.ClassName);
        }

        // An input no stage reads would still have to be carried by every batch.
        private readonly HashSet<string> readInputs = [];

        /// <param name="dtype">What the reading stage needs (<c>Int64</c>, <c>Float</c>), checked at run time before any layer runs; null: the stage decides.</param>
        internal void MarkRead(string input, string? dtype = null)
        {
            readInputs.Add(input);
            var at = inputs.FindIndex(i => i.Name == input);
            if (dtype is not null && at >= 0 && inputs[at].Dtype is null)
                inputs[at] = inputs[at] with { Dtype = dtype };
        }

        private void CheckInputsRead()
        {
            // After an error a stage that would read an input may have stopped before it did.
            if (spec.Forward is null || Diagnostics.Any(d => d.Descriptor.DefaultSeverity == DiagnosticSeverity.Error))
                return;
            for (var i = 0; i < inputs.Count; i++)
            {
                if (inputs[i].Shape is null || readInputs.Contains(inputs[i].Name))
                    continue;
                Report(Descriptors.InputNotRead, DiagnosticTarget.Input(i), inputs[i].Name, inputs[i].Shape!, spec.Forward.Name);
            }
        }

        // Members the generated class declares besides the stages' fields; a stage or the forward method named like one
        // would be declared twice (a compiler error inside the generated file).
        private static readonly Dictionary<string, string> GeneratedMembers = new(StringComparer.Ordinal)
        {
            ["Summary"] = "the static shape table (Summary)",
            ["ForwardFeatures"] = "the features pass (ForwardFeatures)",
            ["ForwardHead"] = "the heads pass (ForwardHead)",
            ["HeadInputShape"] = "the heads pass's input shape (HeadInputShape)",
            ["PyTorchSource"] = "the PyTorch twin's source (PyTorchSource)",
            ["ExportPyTorch"] = "the PyTorch export (ExportPyTorch)",
            ["ParameterType"] = "the input dtype check's parameter type (ParameterType)",
            ["CreateBatch"] = "the training batch reader (CreateBatch)",
            ["TrainingStep"] = "the training step (TrainingStep)",
            ["ValidationStep"] = "the validation step (ValidationStep)",
            ["NoWeightDecayNames"] = "the no-weight-decay list (NoWeightDecayNames)",
            ["LoadPretrainedWeights"] = "the pretrained-weights loader (LoadPretrainedWeights)",
        };

        private void CheckGeneratedNames()
        {
            for (var i = 0; i < spec.Stages.Count; i++)
            {
                if (GeneratedMembers.TryGetValue(spec.Stages[i].Member, out var what))
                {
                    Report(Descriptors.MemberNameGenerated, DiagnosticTarget.Member(i), spec.Stages[i].Member, what);
                    stages[i] = new GraphStage(stages[i].Spec, "?", 0, false, EquatableArray<Argument>.Empty, Broken: true);
                }
            }
            if (spec.Forward is { } forward && GeneratedMembers.TryGetValue(forward.Name, out var taken))
                Report(Descriptors.MemberNameGenerated, DiagnosticTarget.Forward, forward.Name, taken);
            // A member whose name is a registered field name (its own snake_case name: 'head', '_') would be declared twice.
            var members = new HashSet<string>(spec.Stages.Select(s => s.Member), StringComparer.Ordinal);
            for (var i = 0; i < stages.Count; i++)
            {
                if (stages[i].Broken)
                    continue;
                if (FieldNames(stages[i]).FirstOrDefault(members.Contains) is { } field)
                {
                    Report(Descriptors.MemberNameGenerated, DiagnosticTarget.Member(i), field, $"the field '{field}' (the registered name of '{stages[i].Member}')");
                    stages[i] = new GraphStage(stages[i].Spec, "?", 0, false, EquatableArray<Argument>.Empty, Broken: true);
                }
            }
        }

        // Fields are named as their modules register (timm's names, or a member's snake_case name),
        // so a member named Norm next to an encoder's final norm would declare `norm` twice.
        internal void CheckRegisteredNames()
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

        internal static IEnumerable<string> FieldNames(GraphStage stage) =>
            StageDefinitions.Of(stage.Kind).Members(stage).Where(m => m.Role != MemberRole.Static).Select(m => m.Name);

        public ModelGraph ToGraph() => new(
            spec,
            inputs.ToEquatableArray(),
            stages.ToEquatableArray(),
            outputs.ToEquatableArray(),
            targets.ToEquatableArray(),
            noWeightDecay.ToEquatableArray(),
            prefixTokens,
            encodedLayout ?? "",
            forwardBroken);

        internal void ReadForward()
        {
            if (spec.Forward is not { } forward)
            {
                upstreamBroken = true;
                Report(Descriptors.ForwardMissing, DiagnosticTarget.Class, spec.ClassName, "");
                return;
            }
            if (!forward.IsPartial)
                Report(Descriptors.ForwardMissing, DiagnosticTarget.Forward, spec.ClassName, $" ('{forward.Name}' is not partial)");
            var problem = forward.Modifiers.Split(' ').Contains("static") ? "is static"
                : forward.ReturnType == "void" ? "returns void"
                : forward.Inputs.FirstOrDefault(i => i.RefKind.Length > 0) is { } odd ? $"takes '{odd.RefKind} {odd.Name}'"
                : forward.Inputs.FirstOrDefault(i => i.Type != "global::TorchSharp.torch.Tensor") is { } other ? $"takes '{ShortType(other.Type)} {other.Name}', not a Tensor"
                : null;
            if (problem is not null)
            {
                // Not completed: the user's partial method is reported by the compiler in the user's file.
                forwardBroken = true;
                Report(Descriptors.ForwardNotCompletable, DiagnosticTarget.Forward, forward.Name, problem, spec.ClassName);
            }

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

        internal void CheckStageMembers()
        {
            var firstOfKind = new Dictionary<StageKind, string>();
            // A model with task tokens has a head and a loss per task; one without has one of each.
            var taskModel = spec.Stages.Any(s => s.Kind == StageKind.TaskTokens);
            for (var i = 0; i < spec.Stages.Count; i++)
            {
                var stage = spec.Stages[i];
                var definition = StageDefinitions.Of(stage.Kind);
                if (!stage.IsPartial)
                    Report(Descriptors.StageNotPartial, DiagnosticTarget.Member(i), stage.Member, ShortType(definition.MemberType.Length == 0 ? stage.MemberType : definition.MemberType));
                foreach (var other in stage.OtherStageAttributes)
                    Report(Descriptors.ConflictingStageAttributes, DiagnosticTarget.Member(i), stage.Member, definition.ShortName, other);
                var modifiers = stage.Modifiers.Split(' ');
                if (modifiers.Contains("static") || stage.Accessors != "get")
                {
                    broken.Add(i);
                    Report(Descriptors.StageNotGetOnly, DiagnosticTarget.Member(i), stage.Member,
                        modifiers.Contains("static") ? "static" : $"declared with {{ {stage.Accessors}; }}",
                        ShortType(definition.MemberType.Length == 0 ? stage.MemberType : definition.MemberType));
                    continue;
                }
                foreach (var qualified in stage.Arguments.Where(a => a.Name.StartsWith("Qualifier.", StringComparison.Ordinal)))
                {
                    var argument = qualified.Name.Substring("Qualifier.".Length);
                    var member = qualified.Value.Substring(qualified.Value.LastIndexOf('.') + 1);
                    Report(Descriptors.NameofOtherType, DiagnosticTarget.Attribute(i, argument),
                        ImmutableDictionary<string, string?>.Empty.Add(ModelDiagnostic.FixValue, $"nameof({member})"),
                        stage.Member, argument, qualified.Value, member);
                }
                if (!definition.CheckMember(this, i, stage))
                    continue;
                if (definition.UniquenessGroup(stage, taskModel) is not { } group)
                    continue;
                if (firstOfKind.TryGetValue(group, out var first))
                {
                    broken.Add(i);
                    Report(Descriptors.DuplicateStage, DiagnosticTarget.Member(i), stage.Member, definition.ShortName, first);
                }
                else
                    firstOfKind[group] = stage.Member;
            }
        }

        internal GraphStage Infer(int index, StageSpec stage)
        {
            if (broken.Contains(index))
            {
                upstreamBroken = true;
                return new GraphStage(stage, "?", 0, false, EquatableArray<Argument>.Empty, Broken: true);
            }
            var definition = StageDefinitions.Of(stage.Kind);
            var resolved = new List<Argument>();
            var frozen = Bool(stage, "Frozen", resolved);
            var output = definition.Infer(this, index, stage, resolved);
            // A stage found unusable while inferring it (a task head naming no task, a second loss on
            // a head) is left out of the module like those found before.
            if (broken.Contains(index))
                return new GraphStage(stage, "?", 0, false, EquatableArray<Argument>.Empty, Broken: true);
            if (output is not null)
                outputsByMember[stage.Member] = output;
            prefixByMember[stage.Member] = prefixTokens;
            var built = new GraphStage(stage, output?.Text ?? "?", 0, frozen || FrozenWithin(stage), resolved.ToEquatableArray(), Inner: InnerStages(stage));
            // The count comes from the same layout as the weights check's table, never from a formula of its own.
            var layout = ParameterLayout.Counting();
            definition.Parameters(built, layout);
            var flops = output is null ? null : definition.Flops(this, built);
            return built with { Parameters = layout.Count, Flops = flops?.Flops ?? -1, PlainFlops = flops?.Plain ?? -1 };
        }

        // The head a loss reads: its Of, or the model's one head of the loss's kind.
        internal HeadInfo? ReadOf(int index, StageSpec stage, StageKind headKind)
        {
            var of = stage.Get("Of");
            if (of is not null && spec.Stages.FirstOrDefault(s => s.Member == of) is { } named && StageDefinitions.IsHead(named.Kind) && named.Kind != headKind)
            {
                var right = spec.Stages.Where(s => s.Kind == headKind).Select(s => s.Member).ToList();
                var fix = right.Count == 1
                    ? ImmutableDictionary<string, string?>.Empty.Add(ModelDiagnostic.FixValue, $"nameof({right[0]})")
                    : ImmutableDictionary<string, string?>.Empty;
                Report(Descriptors.LossReadsWrongHead, DiagnosticTarget.Attribute(index, "Of"), fix,
                    stage.Member, StageDefinitions.Of(stage.Kind).ShortName, of, StageDefinitions.Of(named.Kind).ShortName,
                    outputsByMember.TryGetValue(of, out var output) ? output.Text : "?", StageDefinitions.Of(headKind).ShortName,
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
                Report(Descriptors.BadReference, DiagnosticTarget.Attribute(index), stage.Member, "Of", "", "is not set", StageDefinitions.Of(headKind).ShortName,
                    $" (the model has {declared.Count}); set Of = nameof(...)");
                return null;
            }
            // Of unset with one head, or Of naming no head (reported above): the model's one head.
            return inferred.Count == 1 && (of is null || !spec.Stages.Any(s => s.Member == of && s.Kind == headKind)) ? inferred[0] : null;
        }

        // Adds a loss's target (and its presence mask) to the batch; false when the name is taken.
        internal bool AddTarget(int index, StageSpec stage, string key, Shape shape, string dtype, bool optional, string description)
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
        internal void ReadTaskNames()
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

        internal static bool IsTaskName(string name) =>
            name.Length > 0 && char.IsLetter(name[0]) && name.All(c => c < 128 && (char.IsLetterOrDigit(c) || c == '_'));


        internal static string From(StageSpec head, string? task) => head.Member == task ? "" : $" from '{head.Member}'";

        // The task a head reads; null (reported) when it names none, or one another head reads.
        internal string? ReadTask(int index, StageSpec stage, List<Argument> resolved)
        {
            var task = stage.Get("Task");
            var listed = string.Join(", ", taskNames.Select(t => $"\"{t}\""));
            if (taskTokensMember is null)
            {
                Report(Descriptors.TaskNotFound, DiagnosticTarget.Attribute(index, task is null ? null : "Task"), stage.Member, task ?? "",
                    task is null ? "is not set" : "has no token", " (the model declares no [TaskTokens] stage)");
                return null;
            }
            var unread = taskNames.Where(t => !headByTask.ContainsKey(t) && !spec.Stages.Any(s => StageDefinitions.IsHead(s.Kind) && s.Get("Task") == t)).ToList();
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


        // Each task should have a head, and each head a loss; otherwise its token only costs.
        internal void CheckTasksTrained()
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
                    if (!spec.Stages.Any(s => StageDefinitions.IsHead(s.Kind) && s.Get("Task") == task))
                        Report(Descriptors.TaskNotTrained, argument, task, taskTokensMember!, "has no head", "add a head with Task = \"" + task + "\", or remove the task");
                }
                else if (!lossByHead.ContainsKey(head) && heads.ContainsKey(head) && !spec.Stages.Any(s => StageDefinitions.IsLoss(s.Kind) && s.Get("Of") == head))
                    Report(Descriptors.TaskNotTrained, argument, task, taskTokensMember!, $"is read by '{head}', which no loss reads",
                        $"add a [{StageDefinitions.All.OfType<LossStage>().First(l => l.HeadKind == heads[head].Kind).ShortName}(nameof({head}))]");
            }
        }

        // The tokens a stage reads by Over: the named encoder's output, or the sequence so far.
        internal (Shape? Source, string? Name) ReadOver(int index, StageSpec stage)
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


        // Prefix tokens and positions are added right after the patch embedding (timm's _pos_embed),
        // so a stage that transforms the patches cannot sit between them.
        internal void RequireEmbeddingGroup(int index, StageSpec stage)
        {
            if (sequenceSource is null)
                return;
            var source = spec.Stages.First(s => s.Member == sequenceSource);
            if (StageDefinitions.Of(source.Kind).IsSequenceStart(source))
                return;
            Report(Descriptors.ConflictingStages, DiagnosticTarget.Member(index), stage.Member, sequenceSource,
                $"prefix tokens and positions join the sequence right after the patch embedding; declare '{stage.Member}' before '{sequenceSource}'");
        }

        internal string? SingleEncoder()
        {
            var encoders = spec.Stages.Where(s => s.Kind == StageKind.TransformerEncoder).ToList();
            return encoders.Count == 1 ? encoders[0].Member : null;
        }

        internal int EncoderDepth(StageSpec layerTokens)
        {
            var into = layerTokens.Get("Into") ?? SingleEncoder();
            var encoder = spec.Stages.FirstOrDefault(s => s.Member == into && s.Kind == StageKind.TransformerEncoder);
            return ParseInt(encoder?.Get("Depth")) is > 0 and var depth ? depth : 1;
        }

        /// <summary>
        /// The blocks a stage that acts inside an encoder covers (its <c>Layers</c>, all blocks when unset): the first
        /// and how many. A range that does not fit is reported (when <paramref name="report"/>) and read as all blocks.
        /// </summary>
        internal (int First, int Count) LayerRange(int index, StageSpec stage, bool report)
        {
            var depth = EncoderDepth(stage);
            if (stage.Get("Layers") is not { } text)
                return (0, depth);
            if (LayerRanges.TryParse(text, depth, out var first, out var last, out var problem))
                return (first, last - first + 1);
            if (report)
                Report(Descriptors.BadLayerRange, DiagnosticTarget.Attribute(index, "Layers"), stage.Member, text, problem,
                    stage.Get("Into") ?? SingleEncoder() ?? "the encoder", depth, depth - 1);
            return (0, depth);
        }

        /// <summary>The stages that act inside <paramref name="encoder"/> (deep prompts, query tokens, ...), those that add tokens first.</summary>
        internal List<StageSpec> HooksInto(StageSpec encoder) =>
            spec.Stages.Where((s, i) => !broken.Contains(i) && StageDefinitions.Of(s.Kind).IsEncoderHook && (s.Get("Into") ?? SingleEncoder()) == encoder.Member)
                .OrderBy(s => StageDefinitions.Of(s.Kind).AddsTokens ? 0 : 1)
                .ToList();

        internal void CheckReference(int index, StageSpec stage, string argument, StageKind kind)
        {
            if (stage.Get(argument) is not { } name)
                return;
            var named = spec.Stages.FirstOrDefault(s => s.Member == name);
            if (named?.Kind == kind)
                return;
            var candidates = spec.Stages.Where(s => s.Kind == kind).Select(s => s.Member).ToList();
            var problem = named is null ? "names no stage of the model" : $"is a [{StageDefinitions.Of(named.Kind).ShortName}] stage";
            var hint = candidates.Count == 1 ? $"; the model's one is '{candidates[0]}'" : "";
            var fix = candidates.Count == 1
                ? ImmutableDictionary<string, string?>.Empty.Add(ModelDiagnostic.FixValue, $"nameof({candidates[0]})")
                : ImmutableDictionary<string, string?>.Empty;
            Report(Descriptors.BadReference, DiagnosticTarget.Attribute(index, argument), fix,
                stage.Member, argument, name, problem, StageDefinitions.Of(kind).ShortName, hint);
        }

        // The width a stage receives; an explicit Dim must agree with it.
        internal int Width(int index, StageSpec stage, List<Argument> resolved, string needs)
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

        internal int Heads(int index, StageSpec stage, string argument, List<Argument> resolved, int width, int fallback = 1)
        {
            var heads = ParseInt(stage.Get(argument)) ?? (argument == "Heads" ? 0 : fallback);
            if (heads <= 0)
            {
                Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, stage.Get(argument) is null ? null : argument),
                    stage.Member, argument, heads, $"a positive number of attention heads that divides the width {width}");
                heads = 1;
            }
            else if (sequence is not null && !widthGuessed && width % heads != 0)
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
        internal int PositiveInt(int index, StageSpec stage, string argument, List<Argument> resolved, int fallback, string expected, int attributeDefault = 0)
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
        internal long DerivedSize(int index, StageSpec stage, string name, long value, List<Argument> resolved, string what)
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

        internal double PositiveDouble(int index, StageSpec stage, string argument, List<Argument> resolved, double fallback, string expected)
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

        internal static bool Bool(StageSpec stage, string argument, List<Argument> resolved)
        {
            var value = stage.Get(argument) == "true";
            resolved.Add(new(argument, value ? "true" : "false"));
            return value;
        }

        internal void SetSequence(Shape shape, string source)
        {
            sequence = shape;
            sequenceSource = source;
        }

        internal void Report(DiagnosticDescriptor descriptor, DiagnosticTarget target, params object[] arguments) =>
            Report(descriptor, target, ImmutableDictionary<string, string?>.Empty, arguments);

        internal void Report(DiagnosticDescriptor descriptor, DiagnosticTarget target, ImmutableDictionary<string, string?> properties, params object[] arguments) =>
            Diagnostics.Add(new ModelDiagnostic(descriptor, target,
                arguments.Select(a => Convert.ToString(a, CultureInfo.InvariantCulture) ?? "").ToEquatableArray(), properties));

        internal static ImmutableDictionary<string, string?> Fix(long? value) =>
            value is null
                ? ImmutableDictionary<string, string?>.Empty
                : ImmutableDictionary<string, string?>.Empty.Add(ModelDiagnostic.FixValue, value.Value.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>What a loss can read: a head's kind, member, task (null for a classic head) and output shape.</summary>
    /// <param name="OutputName">The forward output that holds it: <c>Logits</c> for the model's pooled head and cosine logits, else the member.</param>
    internal sealed record HeadInfo(StageKind Kind, string Member, string? Task, Shape Output, string OutputName);

    /// <summary>A custom stage's parameters are not known before its module is built.</summary>
    public const long UnknownParameters = -1;

    internal static bool IsPlainSymbol(Dim dim) => dim.Value is null && dim.Symbols.Count() == 1 && dim.Text == dim.Symbols.First();

    // Searches the divisors of the size (O(sqrt)), not the integers up to the wanted value: a
    // half-typed Heads = 2147483647 must not stall the editor.
    internal static int NearestDivisor(int width, int wanted) =>
        (int)Divisors(width).OrderBy(d => Math.Abs(d - (long)wanted)).ThenBy(d => d).First();

    internal static long? CommonDivisorNear(long? height, long? width, int wanted)
    {
        if (height is null && width is null) return null;
        var common = height is { } h && width is { } w ? Gcd(h, w) : height ?? width!.Value;
        return Divisors(common).Where(d => d > 1).OrderBy(d => Math.Abs(d - (long)wanted)).ThenBy(d => d).Cast<long?>().FirstOrDefault();
    }

    // d <= n / d, not d * d <= n, which overflows for n near long.MaxValue and never ends; and at
    // most a million steps, so an image side of 2^62 still gets its suggestion (from the divisors
    // up to a million and their cofactors) while the editor waits milliseconds, not minutes.
    internal const long MaxDivisorSearch = 1 << 20;

    internal static IEnumerable<long> Divisors(long n)
    {
        for (long d = 1; d <= n / d && d <= MaxDivisorSearch; d++)
        {
            if (n % d != 0) continue;
            yield return d;
            if (d != n / d) yield return n / d;
        }
    }

    internal static long Gcd(long a, long b) => b == 0 ? Math.Abs(a) : Gcd(b, a % b);

    internal static int? ParseInt(string? text) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

    internal static double? ParseDouble(string? text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : null;

    internal static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    internal static string ShortType(string type) => type.Substring(type.LastIndexOf('.') + 1);

    internal static string Pascal(string name) => name.Length == 0 ? name : char.ToUpperInvariant(name[0]) + name.Substring(1);
}
