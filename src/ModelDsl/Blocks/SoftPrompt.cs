using System;
using System.Collections.Generic;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Prompt tuning (Lester et al. 2021; PEFT's <c>PromptEmbedding</c>): <c>Count</c> learned vectors prepended to the input
/// embeddings of a (usually frozen) language model, <c>[B,T,D] -> [B,Count+T,D]</c>. Registered: <c>weight</c>
/// <c>[Count,D]</c>, initialised normal with std 0.02 (GPT-2's embedding scale) until <see cref="InitializeFrom"/> copies
/// the embeddings of vocabulary words into it.
/// </summary>
public sealed class SoftPrompt : nn.Module<Tensor, Tensor>
{
    // Not readonly: Module.to() replaces parameters and assigns the field with the registered name.
    private Parameter weight;

    public SoftPrompt(int count, int dim) : base(nameof(SoftPrompt))
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "SoftPrompt: the number of prompt vectors must be positive.");
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "SoftPrompt: the width must be positive.");
        Count = count;
        Dim = dim;
        weight = new Parameter(empty(count, dim));
        using (no_grad())
            nn.init.normal_(weight, 0, 0.02);
        weight = (Parameter)weight.DetachFromDisposeScope();
        register_parameter(nameof(weight), weight);
    }

    public int Count { get; }
    public int Dim { get; }

    /// <summary>The prompt vectors <c>[Count,D]</c>.</summary>
    public Tensor Weight => weight;

    /// <summary><c>[B,T,D] -> [B,Count+T,D]</c>: the prompt vectors first.</summary>
    public override Tensor forward(Tensor embeddings)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        if (embeddings.ndim != 3 || embeddings.shape[2] != Dim)
            throw new ArgumentException($"SoftPrompt expects embeddings [B,T,{Dim}]; got [{string.Join(",", embeddings.shape)}].", nameof(embeddings));
        using var scope = NewDisposeScope();
        var prompt = weight.to(embeddings.dtype).unsqueeze(0).expand(embeddings.shape[0], -1, -1);
        return cat(new[] { prompt, embeddings }, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Copies the embedding rows of <paramref name="ids"/> (the tokens of some words, e.g. a task description) into the
    /// prompt, repeated until <see cref="Count"/> rows are filled and cut there (PEFT's <c>PromptTuningInit.TEXT</c>).
    /// </summary>
    /// <param name="tokenEmbedding">The language model's token embedding <c>[V,D]</c> (after the pretrained weights are loaded).</param>
    public void InitializeFrom(Tensor tokenEmbedding, IReadOnlyList<long> ids)
    {
        ArgumentNullException.ThrowIfNull(tokenEmbedding);
        ArgumentNullException.ThrowIfNull(ids);
        if (tokenEmbedding.ndim != 2 || tokenEmbedding.shape[1] != Dim)
            throw new ArgumentException($"SoftPrompt.InitializeFrom expects a token embedding [V,{Dim}]; got [{string.Join(",", tokenEmbedding.shape)}].", nameof(tokenEmbedding));
        if (ids.Count == 0)
            throw new ArgumentException("SoftPrompt.InitializeFrom needs at least one token id (the words encoded to nothing).", nameof(ids));
        var vocab = tokenEmbedding.shape[0];
        var rows = new long[Count];
        for (var i = 0; i < Count; i++) {
            rows[i] = ids[i % ids.Count];
            if (rows[i] < 0 || rows[i] >= vocab)
                throw new ArgumentOutOfRangeException(nameof(ids), rows[i], $"SoftPrompt.InitializeFrom: the id {rows[i]} is outside the vocabulary [0, {vocab}).");
        }
        using var scope = NewDisposeScope();
        using (no_grad())
            weight.copy_(tokenEmbedding.index_select(0, tensor(rows, device: tokenEmbedding.device)));
    }
}
