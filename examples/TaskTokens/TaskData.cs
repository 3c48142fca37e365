using System;
using System.Collections.Generic;
using ModelDsl.Data;
using static TorchSharp.torch;

namespace TaskTokensExample;

/// <summary>
/// Fashion-MNIST with four targets per image: every image is rotated by a random angle in
/// [-45°, 45°] (bilinear, black corners), then <c>category</c> is the class, <c>coarse</c> its group,
/// <c>angle</c> the rotation / 45° <c>[N,1]</c>, and <c>mask</c> the rotated pixels above
/// <see cref="MaskThreshold"/> <c>[N,1,28,28]</c>. In the training split the coarse label is present
/// on a random <see cref="CoarseLabelled"/> of the images (<c>coarse_present</c>); an absent one reads -1.
/// </summary>
public static class TaskData
{
    public const double MaxAngle = 45.0;
    public const double MaskThreshold = 0.15;
    public const double CoarseLabelled = 0.5;

    /// <summary>The coarse groups: tops, bottoms and dresses, footwear and bags.</summary>
    public static IReadOnlyList<string> CoarseNames { get; } = ["tops", "bottoms and dresses", "footwear and bags"];

    // T-shirt, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot
    private static readonly long[] CoarseOf = [0, 1, 0, 1, 0, 2, 0, 2, 2, 2];

    /// <summary>The task datasets of both splits; the test split has every label.</summary>
    public static (TensorDataset Train, TensorDataset Test) Create(TensorDataset train, TensorDataset test, long seed)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        var generator = new Generator((ulong)seed);
        return (Build(train, generator, CoarseLabelled), Build(test, generator, 1.0));
    }

    private static TensorDataset Build(TensorDataset source, Generator generator, double labelled)
    {
        using var scope = NewDisposeScope();
        var n = source.Count;
        var raw = source["image"] * FashionMnist.Std + FashionMnist.Mean;            // back to [0,1]
        var degrees = (rand(n, generator: generator) * 2 - 1) * MaxAngle;
        var rotated = Rotate(raw, degrees);
        var category = source["label"];
        var present = rand(n, generator: generator).lt(labelled);
        var coarse = where(present, tensor(CoarseOf).index_select(0, category), full(n, -1L));
        var columns = new (string, Tensor)[]
        {
            ("image", ((rotated - FashionMnist.Mean) / FashionMnist.Std).MoveToOuterDisposeScope()),
            ("category", category.clone().MoveToOuterDisposeScope()),
            ("coarse", coarse.MoveToOuterDisposeScope()),
            ("coarse_present", present.MoveToOuterDisposeScope()),
            ("angle", (degrees / MaxAngle).unsqueeze(1).MoveToOuterDisposeScope()),
            ("mask", rotated.gt(MaskThreshold).to_type(ScalarType.Float32).MoveToOuterDisposeScope()),
        };
        return new TensorDataset(columns);
    }

    /// <summary>Rotates images <c>[N,1,H,W]</c> by <paramref name="degrees"/> <c>[N]</c> about their centre, in chunks.</summary>
    public static Tensor Rotate(Tensor images, Tensor degrees)
    {
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        for (long start = 0; start < images.shape[0]; start += 4096)
        {
            var length = Math.Min(4096, images.shape[0] - start);
            var chunk = images.narrow(0, start, length);
            var radians = degrees.narrow(0, start, length) * (Math.PI / 180.0);
            var (cos, sin, zero) = (radians.cos(), radians.sin(), zeros(length));
            // Each output pixel samples the input at the inverse rotation of its position.
            var theta = stack([stack([cos, -sin, zero], 1), stack([sin, cos, zero], 1)], 1);   // [n,2,3]
            var grid = nn.functional.affine_grid(theta, chunk.shape, align_corners: false);
            parts.Add(nn.functional.grid_sample(chunk, grid, mode: GridSampleMode.Bilinear, padding_mode: GridSamplePaddingMode.Zeros, align_corners: false));
        }
        return cat(parts, 0).MoveToOuterDisposeScope();
    }
}
