using System;

namespace ModelDsl;

// The declaration language. Each attribute describes one stage of a [Model] class; the members are
// read by the ModelDsl generator and analyzers at compile time, never by reflection at run time.
// An integer argument left at 0 means "inferred from the connected stages".

/// <summary>Marks a <c>partial</c> class as a model: the generator emits its TorchSharp module.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ModelAttribute : Attribute
{
    /// <summary>
    /// The parameter budget: a declaration with more parameters is a warning (MD0054) before anything runs. 0 takes
    /// <c>modeldsl.max_parameters</c> from .editorconfig, else 1,000,000,000 (4 GB as fp32).
    /// </summary>
    public long MaxParameters { get; set; }

    /// <summary>
    /// The compute budget: forward FLOPs per sample at the declared sizes (the Summary's count) above it are a warning
    /// (MD0055). 0 takes <c>modeldsl.max_flops</c> from .editorconfig, else 1,000,000,000,000 (about three ViT-H/14 at 224).
    /// </summary>
    public long MaxFlops { get; set; }
}

/// <summary>The symbolic shape of a forward input, e.g. <c>"B,1,28,28"</c>.</summary>
[AttributeUsage(AttributeTargets.Parameter, Inherited = false)]
public sealed class ShapeAttribute(string shape) : Attribute
{
    public string Shape { get; } = shape;
}

/// <summary>Image <c>[B,C,H,W]</c> to patch tokens <c>[B,(H/P)*(W/P),D]</c> (timm <c>patch_embed</c>).</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class PatchEmbeddingAttribute : Attribute
{
    public int PatchSize { get; set; }
    public int Dim { get; set; }
    /// <summary>The forward input it reads, by name; the one image input <c>[B,C,H,W]</c> when unset.</summary>
    public string? Input { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>One learnable CLS token <c>[1,1,D]</c>, placed in front of the patch tokens (timm <c>cls_token</c>).</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class ClsTokenAttribute : Attribute
{
    public int Dim { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>Learnable register tokens <c>[1,Count,D]</c>, placed after the CLS token (timm <c>reg_token</c>).</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class RegisterTokensAttribute : Attribute
{
    public int Count { get; set; }
    public int Dim { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>Which tokens a learned position table covers (timm <c>no_embed_class</c>).</summary>
public enum PositionCoverage
{
    /// <summary>One row per token, prefix tokens included: timm's default.</summary>
    PrefixAndPatches,
    /// <summary>One row per patch; prefix tokens get none (timm <c>no_embed_class=True</c>).</summary>
    PatchesOnly,
    /// <summary>One row per token of the whole sequence: prefix tokens, patches and the tokens after them.</summary>
    All,
}

/// <summary>
/// A bank of learnable token sets <c>[Banks,Count,D]</c>, one set chosen per sample by an integer input (a domain,
/// a task id, a speaker): sample <c>b</c> gets the set <c>SelectBy[b]</c>, placed as <see cref="TokensAttribute"/>
/// tokens are. Registered under the member's snake_case name, left out of weight decay.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class TokenBankAttribute : Attribute
{
    public int Banks { get; set; }
    public int Count { get; set; }
    /// <summary>The forward input <c>[B]</c> (int64 indices in <c>0..Banks-1</c>) that chooses each sample's set, as <c>nameof(input)</c>.</summary>
    public string? SelectBy { get; set; }
    public Place Place { get; set; }
    public int Dim { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>Where <see cref="TokensAttribute"/> tokens go in the sequence.</summary>
public enum Place
{
    /// <summary>In front of the content, after the CLS and register tokens.</summary>
    Prefix,
    /// <summary>After the content (the patches): <c>[CLS | patches | these]</c>.</summary>
    AfterContent,
}

/// <summary>
/// Learnable tokens <c>[1,Count,D]</c> placed in the token sequence (<see cref="Place"/>): summary or register
/// tokens after the patches, extra prefix tokens. A head can read them by name (<c>Reads = nameof(Member)</c>);
/// registered under the member's snake_case name, left out of weight decay.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class TokensAttribute : Attribute
{
    public int Count { get; set; }
    public Place Place { get; set; }
    public int Dim { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>A learned position table <c>[1,L,D]</c> added to the token sequence (timm <c>pos_embed</c>).</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class PositionEmbeddingAttribute : Attribute
{
    public PositionCoverage Covers { get; set; }
    public int Dim { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>A pre-norm transformer encoder with fused scaled-dot-product attention (timm <c>blocks</c> + <c>norm</c>).</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class TransformerEncoderAttribute : Attribute
{
    public int Depth { get; set; }
    public int Heads { get; set; }
    public double MlpRatio { get; set; } = AttributeDefaults.MlpRatio;
    public int Dim { get; set; }
    /// <summary>Each token attends only to itself and earlier tokens (a text encoder, as in CLIP).</summary>
    public bool Causal { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>How a classifier head reduces the token sequence to one vector (timm <c>global_pool</c>).</summary>
public enum Pool
{
    /// <summary>The CLS token's output.</summary>
    Cls,
    /// <summary>The mean over patch tokens; prefix tokens are excluded.</summary>
    Avg,
    /// <summary>Multihead attention pooling with a learnable query (timm <c>map</c>).</summary>
    Map,
    /// <summary>With <c>Reads</c>: the first token of the segment.</summary>
    First,
    /// <summary>With <c>Reads</c>: the last token of the segment.</summary>
    Last,
}

/// <summary>Pools the token sequence and maps it to class logits <c>[B,Classes]</c> (timm <c>head</c>).</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class ClassifierHeadAttribute : Attribute
{
    public int Classes { get; set; }
    public Pool Pool { get; set; }
    public int Dim { get; set; }
    /// <summary>Heads of the attention pool; used only with <see cref="Pool.Map"/>.</summary>
    public int PoolHeads { get; set; }
    /// <summary>Query tokens whose per-block outputs are concatenated with the pooled vector (VQT), as <c>nameof(Queries)</c>.</summary>
    public string? Also { get; set; }
    /// <summary>
    /// The segment of the token sequence it reads, by the member that placed it (<c>nameof(Summary)</c>, the CLS token,
    /// the patches' stage), pooled by <see cref="Pool"/> (<see cref="Pool.Avg"/>: the mean; <see cref="Pool.First"/>,
    /// <see cref="Pool.Last"/>). Such a head is registered and output under its member's name, next to any other head.
    /// </summary>
    public string? Reads { get; set; }
    /// <summary>
    /// The task whose token the head reads, one of the model's <see cref="TaskTokensAttribute"/> names:
    /// <c>[B,D] -> [B,Classes]</c> from the <see cref="TaskDecoderAttribute"/>'s output; there is no pooling.
    /// </summary>
    public string? Task { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>Cross-entropy between a <see cref="ClassifierHeadAttribute"/>'s logits and an integer class target, with label smoothing.</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class CrossEntropyLossAttribute : Attribute
{
    public CrossEntropyLossAttribute() { }

    /// <param name="of">The head whose logits the loss reads, as <c>nameof(Head)</c>.</param>
    public CrossEntropyLossAttribute(string of) => Of = of;

    /// <summary>The head whose logits the loss reads, as <c>nameof(Head)</c>; optional when the model has one head.</summary>
    public string? Of { get; set; }

    public double LabelSmoothing { get; set; }
    /// <summary>The batch tensor that holds the class indices <c>[B]</c>: <c>label</c> when not set, or a task head's task name in snake_case.</summary>
    public string? Target { get; set; }
    /// <summary>The loss's weight in the model's objective, a weighted sum when the model has several losses.</summary>
    public double Weight { get; set; } = AttributeDefaults.LossWeight;
    /// <summary>
    /// Not every sample carries the target: the batch also holds <c>{Target}_present</c> <c>[B]</c> (bool or 0/1),
    /// and the loss and its metric average over the present samples only (0 when a batch has none).
    /// </summary>
    public bool Optional { get; set; }
}

/// <summary>Mean squared error between a <see cref="RegressionHeadAttribute"/>'s outputs <c>[B,Outputs]</c> and a float target of that shape; logs the mean absolute error.</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class MseLossAttribute : Attribute
{
    public MseLossAttribute() { }

    /// <param name="of">The regression head the loss reads, as <c>nameof(Head)</c>.</param>
    public MseLossAttribute(string of) => Of = of;

    /// <summary>The regression head the loss reads, as <c>nameof(Head)</c>; optional when the model has one head.</summary>
    public string? Of { get; set; }
    /// <summary>The batch tensor that holds the targets: the head's task name in snake_case when not set.</summary>
    public string? Target { get; set; }
    /// <inheritdoc cref="CrossEntropyLossAttribute.Weight"/>
    public double Weight { get; set; } = AttributeDefaults.LossWeight;
    /// <inheritdoc cref="CrossEntropyLossAttribute.Optional"/>
    public bool Optional { get; set; }
}

/// <summary>Per-pixel binary cross-entropy between a <see cref="MaskHeadAttribute"/>'s logits <c>[B,1,H,W]</c> and a 0/1 float mask; logs the mask IoU.</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class BinaryCrossEntropyLossAttribute : Attribute
{
    public BinaryCrossEntropyLossAttribute() { }

    /// <param name="of">The mask head the loss reads, as <c>nameof(Head)</c>.</param>
    public BinaryCrossEntropyLossAttribute(string of) => Of = of;

    /// <summary>The mask head the loss reads, as <c>nameof(Head)</c>; optional when the model has one head.</summary>
    public string? Of { get; set; }
    /// <summary>The batch tensor that holds the masks: the head's task name in snake_case when not set.</summary>
    public string? Target { get; set; }
    /// <inheritdoc cref="CrossEntropyLossAttribute.Weight"/>
    public double Weight { get; set; } = AttributeDefaults.LossWeight;
    /// <inheritdoc cref="CrossEntropyLossAttribute.Optional"/>
    public bool Optional { get; set; }
}

/// <summary>
/// One learnable token per named task, <c>[1,T,D]</c> (FaceXFormer's task tokens, HoliSafe's meta
/// token): a <see cref="TaskDecoderAttribute"/> lets them read the backbone, then each task's head
/// reads its own token. Names are identifiers; metrics are logged under them in snake_case.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class TaskTokensAttribute(params string[] names) : Attribute
{
    public string[] Names { get; } = names;
    public int Dim { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>
/// A small transformer decoder whose queries are the model's task tokens: per layer, self-attention
/// among the task tokens, cross-attention over the tokens of the stage named by <c>Over</c> (which
/// may have another width), and an MLP, then a final norm: <c>[1,T,D]</c>, <c>[B,N,Ds] -> [B,T,D]</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class TaskDecoderAttribute : Attribute
{
    public int Depth { get; set; } = AttributeDefaults.DecoderDepth;
    public int Heads { get; set; }
    /// <summary>The encoder whose tokens the task tokens read, as <c>nameof(Encoder)</c>; default: the sequence so far.</summary>
    public string? Over { get; set; }
    public double MlpRatio { get; set; } = AttributeDefaults.MlpRatio;
    public bool Frozen { get; set; }
}

/// <summary>A linear map of a task's decoded token to real-valued outputs: <c>[B,D] -> [B,Outputs]</c>.</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class RegressionHeadAttribute : Attribute
{
    /// <summary>The task whose token the head reads.</summary>
    public string? Task { get; set; }
    /// <summary>Instead of a task: the segment of the token sequence it reads (<c>nameof(Summary)</c>), pooled by <see cref="Pool"/>.</summary>
    public string? Reads { get; set; }
    /// <summary>How a segment it <see cref="Reads"/> is pooled: <see cref="Pool.Avg"/> (the mean), <see cref="Pool.First"/> or <see cref="Pool.Last"/>.</summary>
    public Pool Pool { get; set; } = Pool.Avg;
    public int Outputs { get; set; } = AttributeDefaults.RegressionOutputs;
    public bool Frozen { get; set; }
}

/// <summary>
/// A binary mask from a task token and the per-patch features of an encoder (FaceXFormer-style):
/// each patch token is projected to <c>P*P</c> sub-pixel embeddings of width <c>PixelDim</c>, and each
/// pixel's logit is the dot product of its embedding with the projected task token:
/// <c>[B,D]</c>, <c>[B,N,Ds] -> [B,1,H,W]</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class MaskHeadAttribute : Attribute
{
    /// <summary>The task whose token the head reads.</summary>
    public string? Task { get; set; }
    /// <summary>The encoder whose patch tokens give the pixels, as <c>nameof(Encoder)</c>; optional when the model has one encoder.</summary>
    public string? Over { get; set; }
    /// <summary>The width of each pixel's embedding: the head has <c>Ds*P*P*PixelDim</c> weights for the pixels.</summary>
    public int PixelDim { get; set; } = AttributeDefaults.MaskPixelDim;
    public bool Frozen { get; set; }
}

/// <summary>
/// Makes a TorchSharp module of your own a stage kind, checked like a built-in one. The contract names the
/// dimensions of what it reads and what it gives, e.g. <c>"B,C,H,W -> B,C*(H/P)*(W/P),D"</c>: the left side binds to
/// the tensor it receives (the token sequence, or the forward input its <see cref="UseStageAttribute.Input"/> names),
/// <see cref="UseStageAttribute.Sizes"/> binds the stage's own sizes (<c>"P=7,D=64"</c>), and the right side is its
/// output shape, which the next stage is checked against. Its public constructor receives the bound sizes by name
/// (a parameter <c>int D</c> gets the width), so nothing is hard-coded; its parameters are declared with
/// <see cref="StageParameterAttribute"/>, so the Summary counts them and the build-time weights check knows them.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class StageAttribute(string contract) : Attribute
{
    public string Contract { get; } = contract;
}

/// <summary>
/// A parameter of a <see cref="StageAttribute"/> module, by its name under the module (<c>"proj.weight"</c>) and its
/// shape over the contract's dimensions (<c>"D,1,P,P"</c>), in the order <c>named_parameters()</c> lists them (the
/// module's own parameters first, then each submodule's). The generated model checks the module's real parameters
/// against these when it is built.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class StageParameterAttribute(string name, string shape) : Attribute
{
    public string Name { get; } = name;
    public string Shape { get; } = shape;
    /// <summary>Tokens and embeddings: left out of weight decay, as timm's <c>no_weight_decay()</c> does.</summary>
    public bool NoWeightDecay { get; set; }
}

/// <summary>Uses a <see cref="StageAttribute"/> module of your own as a stage of the model.</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class UseStageAttribute : Attribute
{
    /// <summary>The forward input it reads, by name; it then starts the token sequence. Unset: it reads the token sequence so far.</summary>
    public string? Input { get; set; }
    /// <summary>The stage's own sizes, the contract dimensions no input gives: <c>"P=7,D=64"</c>.</summary>
    public string? Sizes { get; set; }
    /// <summary>Its registered (state_dict) name; the member's snake_case name when unset (<c>"patch_embed"</c> to load timm's weights).</summary>
    public string? RegisteredAs { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>
/// The escape hatch: a TorchSharp module of your own (<c>Module&lt;Tensor,Tensor&gt;</c> with a public
/// parameterless constructor) used as a stage on the token sequence. The contract, e.g.
/// <c>"B,N,D -> B,N,D*2"</c>, is checked against the neighbouring stages at compile time and
/// against the real tensors on the module's first call.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class CustomModuleAttribute(string contract) : Attribute
{
    public string Contract { get; } = contract;
    public bool Frozen { get; set; }
}

/// <summary>
/// VPT-deep: <c>Count</c> learnable prompt tokens per block of the encoder named by <c>Into</c> (of the blocks in
/// <c>Layers</c>, all by default), <c>[L,Count,D]</c>. They enter after the prefix tokens before the first block of the
/// range; each later block of the range replaces the previous block's prompt slice, so the sequence length stays
/// constant; after the range the prompts stay in the sequence (official VPT).
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class DeepPromptTokensAttribute : Attribute
{
    public int Count { get; set; }
    /// <summary>The encoder, as <c>nameof(Encoder)</c>.</summary>
    public string? Into { get; set; }
    /// <summary>The blocks they act on, both ends included: <c>"0..5"</c>, <c>"6.."</c> (to the last), <c>"..3"</c>, <c>"4"</c>; all blocks when unset.</summary>
    public string? Layers { get; set; }
    public int Dim { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>
/// VQT: <c>Count</c> learnable query tokens per block of the encoder named by <c>Into</c> (of the blocks in
/// <c>Layers</c>, all by default), <c>[L,Count,D]</c>. They only attend (keys and values come from the ordinary
/// tokens, and no token attends to them); their outputs from each block of the range are collected as
/// <c>[B,L,Count,D]</c> for a head that names them in <c>Also</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class QueryTokensAttribute : Attribute
{
    public int Count { get; set; }
    /// <summary>The encoder, as <c>nameof(Encoder)</c>.</summary>
    public string? Into { get; set; }
    /// <summary>The blocks they act on, both ends included: <c>"0..5"</c>, <c>"6.."</c> (to the last), <c>"..3"</c>, <c>"4"</c>; all blocks when unset.</summary>
    public string? Layers { get; set; }
    public int Dim { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>
/// ToMe token merging (Bolya et al. 2023) inside the encoder named by <c>Into</c>: in each block of <c>Layers</c> (all by
/// default), between the attention and the MLP, <c>R</c> tokens are merged into their most similar partners (bipartite
/// matching on the keys, size-weighted averages); the prefix tokens are never merged. Every block from the first merge on
/// adds <c>log(size)</c> to its attention logits (<c>ProportionalAttention</c>, on by default). No parameters: it works on a
/// trained model without retraining. The sequence after the encoder is shorter by the tokens merged away.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class TokenMergingAttribute : Attribute
{
    /// <summary>Tokens merged away in each block of the range; at most half the tokens after the prefix.</summary>
    public int R { get; set; }
    /// <summary>The encoder, as <c>nameof(Encoder)</c>.</summary>
    public string? Into { get; set; }
    /// <summary>The blocks that merge, both ends included: <c>"0..5"</c>, <c>"6.."</c>, <c>"..3"</c>, <c>"4"</c>; all blocks when unset.</summary>
    public string? Layers { get; set; }
    /// <summary>Add <c>log(size)</c> to the attention logits after the first merge (true by default).</summary>
    public bool ProportionalAttention { get; set; } = true;
}

/// <summary>
/// EViT token pruning (Liang et al. 2022) inside the encoder named by <c>Into</c>: in each block of <c>Layers</c> (all by
/// default), after the attention, the tokens after the prefix are ranked by the class token's attention (averaged over
/// heads); the top <c>ceil(KeepRate * n)</c> are kept and, with <c>Fuse</c> (on by default), the rest are fused into one
/// token by their attention weights. Needs a class token. No parameters.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class TokenPruningAttribute : Attribute
{
    /// <summary>The fraction of the tokens after the prefix kept in each block of the range, in (0, 1].</summary>
    public double KeepRate { get; set; }
    /// <summary>The encoder, as <c>nameof(Encoder)</c>.</summary>
    public string? Into { get; set; }
    /// <summary>The blocks that prune, both ends included; all blocks when unset.</summary>
    public string? Layers { get; set; }
    /// <summary>Fuse the pruned tokens into one token (true by default) instead of dropping them.</summary>
    public bool Fuse { get; set; } = true;
}

/// <summary>
/// Mixture-of-Depths routing (Raposo et al. 2024) inside the encoder named by <c>Into</c>: in every <c>Every</c>-th block of
/// <c>Layers</c> a router (<c>Linear(D,1)</c>, registered as <c>{name}.{i}.weight</c> / <c>.bias</c>) picks the
/// <c>ceil(Capacity * n)</c> tokens after the prefix that go through the block; the rest skip it. The prefix tokens always go
/// through. The block's update of a routed token is scaled by its router weight, so the router learns. The length stays.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class DepthRoutingAttribute : Attribute
{
    /// <summary>The fraction of the tokens after the prefix routed through each routed block, in (0, 1].</summary>
    public double Capacity { get; set; }
    /// <summary>The encoder, as <c>nameof(Encoder)</c>.</summary>
    public string? Into { get; set; }
    /// <summary>The blocks routing acts on, both ends included; all blocks when unset.</summary>
    public string? Layers { get; set; }
    /// <summary>Route every <c>Every</c>-th block of the range, from its first (2: alternate blocks, as in the paper); 1 by default.</summary>
    public int Every { get; set; } = 1;
}

/// <summary>
/// TokenFormer's encoder (Wang et al. 2024): pre-norm blocks in which the query, key, value and output projections and the
/// MLP are Pattentions, inputs attending to <c>Tokens</c> (MLP: <c>FfnTokens</c>, 4 x <c>Tokens</c> by default) learnable
/// key/value parameter tokens, so the model grows by adding tokens. Registered as <c>blocks</c>
/// (<c>blocks.0.attention.query.key_param_tokens</c>, ...) with the final <c>norm</c>. <c>GrownFrom</c>: the <c>Tokens</c> of
/// the smaller model this one grows from (load it with <c>ParameterTokenGrowth.Load</c>); its <c>sqrt(n)</c> is kept, so
/// zero new keys give the smaller model's function.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class TokenFormerEncoderAttribute : Attribute
{
    public int Depth { get; set; }
    public int Heads { get; set; }
    /// <summary>Parameter tokens of each query, key, value and output projection.</summary>
    public int Tokens { get; set; }
    /// <summary>Parameter tokens of each MLP; 4 x <c>Tokens</c> when unset.</summary>
    public int FfnTokens { get; set; }
    /// <summary>The <c>Tokens</c> of the smaller model this one grows from; at most <c>Tokens</c>.</summary>
    public int GrownFrom { get; set; }
    public int Dim { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>
/// Learnable queries reading another stage by cross-attention (Perceiver resampler, Q-Former,
/// attention pooling): <c>[B,N,Ds] -> [B,Queries,Dim]</c>; the source may have another width.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class ResamplerAttribute : Attribute
{
    public int Queries { get; set; }
    public int Depth { get; set; } = AttributeDefaults.DecoderDepth;
    public int Heads { get; set; }
    /// <summary>The width of the queries and the output; 0 keeps the source's width.</summary>
    public int Dim { get; set; }
    /// <summary>The stage whose tokens the queries read, as <c>nameof(Encoder)</c>; default: the sequence so far.</summary>
    public string? Over { get; set; }
    public double MlpRatio { get; set; } = AttributeDefaults.MlpRatio;
    public bool Frozen { get; set; }
}

/// <summary>
/// ChannelViT: each input channel is cut into patches by one shared projection and tagged with a
/// learnable channel embedding; a position table is shared across channels:
/// <c>[B,C,H,W] -> [B,C*(H/P)*(W/P),D]</c>. With <c>SampleChannels</c>, training sees a random
/// subset of channels per batch (hierarchical channel sampling).
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class ChannelPatchEmbeddingAttribute : Attribute
{
    public int PatchSize { get; set; }
    public int Dim { get; set; }
    /// <summary>The channel count the model is built for; 0 takes it from the input's shape. Checked against the input.</summary>
    public int Channels { get; set; }
    /// <summary>The forward input it reads, by name; the one image input <c>[B,C,H,W]</c> when unset.</summary>
    public string? Input { get; set; }
    public bool SampleChannels { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>
/// Pretrained weights for the model: a safetensors file of the project. The analyzers check at
/// build time that it holds every parameter the declaration expects, with the same shape, when
/// the project lists it as <c>&lt;ModelWeights Include="..." /&gt;</c>; the generated
/// <c>LoadPretrainedWeights()</c> loads it.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class PretrainedWeightsAttribute(string path) : Attribute
{
    public string Path { get; } = path;
    /// <summary>A prefix of the file's names to read under, e.g. <c>"backbone."</c>.</summary>
    public string? Prefix { get; set; }
    /// <summary>Parameters or module prefixes the file need not have (a new head: <c>"head"</c>).</summary>
    public string[]? Exclude { get; set; }
}

/// <summary>
/// A tower: a member whose type is another <c>[Model]</c> class of the project, registered under the
/// member's snake_case name (its weights become <c>image.blocks.0...</c>). It is called with the
/// forward inputs it declares (matched by name, else by shape, or named in <see cref="Input"/>) and
/// yields one of its outputs, by default its <c>Features</c> (or <c>Pooled</c>) vector. Its shapes
/// come from its own declaration, so they are checked across the two models.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class TowerAttribute : Attribute
{
    /// <summary>Every parameter of the tower is frozen.</summary>
    public bool Frozen { get; set; }
    /// <summary>The outer forward inputs passed to the tower, comma-separated in the order of the tower's inputs.</summary>
    public string? Input { get; set; }
    /// <summary>The tower output to use, e.g. <c>"Pooled"</c>; default <c>Features</c>, else <c>Pooled</c>.</summary>
    public string? Output { get; set; }
    /// <summary>
    /// A frozen teacher for <see cref="DistillAttribute"/>: not registered (so absent from <c>named_parameters()</c>, the
    /// optimizer and the student's checkpoint), frozen, and run in eval mode under <c>no_grad</c> on the input's device.
    /// </summary>
    public bool Teacher { get; set; }
    /// <summary>With <see cref="Teacher"/>: a weights file of the tower's own names (safetensors or a PyTorch state_dict) loaded when the model is built.</summary>
    public string? Weights { get; set; }
}

/// <summary>
/// CLIP-style logits between two feature matrices, e.g. two towers: <c>Scale * normalize(left) @
/// normalize(right)^T</c>, <c>[B,D] x [C,D] -> [B,C]</c>. Both must have the same width D.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class CosineLogitsAttribute(string left, string right) : Attribute
{
    /// <summary>The row features, as <c>nameof(Image)</c>.</summary>
    public string Left { get; } = left;
    /// <summary>The column features, as <c>nameof(Text)</c>.</summary>
    public string Right { get; } = right;
    /// <summary>The logit scale (inverse temperature); CLIP starts at 1/0.07.</summary>
    public double Scale { get; set; } = AttributeDefaults.LogitScale;
    /// <summary>Learns the scale (as its logarithm, registered as <c>logit_scale</c>), as CLIP pretraining does.</summary>
    public bool LearnScale { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>
/// Token ids <c>[B,T]</c> (int64, from the forward input named by <c>Input</c> or the one rank-2 input)
/// to vectors <c>[B,T,Dim]</c>, with a learned position table of <c>MaxLength</c> rows added after any
/// prompt tokens are placed (CLIP's <c>token_embedding</c> and <c>positional_embedding</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class TokenEmbeddingAttribute : Attribute
{
    public int Vocab { get; set; }
    public int Dim { get; set; }
    /// <summary>Rows of the position table: the longest sequence, prompts included.</summary>
    public int MaxLength { get; set; }
    /// <summary>The forward input holding the token ids; default: the one input of rank 2.</summary>
    public string? Input { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>How learned prompt vectors are produced (P-tuning, PRE).</summary>
public enum Reparam
{
    /// <summary>The prompt vectors are the learned parameters (CoOp).</summary>
    None,
    /// <summary>A two-layer MLP over the learned vectors.</summary>
    Mlp,
    /// <summary>A bidirectional LSTM over the sequence of learned vectors and a linear map back to the width (P-tuning, PRE).</summary>
    BiLstm,
}

/// <summary>
/// Learnable context tokens placed into the token sequence of a [TokenEmbedding] (CoOp, PRE):
/// <c>[B,T,D] -> [B,T+Count,D]</c>, after the first <c>After</c> tokens (1: after the start token).
/// Shared by all rows, or one set per class (<c>PerClass</c>, rows = classes). With
/// <c>Reparameterize</c> an MLP or BiLSTM maps the learned vectors to the prompts (with a residual by
/// default); <c>PromptTokens.Fold()</c> turns them into plain tokens for saving.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class PromptTokensAttribute : Attribute
{
    public int Count { get; set; }
    /// <summary>How many leading tokens stay in front of the prompts.</summary>
    public int After { get; set; } = AttributeDefaults.PromptsAfter;
    /// <summary>One set of prompts per class: the token rows must be the <c>Classes</c> classes.</summary>
    public bool PerClass { get; set; }
    /// <summary>The number of classes (rows), for <c>PerClass</c>.</summary>
    public int Classes { get; set; }
    public Reparam Reparameterize { get; set; }
    /// <summary>Width of the reparameterisation encoder; 0 for the token width.</summary>
    public int Hidden { get; set; }
    /// <summary>Prompts = vectors + encoder(vectors) (PRE), rather than encoder(vectors).</summary>
    public bool Residual { get; set; } = AttributeDefaults.PromptResidual;
    public int Dim { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>
/// Learnable vectors for the token ids <c>First .. First+Count-1</c> of the [TokenEmbedding] declared
/// right before it (CSP: one vector per attribute and per object, written into a fixed template;
/// new special tokens of a frozen model): those ids read this <c>[Count,Dim]</c> table, the others
/// the embedding's. The sequence shape is unchanged.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class VocabularyTokensAttribute : Attribute
{
    /// <summary>The first learned id.</summary>
    public int First { get; set; }
    /// <summary>How many consecutive ids are learned; <c>First + Count</c> may not exceed the vocabulary.</summary>
    public int Count { get; set; }
    public int Dim { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>Which token a feature projection reads.</summary>
public enum FeaturePool
{
    /// <summary>The first token (a CLS token).</summary>
    Cls,
    /// <summary>The mean over all tokens.</summary>
    Avg,
    /// <summary>Each row's end token (the first id equal to <c>EndToken</c>), as CLIP's text encoder.</summary>
    EndToken,
}

/// <summary>
/// Pools the token sequence to one vector and projects it without bias to a shared width
/// (CLIP's image and text projections): <c>[B,N,D] -> [B,Dim]</c>, the model's <c>Features</c> output.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class FeatureProjectionAttribute : Attribute
{
    /// <summary>The projected width.</summary>
    public int Dim { get; set; }
    public FeaturePool Pool { get; set; }
    /// <summary>The id of the end token, for <see cref="FeaturePool.EndToken"/>.</summary>
    public int EndToken { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>
/// CLIP's symmetric contrastive loss over the model's square cosine logits <c>[B,B]</c> (pair i in
/// row i and column i). Needs no target: the batch's pairs are the labels.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class ContrastiveLossAttribute : Attribute
{
    public double Weight { get; set; } = AttributeDefaults.LossWeight;
}

/// <summary>
/// A codebook of <c>Codes</c> learnable vectors <c>[Codes,Dim]</c> that several towers read (FDT's shared discrete
/// tokens, <c>space_dict</c>): each <see cref="CodebookQueryAttribute"/> stage scores one tower's tokens against it.
/// Registered once, under the member's snake_case name, however many queries read it; initialised from N(0,1) as FDT's.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class CodebookAttribute : Attribute
{
    /// <summary>The number of codes K.</summary>
    public int Codes { get; set; }
    /// <summary>The width D of each code (the shared feature width).</summary>
    public int Dim { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>How a <see cref="CodebookQueryAttribute"/> turns pooled scores <c>[B,K]</c> into code weights.</summary>
public enum CodeWeighting
{
    /// <summary>The projection onto the simplex: weights sum to 1 and most are exactly 0 (FDT's choice).</summary>
    Sparsemax,
    /// <summary>Softmax over all codes: dense weights.</summary>
    Softmax,
    /// <summary>Softmax over the <c>TopK</c> highest-scoring codes; the others get 0.</summary>
    TopK,
}

/// <summary>How a <see cref="CodebookQueryAttribute"/> pools each code's scores over a tower's tokens.</summary>
public enum CodePool
{
    /// <summary>The largest score over the tokens (FDT's setting).</summary>
    Max,
    /// <summary>The mean over the tokens (padded positions included, as FDT does).</summary>
    Mean,
    /// <summary>The sum over the tokens.</summary>
    Sum,
}

/// <summary>
/// One tower's reading of a shared <see cref="CodebookAttribute"/> (FDT's <c>Query_model</c>): the tower's tokens
/// <c>[B,L,E]</c> are projected to queries (<c>q_map</c>: LayerNorm, Linear E->D, GELU, LayerNorm, Linear D->D), scored
/// against the codes (<c>q C^T / sqrt(D) / Temperature</c>, <c>[B,L,K]</c>, padded positions multiplied by 0), pooled over
/// the tokens (<see cref="CodePool"/>), weighted over the codes (<see cref="CodeWeighting"/>), and embedded as the
/// L2-normalised weighted sum of codes, <c>[B,D]</c>. The forward record also gives the weights <c>[B,K]</c> as
/// <c>{Member}Weights</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class CodebookQueryAttribute(string codebook, string tokens) : Attribute
{
    /// <summary>The <see cref="CodebookAttribute"/> stage read, as <c>nameof(Codes)</c>.</summary>
    public string Codebook { get; } = codebook;
    /// <summary>The stage whose tokens <c>[B,L,E]</c> are scored, as <c>nameof(Image)</c> (a tower with <c>Output = "Tokens"</c>).</summary>
    public string Tokens { get; } = tokens;
    public CodeWeighting Weighting { get; set; }
    /// <summary>With <see cref="CodeWeighting.TopK"/>: how many codes keep weight (between 2 and Codes - 1).</summary>
    public int TopK { get; set; }
    public CodePool Pool { get; set; }
    /// <summary>Divides the scores before they are weighted; FDT's Query_model defaults to 1 (its CC3M config uses 1000).</summary>
    public double Temperature { get; set; } = 1.0;
    /// <summary>False: the tokens are scored as they are, without <c>q_map</c> (their width must then be the codebook's).</summary>
    public bool Project { get; set; } = true;
    /// <summary>The query width; inferred from the codebook, and when written it must equal the codebook's width.</summary>
    public int Dim { get; set; }
    /// <summary>The forward input of token ids <c>[B,L]</c> whose <c>PadToken</c> positions are padding, as <c>nameof(text)</c>.</summary>
    public string? Padding { get; set; }
    /// <summary>The id that marks padding in <c>Padding</c>.</summary>
    public int PadToken { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>How a <see cref="DistillAttribute"/> compares the student's output with the teacher's, over the last dimension.</summary>
public enum DistillLoss
{
    /// <summary><c>1 - cos(student, teacher)</c>, averaged over the rows (tokens and samples).</summary>
    Cosine,
    /// <summary>The mean squared error.</summary>
    Mse,
    /// <summary>The smooth L1 (Huber, beta 1) error.</summary>
    SmoothL1,
    /// <summary>Hinton's <c>T^2 KL(softmax(teacher/T) || softmax(student/T))</c>, averaged over the rows.</summary>
    KL,
}

/// <summary>How a <see cref="DistillAttribute"/>'s loss weight moves from <c>Weight</c> to <c>FinalWeight</c> over <c>ScheduleSteps</c> training steps.</summary>
public enum WeightSchedule
{
    /// <summary><c>Weight</c> throughout.</summary>
    Constant,
    /// <summary>A straight line from <c>Weight</c> to <c>FinalWeight</c>, then <c>FinalWeight</c>.</summary>
    Linear,
    /// <summary>A half cosine from <c>Weight</c> to <c>FinalWeight</c>, then <c>FinalWeight</c>.</summary>
    Cosine,
}

/// <summary>
/// Distillation from a frozen teacher (BREEN, Q-Former-style, CasPL): a teacher's output (a <c>[Tower(Teacher = true)]</c>)
/// supervises a named output of the student (a stage's output, or a segment of the token sequence such as learnable
/// queries or the CLS token), added to the training objective with its weight. <c>Project</c> learns a linear map from the
/// student's width to the teacher's (registered as <c>M.proj</c>) when they differ.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class DistillAttribute(string teacher, string student) : Attribute
{
    /// <summary>The teacher tower, as <c>nameof(Teacher)</c>.</summary>
    public string Teacher { get; } = teacher;
    /// <summary>The student output supervised: a stage of the model, or a named segment of its token sequence (<c>nameof(Queries)</c>, <c>nameof(Cls)</c>).</summary>
    public string Student { get; } = student;
    public DistillLoss Loss { get; set; }
    /// <summary>The softening temperature of <see cref="DistillLoss.KL"/>.</summary>
    public double Temperature { get; set; } = 1.0;
    /// <summary>Learns <c>Linear(student width, teacher width)</c> before the comparison.</summary>
    public bool Project { get; set; }
    /// <summary>The loss weight (at the first step, under a schedule).</summary>
    public double Weight { get; set; } = 1.0;
    public WeightSchedule Schedule { get; set; }
    /// <summary>The weight after <c>ScheduleSteps</c> training steps.</summary>
    public double FinalWeight { get; set; }
    public int ScheduleSteps { get; set; }
}

/// <summary>
/// A penalty that keeps learnable token sets apart: the mean squared cosine similarity between the vectors of
/// <c>Set</c> and those of <c>Other</c> (or, without <c>Other</c>, between the distinct vectors of <c>Set</c>), times
/// <c>Weight</c>, added to the training objective. The sets are stages that own their vectors (<c>[Tokens]</c>,
/// <c>[TokenBank]</c>, <c>[TaskTokens]</c>, <c>[Codebook]</c>, ...), of one width.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class OrthogonalityPenaltyAttribute(string set) : Attribute
{
    /// <summary>The first token set, as <c>nameof(Prompts)</c>.</summary>
    public string Set { get; } = set;
    /// <summary>The second token set; unset: the vectors of <c>Set</c> among themselves.</summary>
    public string? Other { get; set; }
    public double Weight { get; set; } = 1.0;
}

/// <summary>
/// A code-usage regulariser for a <see cref="CodebookQueryAttribute"/>: <c>log K - H(mean over the batch of the code
/// weights)</c>, 0 when the batch uses every code equally, up to <c>log K</c> when it uses one; times <c>Weight</c>, added
/// to the training objective, so that more of the codebook is used.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class CodeUsageRegularizerAttribute(string query) : Attribute
{
    /// <summary>The codebook query whose weights are regularised, as <c>nameof(ImageQuery)</c>.</summary>
    public string Query { get; } = query;
    public double Weight { get; set; } = 1.0;
}

/// <summary>
/// A GPT-2 decoder-only language model (<c>Blocks.DecoderTransformer</c> registered as <c>transformer</c>, and
/// <c>Blocks.LanguageModelHead</c> as <c>lm_head</c>): token ids <c>[B,T]</c> (int64, from the forward input named by
/// <c>Input</c> or the one rank-2 input) to logits <c>[B,T,Vocab]</c>, the forward output <c>Logits</c>. Registered
/// under Hugging Face GPT-2's names, so a published GPT-2 file loads as is (docs/weights.md). The generated model also
/// gets <c>Generate</c> and <c>GenerateStream</c> (KV-cache generation; see <c>Blocks.Generation</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class LanguageModelAttribute : Attribute
{
    /// <summary>Vocabulary size (GPT-2: 50257).</summary>
    public int Vocab { get; set; }
    /// <summary>Rows of the learned position table: the longest sequence the model reads (GPT-2: 1024).</summary>
    public int Context { get; set; }
    /// <summary>Width (GPT-2 124M: 768).</summary>
    public int Dim { get; set; }
    /// <summary>Number of blocks (GPT-2 124M: 12).</summary>
    public int Depth { get; set; }
    /// <summary>Attention heads; must divide <see cref="Dim"/> (GPT-2 124M: 12).</summary>
    public int Heads { get; set; }
    /// <summary>The LM head multiplies by the token embedding (GPT-2); false gives it its own <c>lm_head.weight</c>.</summary>
    public bool TiedHead { get; set; } = true;
    /// <summary>GPT-2's embedding, attention and residual dropout (all three), in [0, 1).</summary>
    public double Dropout { get; set; } = 0.1;
    /// <summary>The forward input holding the token ids; default: the one input of rank 2.</summary>
    public string? Input { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>
/// The causal language-modelling loss over a <see cref="LanguageModelAttribute"/>'s logits (<c>Blocks.CausalLmLoss</c>):
/// the logits at position <c>t</c> predict the label at <c>t+1</c>; labels of -100 (padding, the prompt) take no loss.
/// The batch holds the labels <c>[B,T]</c> (int64) under <see cref="Target"/>; logs the next-token accuracy.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class CausalLmLossAttribute : Attribute
{
    /// <summary>The language model whose logits the loss reads, as <c>nameof(Lm)</c>; optional when the model has one.</summary>
    public string? Of { get; set; }
    /// <summary>The batch tensor that holds the labels <c>[B,T]</c>: <c>labels</c> when not set.</summary>
    public string? Target { get; set; }
    /// <summary>The loss's weight in the model's objective.</summary>
    public double Weight { get; set; } = 1.0;
}

/// <summary>
/// Prompt tuning (Lester et al. 2021): <c>Count</c> learned vectors (<c>Blocks.SoftPrompt</c>, <c>M.weight [Count,D]</c>)
/// before the input embeddings of the model's <see cref="LanguageModelAttribute"/>, usually frozen. The logits, and so the
/// loss, cover the input's positions only; generation puts the prompt first too.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class SoftPromptAttribute : Attribute
{
    /// <summary>The number of prompt vectors.</summary>
    public int Count { get; set; }
    /// <summary>
    /// Words whose token embeddings initialise the prompt (repeated to fill <see cref="Count"/>): the generated
    /// <c>Initialize{Member}(tokenizer)</c> encodes them and copies the rows, to be called after the pretrained weights are
    /// loaded. Null: random (normal, std 0.02).
    /// </summary>
    public string? InitFrom { get; set; }
    public bool Frozen { get; set; }
}

/// <summary>
/// Prefix tuning (Li and Liang 2021): <c>Count</c> learned keys and values per block of the model's
/// <see cref="LanguageModelAttribute"/> (<c>Blocks.PrefixTuning</c>, <c>M.embedding.weight [Count, 2*Depth*Dim]</c>, PEFT's
/// layout), which every query attends to before the sequence; the language model is usually frozen. The input's positions
/// start after the prefix (as with PEFT on GPT-2), so <c>Count</c> plus the input length must fit <c>Context</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class PrefixTuningAttribute : Attribute
{
    /// <summary>The number of prefix positions.</summary>
    public int Count { get; set; }
    public bool Frozen { get; set; }
}
