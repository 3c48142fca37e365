using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Learnable embeddings for a range of token ids of a (frozen) <see cref="TokenEmbedding"/>: the ids
/// <c>First .. First+Count-1</c> read this table, every other id keeps the embedding's vector (CSP's
/// attribute and object tokens in a fixed prompt template; new special tokens). Registered:
/// <c>weight</c> <c>[Count,D]</c>.
/// </summary>
public sealed class VocabularyTokens : nn.Module<Tensor, Tensor, Tensor>
{
    // Not readonly: Module.to() replaces parameters and assigns the field with the registered name.
    private Parameter weight;

    public VocabularyTokens(int first, int count, int dim) : base(nameof(VocabularyTokens))
    {
        if (first < 0) throw new ArgumentOutOfRangeException(nameof(first), first, "VocabularyTokens: the first id must not be negative.");
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "VocabularyTokens: the token count must be positive.");
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "VocabularyTokens: the width must be positive.");
        First = first;
        Count = count;
        Dim = dim;
        weight = new Parameter(empty(count, dim));
        using (no_grad())
            nn.init.normal_(weight, 0, PromptTokens.InitStd);
        weight = (Parameter)weight.DetachFromDisposeScope();
        register_parameter(nameof(weight), weight);
    }

    public int First { get; }
    public int Count { get; }
    public int Dim { get; }

    /// <summary>The learned vectors <c>[Count,D]</c>; row i is the vector of id <c>First + i</c>.</summary>
    public Tensor Weight => weight;

    /// <summary>
    /// <paramref name="embedded"/> <c>[B,T,D]</c>, the embedding of <paramref name="ids"/> <c>[B,T]</c>,
    /// with the vectors of ids in this range replaced by the learned ones.
    /// </summary>
    public override Tensor forward(Tensor ids, Tensor embedded)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(embedded);
        if (ids.ndim != 2 || embedded.ndim != 3 || embedded.shape[0] != ids.shape[0] || embedded.shape[1] != ids.shape[1] || embedded.shape[2] != Dim)
            throw new ArgumentException(
                $"VocabularyTokens expects ids [B,T] and their embedding [B,T,{Dim}]; got ids [{string.Join(",", ids.shape)}] and embedding [{string.Join(",", embedded.shape)}].");
        using var scope = NewDisposeScope();
        var local = ids - First;
        var learned = local.ge(0).logical_and(local.lt(Count)).unsqueeze(-1);
        var rows = weight.index_select(0, local.clamp(0, Count - 1).reshape(-1)).reshape(embedded.shape);
        return where(learned, rows.to(embedded.dtype), embedded).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Starts the learned vectors from the embedding's own rows for the same ids, so that, before
    /// any training, the model reads exactly what the frozen embedding gives (fine-tuning existing words).
    /// </summary>
    public void InitializeFrom(TokenEmbedding embedding)
    {
        ArgumentNullException.ThrowIfNull(embedding);
        if (embedding.Dim != Dim || First + Count > embedding.Vocab)
            throw new ArgumentException(
                $"VocabularyTokens.InitializeFrom needs an embedding of width {Dim} with at least {First + Count} ids; it has {embedding.Vocab} ids of width {embedding.Dim}.", nameof(embedding));
        using var scope = NewDisposeScope();
        InitializeFrom(embedding.Weight.narrow(0, First, Count).to(weight.device));
    }

    /// <summary>Sets the learned vectors to <paramref name="vectors"/> <c>[Count,D]</c>, such as the embeddings of the words they stand for (CSP).</summary>
    public void InitializeFrom(Tensor vectors)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        if (vectors.ndim != 2 || vectors.shape[0] != Count || vectors.shape[1] != Dim)
            throw new ArgumentException($"VocabularyTokens.InitializeFrom expects vectors [{Count},{Dim}]; got [{string.Join(",", vectors.shape)}].", nameof(vectors));
        using var _ = no_grad();
        weight.copy_(vectors);
    }
}
