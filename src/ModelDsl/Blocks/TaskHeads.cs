using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// A linear map of a task token to real-valued outputs, <c>[...,D] -> [...,Outputs]</c> (see
/// <see cref="LinearHead"/>); the outputs are computed in fp32 for the loss, also under autocast.
/// </summary>
public sealed class RegressionHead : LinearHead
{
    public RegressionHead(int dim, int outputs) : base(nameof(RegressionHead), dim, outputs, "outputs") => Outputs = outputs;

    public int Outputs { get; }

    public override Tensor forward(Tensor x)
    {
        CheckFeatures(x);
        using var scope = NewDisposeScope();
        return nn.functional.linear(x.to(weight.dtype), weight, bias).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A binary mask from a task token and an encoder's patch tokens (FaceXFormer-style): each patch
/// token becomes <c>P*P</c> sub-pixel embeddings of width <c>E</c> (registered <c>pixels</c>, Linear
/// Ds→P*P*E), the task token a query (registered <c>query</c>, Linear D→E), and each pixel's logit is
/// their scaled dot product: task <c>[B,D]</c>, tokens <c>[B,prefix+h*w,Ds]</c> <c>-> [B,1,h*P,w*P]</c>.
/// The prefix tokens (CLS, registers, prompts) are skipped.
/// </summary>
public sealed class MaskHead : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear pixels;
    private readonly Linear query;

    public MaskHead(int dim, int sourceDim, int pixelDim, int patchSize, int gridHeight, int gridWidth, int prefixTokens = 0) : base(nameof(MaskHead))
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "MaskHead: the task token width must be positive.");
        if (sourceDim <= 0) throw new ArgumentOutOfRangeException(nameof(sourceDim), sourceDim, "MaskHead: the source width must be positive.");
        if (pixelDim <= 0) throw new ArgumentOutOfRangeException(nameof(pixelDim), pixelDim, "MaskHead: the pixel embedding width must be positive.");
        if (patchSize <= 0) throw new ArgumentOutOfRangeException(nameof(patchSize), patchSize, "MaskHead: the patch size must be positive.");
        if (gridHeight <= 0 || gridWidth <= 0)
            throw new ArgumentOutOfRangeException(nameof(gridHeight), $"MaskHead: the patch grid must be positive; got {gridHeight}x{gridWidth}.");
        if (prefixTokens < 0) throw new ArgumentOutOfRangeException(nameof(prefixTokens), prefixTokens, "MaskHead: the prefix token count cannot be negative.");
        (Dim, SourceDim, PixelDim, PatchSize, GridHeight, GridWidth, PrefixTokens) = (dim, sourceDim, pixelDim, patchSize, gridHeight, gridWidth, prefixTokens);
        pixels = nn.Linear(sourceDim, (long)patchSize * patchSize * pixelDim, hasBias: true);
        query = nn.Linear(dim, pixelDim, hasBias: true);
        register_module(nameof(pixels), pixels);
        register_module(nameof(query), query);
    }

    public int Dim { get; }
    public int SourceDim { get; }
    public int PixelDim { get; }
    public int PatchSize { get; }
    public int GridHeight { get; }
    public int GridWidth { get; }
    public int PrefixTokens { get; }

    /// <summary>task <c>[B,D]</c>, tokens <c>[B,prefix+h*w,Ds]</c> <c>-> [B,1,h*P,w*P]</c> logits.</summary>
    public override Tensor forward(Tensor task, Tensor tokens)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(tokens);
        var patches = (long)GridHeight * GridWidth;
        if (task.ndim != 2 || task.shape[1] != Dim)
            throw new ArgumentException($"MaskHead expects a task token [B,{Dim}]; got [{string.Join(",", task.shape)}].", nameof(task));
        if (tokens.ndim != 3 || tokens.shape[0] != task.shape[0] || tokens.shape[1] != PrefixTokens + patches || tokens.shape[2] != SourceDim)
            throw new ArgumentException(
                $"MaskHead expects tokens [{task.shape[0]},{PrefixTokens + patches},{SourceDim}] ({PrefixTokens} prefix + {GridHeight}x{GridWidth} patches); got [{string.Join(",", tokens.shape)}].", nameof(tokens));
        var (b, p, h, w) = (task.shape[0], (long)PatchSize, (long)GridHeight, (long)GridWidth);

        using var scope = NewDisposeScope();
        var perPatch = pixels.forward(tokens.narrow(1, PrefixTokens, patches));                     // [B,h*w,P*P*E]
        var embeddings = perPatch.reshape(b, h, w, p, p, PixelDim).permute(0, 1, 3, 2, 4, 5)      // [B,h,P,w,P,E]
            .reshape(b, h * p * w * p, PixelDim);                                                  // [B,H*W,E], row-major pixels
        var q = query.forward(task).unsqueeze(2);                                                  // [B,E,1]
        var logits = embeddings.bmm(q).mul(1.0 / Math.Sqrt(PixelDim));                             // [B,H*W,1]
        return logits.reshape(b, 1, h * p, w * p).MoveToOuterDisposeScope();
    }
}
