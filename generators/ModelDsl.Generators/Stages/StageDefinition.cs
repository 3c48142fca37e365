using System;
using System.Collections.Generic;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Emit;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;

namespace ModelDsl.Generators.Stages;

/// <summary>
/// Everything the generator knows about one stage kind, in one place: its attribute and member type, how its
/// arguments are checked and its output shape inferred, the parameters it registers (names and shapes, from which
/// the counts are derived), the members it adds to the generated class, and its statements in the forward pass.
/// A definition's class is its registration: <see cref="StageDefinitions.All"/> finds it by its type.
/// </summary>
/// <remarks>
/// Adding a kind is its attribute (src/ModelDsl/Attributes.cs), a definition here, and its runtime block:
/// docs/architecture.md walks through it.
/// </remarks>
internal abstract class StageDefinition
{
    protected const string Parameter = "global::TorchSharp.Modules.Parameter";

    protected StageDefinition(StageKind kind, string attribute, string memberType, string timmName = "")
    {
        Kind = kind;
        AttributeName = "ModelDsl." + attribute + "Attribute";
        ShortName = attribute;
        MemberType = memberType;
        TimmName = timmName;
    }

    public StageKind Kind { get; }

    /// <summary>The attribute's metadata name: <c>ModelDsl.PatchEmbeddingAttribute</c>.</summary>
    public string AttributeName { get; }

    /// <summary>The attribute as written in source, without the suffix: <c>PatchEmbedding</c>.</summary>
    public string ShortName { get; }

    /// <summary>The type the stage property must have; empty when the user chooses it (a tower, a custom module).</summary>
    public string MemberType { get; }

    /// <summary>The registered (state_dict) name timm uses for this kind; empty: the member's snake_case name.</summary>
    public string TimmName { get; }

    /// <summary>Heads produce what losses read.</summary>
    public virtual bool IsHead => false;

    /// <summary>What a head of this kind gives, for messages: <c>a classifier head's logits [B,C]</c>.</summary>
    public virtual string HeadOutput => "";

    /// <summary>
    /// Tokens this stage places where the sequence starts (with the patches or another content stage): in front of
    /// the content (<see cref="Placement.Prefix"/>, ordered by rank: CLS 0, registers 1, others 2) or after it.
    /// Null for a stage that places none. The position table and the forward pass's assembly are derived from it.
    /// </summary>
    public virtual (Placement Place, int Rank)? PlacedTokens(StageSpec stage) => null;

    /// <summary>How many tokens <see cref="PlacedTokens"/> places, read from the declaration (0 when its count is wrong).</summary>
    public virtual int PlacedCount(StageSpec stage) => 0;

    /// <summary>The tokens it places, <c>[1,n,D]</c> or <c>[B,n,D]</c>, as the forward pass prepends or appends them.</summary>
    public virtual string PlacedExpression(GraphStage stage) => EmitText.Registered(stage);

    /// <summary>Losses read a head and a target of the batch.</summary>
    public virtual bool IsLoss => false;

    /// <summary>
    /// The stage reads the finished token sequence (heads, projections, decoders, losses): the forward pass's
    /// features part (timm's <c>forward_features</c>) ends before the first such stage.
    /// </summary>
    public virtual bool IsHeadPart => IsHead || IsLoss;

    /// <summary>
    /// The stage acts inside the encoder named by its <c>Into</c>, on the blocks of its <c>Layers</c>: the encoder passes
    /// <see cref="HookExpression"/> (a <c>Blocks.EncoderHook</c>) to <c>TransformerEncoder.Forward</c>.
    /// </summary>
    public virtual bool IsEncoderHook => false;

    /// <summary>The hook adds tokens to the sequence inside the encoder (deep prompts), at an offset the encoder gives it.</summary>
    public virtual bool AddsTokens => false;

    /// <summary>How many tokens the hook adds, read from the declaration (0 when its count is wrong, which is reported).</summary>
    public virtual int TokensAdded(StageSpec stage) => 0;

    /// <summary>The hook object the encoder's forward pass receives, given the encoder's resolved arguments.</summary>
    public virtual string HookExpression(GraphStage stage, GraphStage encoder) => throw new System.NotSupportedException($"[{ShortName}] does not act inside an encoder.");

    /// <summary>Statements after the encoder ran with this hook (reading what it collected); the hook is in the local <c>{member}Hook</c> when this writes anything.</summary>
    public virtual bool HasHookOutputs => false;

    /// <summary>Writes what the hook collected into locals, after the encoder ran.</summary>
    public virtual void AfterEncoder(ForwardWriter f, GraphStage stage)
    {
    }

    /// <summary>
    /// For a hook that acts inside its encoder's blocks (routing, merging, pruning): what block <paramref name="block"/> works
    /// on when <paramref name="tokens"/> enter it (the first <paramref name="prefix"/> of them prefix tokens), given the hook's
    /// blocks <paramref name="range"/>; null where the hook leaves the block alone. The encoder derives the sequence length
    /// after each block from it (the shapes after merging or pruning), the Summary the blocks' FLOPs.
    /// </summary>
    public virtual BlockTokens? InsideBlock(StageSpec hook, (int First, int Count) range, int block, int tokens, int prefix) => null;

    /// <summary>
    /// Forward FLOPs of one sample at the declared sizes, counted as 2 x the multiply-adds of the stage's matrix products
    /// (linear layers, patch projections, attention scores and weighted sums; norms, activations, softmax, additions and
    /// the matching/ranking inside merging and pruning are not counted), and the same without the stages that act inside
    /// the encoder's blocks (what routing, merging and pruning save). Called right after <see cref="Infer"/>, so
    /// <c>c.sequence</c> is the stage's output. Null: not counted (the Summary shows <c>?</c>).
    /// </summary>
    public virtual (long Flops, long Plain)? Flops(ModelCompiler.CompileContext c, GraphStage stage) => null;

    /// <summary>2 x the product of the factors (one matrix product's FLOPs), saturating at <see cref="long.MaxValue"/>.</summary>
    protected static long MatMul(params long[] factors)
    {
        long product = 2;
        foreach (var factor in factors)
            product = Saturating.Multiply(product, factor);
        return product;
    }

    /// <summary>
    /// The stage is part of how the token sequence starts (the patches, or a user stage reading an input, then the
    /// prefix tokens and positions): prefix tokens and positions may follow it directly.
    /// </summary>
    public virtual bool IsSequenceStart(StageSpec stage) => false;

    /// <summary>What the Summary's kind column shows.</summary>
    public virtual string KindName(StageSpec stage) => Kind.ToString();

    /// <summary>The registered name of a stage's main member.</summary>
    public virtual string RegisteredName(StageSpec stage) => TimmName.Length > 0 ? TimmName : StageCatalog.SnakeCase(stage.Member);

    /// <summary>Stages of which a model has at most one share a group (null: any number).</summary>
    public virtual StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => Kind;

    /// <summary>
    /// Checks the member itself (its type) before any shape is inferred; false when nothing more is to be checked
    /// of it here (a stage found unusable is added to the context's broken stages).
    /// </summary>
    public virtual bool CheckMember(ModelCompiler.CompileContext c, int index, StageSpec stage)
    {
        if (stage.MemberType == MemberType)
            return true;
        c.broken.Add(index);
        c.Report(Descriptors.WrongMemberType, DiagnosticTarget.Member(index), stage.Member, ShortName, ModelCompiler.ShortType(MemberType), ModelCompiler.ShortType(stage.MemberType));
        return true;
    }

    /// <summary>
    /// Checks the stage's arguments, adds the values the emitter reads to <paramref name="resolved"/> and returns
    /// its output shape (null when it cannot be known; then the stage reports why, unless an earlier error explains it).
    /// </summary>
    public abstract Shape? Infer(ModelCompiler.CompileContext c, int index, StageSpec stage, List<Argument> resolved);

    /// <summary>The parameters the stage registers, in TorchSharp's order; the Summary's counts are derived from them.</summary>
    public virtual void Parameters(GraphStage stage, ParameterLayout layout)
    {
    }

    /// <summary>The fields the stage adds to the generated class, each with its construction, in registration order.</summary>
    public virtual IEnumerable<StageMember> Members(GraphStage stage) => [];

    /// <summary>The stages whose outputs this stage reads by name (the forward pass keeps them in locals); empty names are ignored.</summary>
    public virtual IEnumerable<string> Reads(GraphStage stage) => [];

    /// <summary>The stage's statements in the forward pass.</summary>
    public virtual void Forward(ForwardWriter f, GraphStage stage)
    {
    }

    /// <summary>
    /// The stage in the model's PyTorch twin (<c>ExportPyTorch</c>): the <c>__init__</c> statements that register its
    /// modules and parameters under the names <see cref="Members"/> registers, built from <c>modeldsl_torch.layers</c>.
    /// Its forward statements are written by <see cref="Forward"/> through <see cref="ForwardWriter.Python"/>, next to the
    /// C# ones. Null when this kind, or this configuration of it, has no twin yet: the export then names the stage.
    /// </summary>
    public virtual IEnumerable<string>? PyTorchMembers(GraphStage stage) => null;

    /// <summary>
    /// A loss's term in the twin's <c>training_step</c> (the C# <c>TrainingStep</c>'s): its Python expression over
    /// <c>outputs</c> (the forward's named outputs) and <c>batch</c> (the batch's tensors by name), and the metrics it
    /// logs. Null for a kind that is not a loss, or a loss with no twin yet (the twin then has no training_step).
    /// </summary>
    public virtual (string Loss, IReadOnlyList<(string Name, string Expression)> Metrics)? PyTorchTraining(GraphStage stage) => null;

    /// <summary>Whether this encoder hook has a twin (<see cref="PyTorchHookExpression"/>); an encoder's twin needs one for every hook.</summary>
    public virtual bool HasPyTorchHook => false;

    /// <summary>An encoder hook's twin: the Python expression of its <c>modeldsl_torch.layers</c> hook; null when it has none yet.</summary>
    public virtual string? PyTorchHookExpression(GraphStage stage, GraphStage encoder) => null;

    /// <summary>The Python expression of the tokens a placed stage contributes (<see cref="PlacedExpression"/>'s twin).</summary>
    public virtual string PyTorchPlacedExpression(GraphStage stage) => "self." + EmitText.Registered(stage);

    /// <summary>The stage adds a term of its own to the training objective (a distillation, a regulariser): a model with one is trainable.</summary>
    public virtual bool AddsToObjective => false;

    /// <summary>
    /// Writes the stage's term into the training step, after <c>objective</c> and <c>output</c> exist (<c>objective = objective + ...;</c>),
    /// and returns the metric it logs with the local that holds it; only called when <see cref="AddsToObjective"/>.
    /// </summary>
    public virtual (string Metric, string Local) WriteObjectiveTerm(CodeWriter w, GraphStage stage) => throw new System.NotSupportedException($"[{ShortName}] adds nothing to the objective.");
    /// <summary>Interfaces the generated class implements because of this stage (fully qualified).</summary>
    public virtual IEnumerable<string> Interfaces(GraphStage stage) => [];

    /// <summary>Members of the generated class beyond the stage's property (interface members, methods such as <c>Generate</c>).</summary>
    public virtual void ClassMembers(CodeWriter w, GraphStage stage, ModelGraph graph)
    {
    }

    /// <summary>
    /// How published files of this stage's architecture name its tensors (see <c>ParameterTable.FileNameMap</c>): a file name to
    /// the registered name, or to null for a tensor that is not a weight. Null: the registered names as they are.
    /// </summary>
    public virtual System.Func<string, string?>? FileNameMap(GraphStage stage) => null;

    /// <summary>A module member registered under <paramref name="name"/>.</summary>
    protected static StageMember Module(string name, string type, string construction) => new(name, type, construction, MemberRole.Module);

    /// <summary>A parameter the model registers itself.</summary>
    protected static StageMember OwnParameter(string name, string construction) => new(name, Parameter, construction, MemberRole.Parameter);
}

/// <summary>What one encoder block works on under a hook that acts inside it.</summary>
/// <param name="Attention">Tokens through the attention (routing sends only the chosen ones).</param>
/// <param name="Mlp">Tokens through the MLP (merging and pruning act between the attention and the MLP).</param>
/// <param name="After">Tokens leaving the block.</param>
/// <param name="Routed">Tokens a router scores before the block (0: no router).</param>
public readonly record struct BlockTokens(int Attention, int Mlp, int After, int Routed = 0);

public enum Placement
{
    Prefix,
    AfterContent,
}

public enum MemberRole
{
    /// <summary><c>register_module</c>.</summary>
    Module,
    /// <summary><c>register_parameter</c>; the field is not readonly, since <c>Module.to()</c> replaces it.</summary>
    Parameter,
    /// <summary>A field that holds no state (a loss, a flag): constructed, not registered.</summary>
    Field,
    /// <summary>A static readonly field, written after the instance fields.</summary>
    Static,
}

/// <summary>A field of the generated class: its name (the registered name), type, construction and role.</summary>
/// <param name="Construction">The right-hand side of its assignment in the constructor (the initializer of a static); null: none.</param>
public sealed record StageMember(string Name, string Type, string? Construction, MemberRole Role)
{
    public bool IsRegistered => Role is MemberRole.Module or MemberRole.Parameter;
}
