using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Splits an image <c>[B,C,H,W]</c> into non-overlapping <c>P×P</c> patches and projects each to a
/// <c>D</c>-vector: <c>[B,(H/P)*(W/P),D]</c>, patches in row-major order (timm <c>PatchEmbed</c>).
/// </summary>
/// <remarks>Registered child: <c>proj</c> (a <c>Conv2d</c> with kernel = stride = <c>P</c> and a bias).</remarks>
public sealed class PatchEmbedding : nn.Module<Tensor, Tensor>
{
    // Field names equal registered names (TorchSharp's naming rule).
    private readonly Conv2d proj;

    public PatchEmbedding(int inChannels, int patchSize, int dim) : base(nameof(PatchEmbedding))
    {
        if (inChannels <= 0) throw new ArgumentOutOfRangeException(nameof(inChannels), inChannels, "The number of input channels must be positive.");
        if (patchSize <= 0) throw new ArgumentOutOfRangeException(nameof(patchSize), patchSize, "The patch size must be positive.");
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "The embedding dimension must be positive.");

        InChannels = inChannels;
        PatchSize = patchSize;
        Dim = dim;
        proj = nn.Conv2d(inChannels, dim, kernel_size: patchSize, stride: patchSize, bias: true);
        register_module(nameof(proj), proj);
    }

    public int InChannels { get; }
    public int PatchSize { get; }
    public int Dim { get; }

    /// <summary><c>[B,C,H,W] -> [B,(H/P)*(W/P),D]</c>.</summary>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.ndim != 4)
            throw new ArgumentException($"PatchEmbedding expects an image [B,C,H,W] (rank 4); got rank {input.ndim} [{string.Join(",", input.shape)}].", nameof(input));
        var (c, h, w) = (input.shape[1], input.shape[2], input.shape[3]);
        if (c != InChannels)
            throw new ArgumentException($"PatchEmbedding expects {InChannels} channels; got {c} (input [{string.Join(",", input.shape)}]).", nameof(input));
        if (h % PatchSize != 0 || w % PatchSize != 0)
            throw new ArgumentException($"PatchEmbedding: the image size {h}x{w} is not divisible by the patch size {PatchSize}.", nameof(input));

        using var scope = NewDisposeScope();
        var weight = proj.weight!;
        Tensor x;
        if (Autocast.AppliesTo(weight.dtype, out var compute))
        {
            // The patch projection in the compute type; the tokens leave in the parameters' type.
            var bias = proj.bias;
            x = nn.functional.conv2d(Autocast.To(input, compute), weight.to(compute), bias is null ? null : bias.to(compute),
                strides: new long[] { PatchSize, PatchSize });
            x = x.flatten(2).transpose(1, 2).to(weight.dtype);   // [B,N,D]
        }
        else
        {
            x = proj.forward(input);              // [B,D,H/P,W/P]
            x = x.flatten(2).transpose(1, 2);     // [B,N,D]
        }
        return x.MoveToOuterDisposeScope();
    }
}
