using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>How <see cref="Generation"/> picks tokens. The default is greedy decoding of up to 32 new tokens.</summary>
public sealed record GenerationOptions
{
    /// <summary>Greedy decoding (the most likely token every step).</summary>
    public static GenerationOptions Greedy { get; } = new();

    /// <summary>The most tokens generated per prompt. Prompt length plus this may not exceed the position table.</summary>
    public int MaxNewTokens { get; init; } = 32;

    /// <summary>False: greedy (argmax). True: sample from <c>softmax(logits / Temperature)</c> restricted by <see cref="TopK"/> and <see cref="TopP"/>.</summary>
    public bool Sample { get; init; }

    /// <summary>Divides the logits before sampling; below 1 sharpens, above 1 flattens. Must be positive.</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary>Sample only among the K most likely tokens (null: all).</summary>
    public int? TopK { get; init; }

    /// <summary>Nucleus sampling: only the most likely tokens whose probabilities sum to at least P (null: all). In (0, 1].</summary>
    public double? TopP { get; init; }

    /// <summary>The seed of the sampling generator: the same seed, model and prompts give the same tokens. Null: torch's global generator.</summary>
    public long? Seed { get; init; }

    /// <summary>A sequence ends after generating one of these (the stop token is part of its output).</summary>
    public IReadOnlyList<long> StopTokens { get; init; } = Array.Empty<long>();

    /// <summary>The id written into left padding (never attended to; any id in the vocabulary).</summary>
    public long PadToken { get; init; }
}

/// <summary>Why a sequence stopped.</summary>
public enum FinishReason
{
    /// <summary>It generated one of <see cref="GenerationOptions.StopTokens"/>.</summary>
    Stop,
    /// <summary>It reached <see cref="GenerationOptions.MaxNewTokens"/>.</summary>
    Length,
}

/// <summary>One generation step: the token each prompt got, or null for a prompt that had already stopped.</summary>
/// <param name="Step">0 for the first new token.</param>
/// <param name="Tokens">Per prompt, in the order given.</param>
public sealed record GenerationStep(int Step, IReadOnlyList<long?> Tokens);

/// <summary>The new tokens of each prompt (stop token included) and why each stopped.</summary>
public sealed record GenerationResult(IReadOnlyList<IReadOnlyList<long>> Tokens, IReadOnlyList<FinishReason> Finish);

/// <summary>
/// Autoregressive generation from an <see cref="ICausalLanguageModel"/> (a <see cref="DecoderLanguageModel"/>, a generated model) with a <see cref="KvCache"/>: the prompts run
/// through the model once, then one token per step. Prompts of different lengths are left-padded into one batch with
/// an attention mask, and their position ids count real tokens only, so each prompt gets the tokens it would get alone.
/// </summary>
public static class Generation
{
    /// <summary>Generates from a batch of prompts and returns every prompt's new tokens.</summary>
    public static GenerationResult Generate<TModel>(this TModel model, IReadOnlyList<IReadOnlyList<long>> prompts, GenerationOptions? options = null)
        where TModel : nn.Module, ICausalLanguageModel
    {
        var tokens = prompts.Select(_ => new List<long>()).ToList();
        foreach (var step in model.GenerateStream(prompts, options))
            for (var i = 0; i < tokens.Count; i++)
                if (step.Tokens[i] is { } token)
                    tokens[i].Add(token);
        options ??= GenerationOptions.Greedy;
        var stops = options.StopTokens.ToHashSet();
        return new GenerationResult(
            tokens.Select(t => (IReadOnlyList<long>)t).ToList(),
            tokens.Select(t => t.Count > 0 && stops.Contains(t[^1]) ? FinishReason.Stop : FinishReason.Length).ToList());
    }

    /// <summary>Generates from one prompt and returns its new tokens.</summary>
    public static IReadOnlyList<long> Generate<TModel>(this TModel model, IReadOnlyList<long> prompt, GenerationOptions? options = null)
        where TModel : nn.Module, ICausalLanguageModel =>
        model.Generate(new[] { prompt }, options).Tokens[0];

    /// <summary>
    /// Generates step by step: each item holds the token every prompt got in that step, as soon as it is computed
    /// (for streaming to a console or a UI). The model is in eval mode while the enumeration runs (no dropout) and
    /// back in its previous mode after it ends or is abandoned.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// A prompt is empty or holds an id outside the vocabulary, or the longest prompt plus
    /// <see cref="GenerationOptions.MaxNewTokens"/> exceeds the position table (thrown on the call, before any step).
    /// </exception>
    public static IEnumerable<GenerationStep> GenerateStream<TModel>(this TModel model, IReadOnlyList<IReadOnlyList<long>> prompts, GenerationOptions? options = null)
        where TModel : nn.Module, ICausalLanguageModel
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompts);
        options ??= GenerationOptions.Greedy;
        Validate(model.Transformer.Config, prompts, options,
            (int)(((ICausalLanguageModel)model).PromptVectors?.shape[0] ?? 0) + (((ICausalLanguageModel)model).Prefix?.Count ?? 0));
        return Steps(model, prompts, options);
    }

    private static void Validate(DecoderConfig config, IReadOnlyList<IReadOnlyList<long>> prompts, GenerationOptions options, int prefix)
    {
        if (prompts.Count == 0) throw new ArgumentException("Generation needs at least one prompt.", nameof(prompts));
        for (var i = 0; i < prompts.Count; i++) {
            if (prompts[i] is null || prompts[i].Count == 0)
                throw new ArgumentException($"Prompt {i} is empty: generation needs at least one token to start from (for example a begin-of-text id).", nameof(prompts));
            foreach (var id in prompts[i])
                if (id < 0 || id >= config.Vocab)
                    throw new ArgumentException($"Prompt {i} holds the token id {id}, outside the vocabulary [0, {config.Vocab}).", nameof(prompts));
        }
        if (options.MaxNewTokens <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxNewTokens, "GenerationOptions.MaxNewTokens must be positive.");
        var longest = prompts.Max(p => p.Count);
        // The last generated token is never fed back, so positions reach longest + MaxNewTokens - 2; HF's rule
        // (total length <= n_positions) is kept because the sequence a caller continues from must still fit.
        if (prefix + longest + options.MaxNewTokens > config.Context) {
            var soft = prefix > 0 ? $"{prefix} prefix positions (soft prompt, prefix tuning), " : "";
            throw new ArgumentException(
                $"The {soft}longest prompt ({longest} tokens) plus MaxNewTokens ({options.MaxNewTokens}) is {prefix + longest + options.MaxNewTokens} positions, " +
                $"more than the position table's {config.Context} (Context). Shorten the prompt or lower MaxNewTokens to at most {Math.Max(0, config.Context - prefix - longest)}.",
                nameof(options));
        }
        if (options.Sample && !(options.Temperature > 0) || double.IsInfinity(options.Temperature))
            throw new ArgumentOutOfRangeException(nameof(options), options.Temperature, "GenerationOptions.Temperature must be positive and finite.");
        if (options.TopK is { } k && (k < 1 || k > config.Vocab))
            throw new ArgumentOutOfRangeException(nameof(options), k, $"GenerationOptions.TopK must be in [1, {config.Vocab}].");
        if (options.TopP is { } p && !(p > 0 && p <= 1))
            throw new ArgumentOutOfRangeException(nameof(options), p, "GenerationOptions.TopP must be in (0, 1].");
        if (options.PadToken < 0 || options.PadToken >= config.Vocab)
            throw new ArgumentOutOfRangeException(nameof(options), options.PadToken, $"GenerationOptions.PadToken must be an id in [0, {config.Vocab}).");
    }

    private static IEnumerable<GenerationStep> Steps<TModel>(TModel model, IReadOnlyList<IReadOnlyList<long>> prompts, GenerationOptions options)
        where TModel : nn.Module, ICausalLanguageModel
    {
        var batch = prompts.Count;
        var longest = prompts.Max(p => p.Count);
        // A soft prompt goes before everything, padding included: [prompt][padding][tokens]; positions count real vectors.
        var promptVectors = ((ICausalLanguageModel)model).PromptVectors;
        // Prefix tuning: its keys and values are the first cached positions, and the tokens' positions follow them (as PEFT's).
        var prefixTuning = ((ICausalLanguageModel)model).Prefix;
        var prefix = (int)(promptVectors?.shape[0] ?? 0) + (prefixTuning?.Count ?? 0);
        var padded = prompts.Any(p => p.Count != longest);
        var device = model.Transformer.TokenEmbeddingWeight.device;
        var stops = options.StopTokens.ToHashSet();

        // Left padding: real tokens end at the same column, so the next token is always read from the last one.
        var input = new long[batch * longest];
        var mask = new List<long>[batch];
        var nextPosition = new long[batch];
        var inputPositions = new long[batch * longest];
        for (var i = 0; i < batch; i++) {
            var pad = longest - prompts[i].Count;
            mask[i] = new List<long>(prefix + longest + options.MaxNewTokens);
            for (var j = 0; j < prefix; j++)
                mask[i].Add(1);
            for (var j = 0; j < longest; j++) {
                var real = j >= pad;
                input[i * longest + j] = real ? prompts[i][j - pad] : options.PadToken;
                mask[i].Add(real ? 1 : 0);
                inputPositions[i * longest + j] = real ? prefix + j - pad : 0;
            }
            nextPosition[i] = prefix + prompts[i].Count;
        }
        var width = longest;
        var finished = new bool[batch];

        var wasTraining = model.training;
        model.eval();
        using var cache = new KvCache(model.Transformer.Config.Depth);
        using var generator = options.Seed is { } seed ? new Generator(unchecked((ulong)seed), device) : null;
        try {
            for (var step = 0; step < options.MaxNewTokens; step++) {
                long[] chosen;
                using (no_grad())
                using (var scope = NewDisposeScope()) {
                    var ids = tensor(input, new long[] { batch, width }, device: device);
                    var positions = tensor(inputPositions, new long[] { batch, width }, device: device);
                    Tensor? attentionMask = null;
                    if (padded) {
                        var flat = mask.SelectMany(m => m).ToArray();
                        attentionMask = tensor(flat, new long[] { batch, mask[0].Count }, device: device);
                    }
                    var embeddings = model.Transformer.Embed(ids);
                    if (step == 0 && prefixTuning is not null)
                        prefixTuning.Fill(cache, batch);
                    if (step == 0 && promptVectors is not null) {
                        var start = prefixTuning?.Count ?? 0;
                        embeddings = cat(new[] { promptVectors.to(embeddings.dtype).unsqueeze(0).expand(batch, -1, -1), embeddings }, 1);
                        positions = cat(new[] { arange(start, start + promptVectors.shape[0], ScalarType.Int64, device).unsqueeze(0).expand(batch, -1), positions }, 1);
                    }
                    var hidden = model.Transformer.Forward(embeddings, positions, attentionMask, cache);
                    var logits = model.LmHead.forward(hidden.select(1, hidden.shape[1] - 1));
                    chosen = Choose(logits, options, generator).cpu().data<long>().ToArray();
                }
                var tokens = new long?[batch];
                for (var i = 0; i < batch; i++) {
                    if (finished[i]) continue;
                    tokens[i] = chosen[i];
                    if (stops.Contains(chosen[i])) finished[i] = true;
                }
                yield return new GenerationStep(step, tokens);
                if (finished.All(f => f)) yield break;

                // Feed each chosen token back (a stopped sequence's token is computed and thrown away).
                width = 1;
                input = new long[batch];
                inputPositions = new long[batch];
                for (var i = 0; i < batch; i++) {
                    input[i] = chosen[i];
                    inputPositions[i] = nextPosition[i]++;
                    mask[i].Add(1);
                }
            }
        } finally {
            model.train(wasTraining);
        }
    }

    /// <summary>The next token of each row of <paramref name="logits"/> <c>[B,V]</c> as <see cref="GenerationOptions"/> say, <c>[B]</c> int64.</summary>
    public static Tensor Choose(Tensor logits, GenerationOptions options, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(options);
        if (logits.ndim != 2)
            throw new ArgumentException($"Choose expects logits [B,V]; got [{string.Join(",", logits.shape)}].", nameof(logits));
        using var scope = NewDisposeScope();
        var scores = logits.to(ScalarType.Float32);
        if (!options.Sample)
            return scores.argmax(-1).MoveToOuterDisposeScope();

        scores = scores / options.Temperature;
        if (options.TopK is { } k && k < scores.shape[1]) {
            var kth = scores.topk(k, dim: -1).values.select(1, k - 1).unsqueeze(1);
            scores = scores.masked_fill(scores.lt(kth), double.NegativeInfinity);
        }
        if (options.TopP is { } p && p < 1) {
            var (sorted, order) = scores.sort(-1, descending: true, stable: true);
            var probabilities = sorted.softmax(-1);
            // Drop a token when the tokens ranked above it already hold at least p: the first token always stays.
            var drop = (probabilities.cumsum(-1) - probabilities).ge(p);
            var dropInVocabOrder = zeros_like(drop).scatter(1, order, drop);
            scores = scores.masked_fill(dropInVocabOrder, double.NegativeInfinity);
        }
        return scores.softmax(-1).multinomial(1, generator: generator).squeeze(1).MoveToOuterDisposeScope();
    }
}
