using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Token ids <c>[B,T]</c> (int64) to vectors <c>[B,T,D]</c>, with a learned position table of
/// <c>MaxLength</c> rows added by <see cref="AddPositions"/> once prompts are in place (CLIP's
/// <c>token_embedding</c> and <c>positional_embedding</c>). A fixed table length lets a model
/// pretrained on one sequence length be prompted with another. Registered: <c>weight</c> <c>[V,D]</c>,
/// <c>positions</c> <c>[MaxLength,D]</c>.
/// </summary>
public sealed class TokenEmbedding : nn.Module<Tensor, Tensor>
{
    // Not readonly: Module.to() replaces parameters and assigns the field with the registered name.
    private Parameter weight;
    private Parameter positions;

    public TokenEmbedding(int vocab, int dim, int maxLength) : base(nameof(TokenEmbedding))
    {
        if (vocab <= 0) throw new ArgumentOutOfRangeException(nameof(vocab), vocab, "TokenEmbedding: the vocabulary size must be positive.");
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "TokenEmbedding: the width must be positive.");
        if (maxLength <= 0) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "TokenEmbedding: the position table length must be positive.");
        Vocab = vocab;
        Dim = dim;
        MaxLength = maxLength;
        weight = new Parameter(empty(vocab, dim));
        positions = new Parameter(empty(maxLength, dim));
        using (no_grad()) {
            // CLIP: token embedding std 0.02, positions std 0.01.
            nn.init.normal_(weight, 0, 0.02);
            nn.init.normal_(positions, 0, 0.01);
        }
        weight = (Parameter)weight.DetachFromDisposeScope();
        positions = (Parameter)positions.DetachFromDisposeScope();
        register_parameter(nameof(weight), weight);
        register_parameter(nameof(positions), positions);
    }

    public int Vocab { get; }
    public int Dim { get; }
    public int MaxLength { get; }

    /// <summary>The embedding table <c>[V,D]</c>, e.g. to initialise prompts from words.</summary>
    public Tensor Weight => weight;

    /// <summary><c>[B,T]</c> ids <c>-> [B,T,D]</c>, without positions.</summary>
    public override Tensor forward(Tensor ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.ndim != 2)
            throw new ArgumentException($"TokenEmbedding expects token ids [B,T]; got [{string.Join(",", ids.shape)}].", nameof(ids));
        return weight.index_select(0, ids.reshape(-1)).reshape(ids.shape[0], ids.shape[1], Dim);
    }

    /// <summary><c>x [B,L,D]</c> plus the first L rows of the position table; L may not exceed <see cref="MaxLength"/>.</summary>
    public Tensor AddPositions(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim != 3 || x.shape[2] != Dim || x.shape[1] > MaxLength)
            throw new ArgumentException($"TokenEmbedding.AddPositions expects tokens [B,L<={MaxLength},{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
        return x + positions.narrow(0, 0, x.shape[1]);
    }
}
