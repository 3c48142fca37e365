using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// One feature vector per sequence, projected to a shared embedding width (CLIP's
/// <c>visual.proj</c> / <c>text_projection</c>): pool <c>[B,N,D]</c> to <c>[B,D]</c>, then a linear map
/// without bias <c>-> [B,E]</c>. Registered: <c>weight</c> <c>[E,D]</c>.
/// </summary>
public sealed class FeatureProjection : nn.Module<Tensor, Tensor>
{
    private Parameter weight;

    public FeatureProjection(int dim, int outDim) : base(nameof(FeatureProjection))
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "FeatureProjection: the input width must be positive.");
        if (outDim <= 0) throw new ArgumentOutOfRangeException(nameof(outDim), outDim, "FeatureProjection: the output width must be positive.");
        Dim = dim;
        OutDim = outDim;
        weight = new Parameter(empty(outDim, dim));
        using (no_grad())
            nn.init.normal_(weight, 0, Math.Pow(dim, -0.5));
        weight = (Parameter)weight.DetachFromDisposeScope();
        register_parameter(nameof(weight), weight);
    }

    public int Dim { get; }
    public int OutDim { get; }

    /// <summary><c>[B,D] -> [B,E]</c>.</summary>
    public override Tensor forward(Tensor pooled)
    {
        ArgumentNullException.ThrowIfNull(pooled);
        if (pooled.ndim != 2 || pooled.shape[1] != Dim)
            throw new ArgumentException($"FeatureProjection expects pooled features [B,{Dim}]; got [{string.Join(",", pooled.shape)}].", nameof(pooled));
        return nn.functional.linear(pooled, weight);
    }

    /// <summary>
    /// The token at each row's end token: <c>x [B,L,D]</c>, <c>ids [B,T]</c> <c>-> [B,D]</c>, taking the
    /// first position where <c>ids == endToken</c>, shifted by <paramref name="offset"/> tokens inserted
    /// before it (prompts). A row without the end token is an error that names it.
    /// </summary>
    public static Tensor AtEndToken(Tensor x, Tensor ids, long endToken, int offset)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(ids);
        using var scope = NewDisposeScope();
        var isEnd = ids.eq(endToken);
        var missing = isEnd.any(1).logical_not();
        if (missing.any().item<bool>())
            throw new ArgumentException($"Row {missing.nonzero()[0, 0].item<long>()} of the token ids has no end token {endToken}; every sequence must end with it.", nameof(ids));
        // argmax of the int mask gives the first end token.
        var position = isEnd.to(int32).argmax(1) + offset;
        var index = position.view(-1, 1, 1).expand(-1, 1, x.shape[2]);
        return x.gather(1, index).squeeze(1).MoveToOuterDisposeScope();
    }
}
