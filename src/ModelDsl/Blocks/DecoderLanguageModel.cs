using System;
using System.Globalization;
using ModelDsl.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>The shape of a GPT-2-style decoder-only language model.</summary>
/// <param name="Vocab">Vocabulary size V (GPT-2: 50257).</param>
/// <param name="Context">Rows of the learned position table, the longest sequence the model reads (GPT-2: 1024).</param>
/// <param name="Dim">Width D (GPT-2 124M: 768).</param>
/// <param name="Depth">Number of blocks (GPT-2 124M: 12).</param>
/// <param name="Heads">Attention heads; must divide <paramref name="Dim"/> (GPT-2 124M: 12).</param>
public sealed record DecoderConfig(int Vocab, int Context, int Dim, int Depth, int Heads)
{
    /// <summary>GPT-2 124M (<c>gpt2</c> on the Hugging Face hub).</summary>
    public static DecoderConfig Gpt2Small { get; } = new(50257, 1024, 768, 12, 12);

    /// <summary>The LM head uses the token embedding's weight (GPT-2 does); false gives <c>lm_head</c> its own <c>[V,D]</c> weight.</summary>
    public bool TiedHead { get; init; } = true;

    /// <summary>Dropout after the embeddings, on the attention probabilities and on each residual branch (GPT-2: 0.1 for all three).</summary>
    public double Dropout { get; init; } = 0.1;

    /// <summary>The MLP's hidden width; null means <c>4 * Dim</c> (GPT-2's <c>n_inner = None</c>).</summary>
    public int? Inner { get; init; }

    internal int InnerOrDefault => Inner ?? 4 * Dim;

    internal void Validate(string owner)
    {
        if (Vocab <= 0) throw new ArgumentOutOfRangeException(nameof(Vocab), Vocab, $"{owner}: the vocabulary size must be positive.");
        if (Context <= 0) throw new ArgumentOutOfRangeException(nameof(Context), Context, $"{owner}: the context (position table length) must be positive.");
        if (Depth <= 0) throw new ArgumentOutOfRangeException(nameof(Depth), Depth, $"{owner}: the depth must be positive.");
        Attention.Validate(Dim, Heads, owner);
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentOutOfRangeException(nameof(Dropout), Dropout, $"{owner}: dropout must be in [0, 1).");
        if (InnerOrDefault <= 0) throw new ArgumentOutOfRangeException(nameof(Inner), Inner, $"{owner}: the MLP width must be positive.");
    }
}

/// <summary>
/// GPT-2's transformer (<c>GPT2Model</c>): token embedding <c>wte</c> <c>[V,D]</c>, learned positions <c>wpe</c>
/// <c>[Context,D]</c>, dropout, <c>Depth</c> pre-norm causal <see cref="DecoderBlock"/>s registered as <c>h.0</c>..,
/// and the final norm <c>ln_f</c>. Returns the hidden states after <c>ln_f</c>.
/// </summary>
public sealed class DecoderTransformer : nn.Module<Tensor, Tensor>
{
    private readonly Embedding wte;
    private readonly Embedding wpe;
    private readonly Dropout drop;
    private readonly ModuleList<DecoderBlock> h;
    private readonly LayerNorm ln_f;

    public DecoderTransformer(DecoderConfig config) : base(nameof(DecoderTransformer))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate(nameof(DecoderTransformer));
        Config = config;
        wte = nn.Embedding(config.Vocab, config.Dim);
        wpe = nn.Embedding(config.Context, config.Dim);
        drop = nn.Dropout(config.Dropout);
        // GPT-2's residual projections are scaled by 1/sqrt(number of residual layers) at initialisation.
        var projectionStd = 0.02 / Math.Sqrt(2.0 * config.Depth);
        h = new ModuleList<DecoderBlock>();
        for (var i = 0; i < config.Depth; i++)
            h.Add(new DecoderBlock(config.Dim, config.Heads, config.InnerOrDefault, config.Dropout, projectionStd));
        ln_f = nn.LayerNorm(config.Dim, eps: DecoderBlock.NormEps);
        using (no_grad()) {
            nn.init.normal_(wte.weight!, 0, 0.02);
            nn.init.normal_(wpe.weight!, 0, 0.02);   // GPT-2 initialises both embeddings with std 0.02
        }
        register_module(nameof(wte), wte);
        register_module(nameof(wpe), wpe);
        register_module(nameof(drop), drop);
        register_module(nameof(h), h);
        register_module(nameof(ln_f), ln_f);
    }

    public DecoderConfig Config { get; }

    /// <summary>The token embedding table <c>[V,D]</c> (<c>wte.weight</c>), which a tied head reads.</summary>
    public Tensor TokenEmbeddingWeight => wte.weight!;

    /// <summary>Token ids <c>[B,T]</c> to embeddings <c>[B,T,D]</c>, without positions.</summary>
    public Tensor Embed(Tensor ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.ndim != 2 || ids.dtype != ScalarType.Int64)
            throw new ArgumentException($"The token ids must be int64 [B,T]; got {ids.dtype} [{string.Join(",", ids.shape)}].", nameof(ids));
        return wte.forward(ids);
    }

    /// <summary>Token ids <c>[B,T]</c> to hidden states <c>[B,T,D]</c> after <c>ln_f</c>; positions 0..T-1, causal, no padding.</summary>
    public override Tensor forward(Tensor ids) => Forward(Embed(ids), null, null, null);

    /// <summary>
    /// Embeddings <c>[B,T,D]</c> (token embeddings, or anything in their place such as soft prompts) to hidden states
    /// <c>[B,T,D]</c> after <c>ln_f</c>.
    /// </summary>
    /// <param name="embeddings">The input embeddings, without positions.</param>
    /// <param name="positions">Position ids <c>[B,T]</c> or <c>[1,T]</c> (int64); null: <c>past .. past+T-1</c>.</param>
    /// <param name="attentionMask">
    /// <c>[B,past+T]</c>, nonzero for real tokens and 0 for padding (bool or integer); null: no padding. Keys at padded
    /// positions get no attention; queries at padded positions produce finite values that mean nothing.
    /// </param>
    /// <param name="cache">Keys and values of earlier positions; this call's are appended to it.</param>
    public Tensor Forward(Tensor embeddings, Tensor? positions, Tensor? attentionMask, KvCache? cache)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        var d = Config.Dim;
        if (embeddings.ndim != 3 || embeddings.shape[2] != d)
            throw new ArgumentException($"The input embeddings must be [B,T,{d}]; got [{string.Join(",", embeddings.shape)}].", nameof(embeddings));
        var (b, t) = (embeddings.shape[0], embeddings.shape[1]);
        var past = cache?.Length ?? 0;
        if (cache is not null && cache.Layers != Config.Depth)
            throw new ArgumentException($"The cache has {cache.Layers} layers; this model has {Config.Depth}.", nameof(cache));

        using var scope = NewDisposeScope();
        if (positions is null) {
            if (past + t > Config.Context)
                throw new ArgumentException(
                    $"The sequence reaches position {past + t - 1} ({past} cached + {t} new tokens), but the position table (wpe) has {Config.Context} rows (positions 0..{Config.Context - 1}).",
                    nameof(embeddings));
            positions = arange(past, past + t, ScalarType.Int64, embeddings.device).unsqueeze(0);
        } else {
            if (positions.ndim != 2 || positions.shape[1] != t || (positions.shape[0] != 1 && positions.shape[0] != b) || positions.dtype != ScalarType.Int64)
                throw new ArgumentException($"The position ids must be int64 [{b},{t}] or [1,{t}]; got {positions.dtype} [{string.Join(",", positions.shape)}].", nameof(positions));
            if (positions.numel() > 0) {
                var (lo, hi) = (positions.min().item<long>(), positions.max().item<long>());
                if (lo < 0 || hi >= Config.Context)
                    throw new ArgumentException(
                        $"The position ids run from {lo} to {hi}, but the position table (wpe) has {Config.Context} rows (positions 0..{Config.Context - 1}).", nameof(positions));
            }
        }
        Tensor? bias = null;
        if (attentionMask is not null) {
            if (attentionMask.ndim != 2 || attentionMask.shape[0] != b || attentionMask.shape[1] != past + t)
                throw new ArgumentException($"The attention mask must be [{b},{past + t}] (cached + new positions); got [{string.Join(",", attentionMask.shape)}].", nameof(attentionMask));
            bias = AttentionBias(attentionMask, past, t, embeddings.dtype, embeddings.device);
        }

        var x = drop.forward(embeddings + wpe.forward(positions));
        for (var i = 0; i < h.Count; i++)
            x = h[i].Forward(x, bias, cache, i);
        return ln_f.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The additive attention bias <c>[B or 1,1,T,past+T]</c>: 0 where query <c>i</c> (at <c>past+i</c>) may attend key
    /// <c>j</c> (<c>j &lt;= past+i</c> and key <c>j</c> not padding), the type's lowest finite value elsewhere. A finite
    /// value (Hugging Face uses the same) keeps a padded query, whose keys are all masked, free of NaN.
    /// </summary>
    internal static Tensor AttentionBias(Tensor? attentionMask, int past, long t, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        var keys = past + t;
        var queryPos = arange(past, keys, ScalarType.Int64, device).unsqueeze(1);   // [T,1]
        var keyPos = arange(0, keys, ScalarType.Int64, device).unsqueeze(0);        // [1,K]
        var allowed = keyPos.le(queryPos).unsqueeze(0).unsqueeze(0);                // [1,1,T,K]
        if (attentionMask is not null)
            allowed = allowed.logical_and(attentionMask.to(device).ne(0).unsqueeze(1).unsqueeze(1));
        var lowest = dtype switch {
            ScalarType.Float64 => double.MinValue,
            ScalarType.Float16 => -65504.0,
            ScalarType.BFloat16 => -3.38953139e38,
            _ => float.MinValue,
        };
        var bias = zeros(allowed.shape, dtype, device).masked_fill(allowed.logical_not(), lowest);
        return bias.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// GPT-2's LM head (<c>lm_head</c>, no bias): hidden states <c>[...,D]</c> to logits <c>[...,V]</c>. Tied (GPT-2's
/// setting), it multiplies by the transformer's <c>wte.weight</c> and registers nothing; untied, it registers its own
/// <c>weight</c> <c>[V,D]</c> (normal, std 0.02).
/// </summary>
public sealed class LanguageModelHead : nn.Module<Tensor, Tensor>
{
    // A delegate, not a field of the transformer: TorchSharp registers Module-typed fields of a registered module,
    // which would give the tied head a second copy of the transformer's names.
    private readonly Func<Tensor>? tiedWeight;
    // Not readonly: Module.to() replaces parameters and assigns the field with the registered name.
    private Parameter? weight;

    public LanguageModelHead(DecoderTransformer transformer, bool tied) : base(nameof(LanguageModelHead))
    {
        ArgumentNullException.ThrowIfNull(transformer);
        Vocab = transformer.Config.Vocab;
        Dim = transformer.Config.Dim;
        Tied = tied;
        if (tied) {
            tiedWeight = () => transformer.TokenEmbeddingWeight;
        } else {
            weight = new Parameter(empty(Vocab, Dim));
            using (no_grad())
                nn.init.normal_(weight, 0, 0.02);
            weight = (Parameter)weight.DetachFromDisposeScope();
            register_parameter(nameof(weight), weight);
        }
    }

    public int Vocab { get; }
    public int Dim { get; }
    public bool Tied { get; }

    /// <summary>The <c>[V,D]</c> matrix the logits are computed with (the token embedding when tied).</summary>
    public Tensor Weight => tiedWeight is not null ? tiedWeight() : weight!;

    /// <summary><c>[...,D] -> [...,V]</c>.</summary>
    public override Tensor forward(Tensor hidden)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        if (hidden.ndim < 1 || hidden.shape[^1] != Dim)
            throw new ArgumentException($"LanguageModelHead expects hidden states [...,{Dim}]; got [{string.Join(",", hidden.shape)}].", nameof(hidden));
        return nn.functional.linear(hidden, Weight);
    }
}

/// <summary>A decoder language model as <see cref="Generation"/> drives it: its transformer and its LM head.</summary>
/// <remarks>Implemented by <see cref="DecoderLanguageModel"/> and by generated models with a <c>[LanguageModel]</c> stage.</remarks>
public interface ICausalLanguageModel
{
    /// <summary>The transformer (<c>transformer.*</c>).</summary>
    DecoderTransformer Transformer { get; }

    /// <summary>The LM head (<c>lm_head</c>).</summary>
    LanguageModelHead LmHead { get; }

    /// <summary>Learned vectors <c>[P,D]</c> the model puts before every input's embeddings (a soft prompt), or null.</summary>
    Tensor? PromptVectors => null;

    /// <summary>Learned per-layer keys and values (prefix tuning) that go into the cache before any token, or null.</summary>
    PrefixTuning? Prefix => null;
}

/// <summary>
/// A GPT-2 language model (<c>GPT2LMHeadModel</c>): <see cref="DecoderTransformer"/> registered as <c>transformer</c>,
/// and the <see cref="LanguageModelHead"/> <c>lm_head</c>. Token ids <c>[B,T]</c> to logits <c>[B,T,V]</c>.
/// </summary>
/// <remarks>
/// Registered names are Hugging Face GPT-2's: <c>transformer.wte.weight</c>, <c>transformer.wpe.weight</c>,
/// <c>transformer.h.{i}.ln_1.{weight,bias}</c>, <c>.attn.c_attn.{weight,bias}</c>, <c>.attn.c_proj.*</c>, <c>.ln_2.*</c>,
/// <c>.mlp.c_fc.*</c>, <c>.mlp.c_proj.*</c>, <c>transformer.ln_f.*</c>, and <c>lm_head.weight</c> only when the head is
/// not tied: a tied head multiplies by <c>transformer.wte.weight</c> itself (one tensor, saved once, as Hugging Face's
/// <c>save_pretrained</c> writes it). The <see cref="Conv1D"/> weights keep GPT-2's <c>[in,out]</c> layout.
/// <see cref="MapFileName"/> lets <see cref="Weights.Weights.Load"/> read GPT-2 files as published (see docs/weights.md).
/// </remarks>
public sealed class DecoderLanguageModel : nn.Module<Tensor, Tensor>, ICausalLanguageModel, IPublishedLayout
{
    private readonly DecoderTransformer transformer;
    private readonly LanguageModelHead lm_head;

    public DecoderLanguageModel(DecoderConfig config) : base(nameof(DecoderLanguageModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate(nameof(DecoderLanguageModel));
        Config = config;
        transformer = new DecoderTransformer(config);
        lm_head = new LanguageModelHead(transformer, config.TiedHead);
        register_module(nameof(transformer), transformer);
        register_module(nameof(lm_head), lm_head);
    }

    public DecoderConfig Config { get; }

    /// <inheritdoc/>
    public DecoderTransformer Transformer => transformer;

    /// <inheritdoc/>
    public LanguageModelHead LmHead => lm_head;

    /// <summary>Token ids <c>[B,T]</c> (int64) to logits <c>[B,T,V]</c>; positions 0..T-1, causal.</summary>
    public override Tensor forward(Tensor ids) => Logits(transformer.forward(ids));

    /// <summary>
    /// Input embeddings <c>[B,T,D]</c> to logits <c>[B,T,V]</c>; see <see cref="DecoderTransformer.Forward"/> for the
    /// other arguments.
    /// </summary>
    public Tensor Forward(Tensor embeddings, Tensor? positions = null, Tensor? attentionMask = null, KvCache? cache = null) =>
        Logits(transformer.Forward(embeddings, positions, attentionMask, cache));

    /// <summary>Hidden states <c>[...,D]</c> to logits <c>[...,V]</c> through the head (tied: <c>h · wteᵀ</c>).</summary>
    public Tensor Logits(Tensor hidden) => lm_head.forward(hidden);

    /// <summary>A new cache for this model's layers.</summary>
    public KvCache NewCache() => new(Config.Depth);

    /// <inheritdoc/>
    public string? MapFileName(string fileName) => Gpt2Names.MapFileName(fileName, Config.TiedHead);
}

/// <summary>How files in Hugging Face GPT-2's layout name their tensors, relative to <see cref="DecoderLanguageModel"/>'s names.</summary>
public static class Gpt2Names
{
    /// <summary>The prefix of the transformer's tensors in <c>GPT2LMHeadModel</c> files.</summary>
    public const string TransformerPrefix = "transformer.";

    /// <summary>The LM head's weight.</summary>
    public const string HeadWeight = "lm_head.weight";

    /// <summary>
    /// The model name for a file's tensor name, or null for one that is not a weight of the model:
    /// <list type="bullet">
    /// <item><c>h.{i}.attn.bias</c> and <c>h.{i}.attn.masked_bias</c> (with or without <c>transformer.</c>) are the causal-mask
    /// buffers older <c>transformers</c> versions saved: ignored.</item>
    /// <item><c>lm_head.weight</c> with a tied head is the token embedding again: ignored.</item>
    /// <item>A name without <c>transformer.</c> (the <c>GPT2Model</c> files published as <c>gpt2</c>: <c>wte.weight</c>,
    /// <c>h.0.ln_1.weight</c>, ...) gets it.</item>
    /// </list>
    /// </summary>
    public static string? MapFileName(string fileName, bool tiedHead)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        if (fileName == HeadWeight)
            return tiedHead ? null : fileName;
        var name = fileName.StartsWith(TransformerPrefix, StringComparison.Ordinal) ? fileName : TransformerPrefix + fileName;
        if (IsMaskBuffer(name))
            return null;
        return name;
    }

    // transformer.h.{i}.attn.bias / .attn.masked_bias
    private static bool IsMaskBuffer(string name)
    {
        const string blocks = TransformerPrefix + "h.";
        if (!name.StartsWith(blocks, StringComparison.Ordinal)) return false;
        var rest = name.AsSpan(blocks.Length);
        var dot = rest.IndexOf('.');
        if (dot <= 0 || !int.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out _)) return false;
        var tail = rest[(dot + 1)..];
        return tail.SequenceEqual("attn.bias") || tail.SequenceEqual("attn.masked_bias");
    }
}
