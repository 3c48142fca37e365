using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using static TorchSharp.torch;

namespace ModelDsl.Data;

/// <summary>
/// Fashion-MNIST (Zalando, MIT licence): 28x28 grey images of 10 clothing classes. Datasets have the
/// columns <c>image</c> (float32 <c>[N,1,28,28]</c>, normalised with <see cref="Mean"/> and
/// <see cref="Std"/>) and <c>label</c> (int64 <c>[N]</c>, indices into <see cref="ClassNames"/>).
/// </summary>
public static class FashionMnist
{
    /// <summary>Where the Debian package <c>dataset-fashion-mnist</c> installs the official files.</summary>
    public const string InstalledFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>The mean pixel value of the official training set, on a 0..1 scale.</summary>
    public const double Mean = 0.2860;

    /// <summary>The standard deviation of the official training set's pixels, on a 0..1 scale.</summary>
    public const double Std = 0.3530;

    /// <summary>The name of the image column.</summary>
    public const string ImageColumn = "image";

    /// <summary>The name of the label column.</summary>
    public const string LabelColumn = "label";

    /// <summary>Image height and width.</summary>
    public const int ImageSize = 28;

    /// <summary>The class names, indexed by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    private const string Hint =
        "Install the Debian package dataset-fashion-mnist (it puts the files in " + InstalledFolder +
        "), or pass --data <folder> with the four official idx files, or use the embedded subset (FashionMnist.LoadEmbedded()).";

    /// <summary>
    /// Loads the train and test splits: from <paramref name="folder"/> (the four official idx files,
    /// <c>train-images-idx3-ubyte.gz</c>, <c>train-labels-idx1-ubyte.gz</c>, <c>t10k-images-idx3-ubyte.gz</c>,
    /// <c>t10k-labels-idx1-ubyte.gz</c>, gzip-compressed or not), or the embedded subset when null.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="IdxFormatException">A file is not a valid idx file, or does not hold Fashion-MNIST.</exception>
    public static (TensorDataset Train, TensorDataset Test) Load(string? folder)
    {
        if (folder is null) return LoadEmbedded();
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Fashion-MNIST folder '{folder}' does not exist. {Hint}");
        var train = LoadSplit(folder, "train");
        try
        {
            return (train, LoadSplit(folder, "t10k"));
        }
        catch
        {
            train.Dispose();
            throw;
        }
    }

    /// <summary>Loads the official files from <see cref="InstalledFolder"/> (60,000 train and 10,000 test images).</summary>
    public static (TensorDataset Train, TensorDataset Test) LoadInstalled() => Load(InstalledFolder);

    /// <summary>
    /// Loads the embedded class-balanced subset: 8,000 training images (800 per class, from the
    /// official train split) and 2,000 test images (200 per class, from the official test split).
    /// </summary>
    public static (TensorDataset Train, TensorDataset Test) LoadEmbedded()
    {
        var train = FromIdx(ReadResource("train-images"), ReadResource("train-labels"), "embedded train subset");
        try
        {
            return (train, FromIdx(ReadResource("test-images"), ReadResource("test-labels"), "embedded test subset"));
        }
        catch
        {
            train.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Builds a dataset from parsed idx arrays: images <c>[N,28,28]</c> become normalised float32
    /// <c>[N,1,28,28]</c>, labels <c>[N]</c> (0..9) become int64.
    /// </summary>
    /// <exception cref="IdxFormatException">The arrays do not have Fashion-MNIST's shapes or label range.</exception>
    public static TensorDataset FromIdx(IdxArray images, IdxArray labels, string source = "Fashion-MNIST")
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (images.Dimensions.Length != 3 || images.Dimensions[1] != ImageSize || images.Dimensions[2] != ImageSize)
            throw new IdxFormatException(source,
                $"the images have dimensions [{string.Join(",", images.Dimensions)}], expected [N,{ImageSize},{ImageSize}]", Hint);
        if (labels.Dimensions.Length != 1)
            throw new IdxFormatException(source,
                $"the labels have dimensions [{string.Join(",", labels.Dimensions)}], expected [N]", Hint);
        if (labels.Count != images.Count)
            throw new IdxFormatException(source, $"there are {images.Count} images but {labels.Count} labels", Hint);
        int bad = Array.FindIndex(labels.Data, l => l >= ClassNames.Count);
        if (bad >= 0)
            throw new IdxFormatException(source,
                $"label {bad} is {labels.Data[bad]}, outside the {ClassNames.Count} classes (0..{ClassNames.Count - 1})", Hint);

        using var scope = NewDisposeScope();
        var pixels = tensor(images.Data, new long[] { images.Count, 1, ImageSize, ImageSize }, dtype: ScalarType.Byte);
        var image = pixels.to_type(ScalarType.Float32).div_(255.0).sub_(Mean).div_(Std);
        var label = tensor(labels.Data, new long[] { labels.Count }, dtype: ScalarType.Byte).to_type(ScalarType.Int64);
        return new TensorDataset((ImageColumn, image.MoveToOuterDisposeScope()), (LabelColumn, label.MoveToOuterDisposeScope()));
    }

    private static TensorDataset LoadSplit(string folder, string prefix)
    {
        var images = IdxFile.Read(Find(folder, $"{prefix}-images-idx3-ubyte"), Hint);
        var labels = IdxFile.Read(Find(folder, $"{prefix}-labels-idx1-ubyte"), Hint);
        return FromIdx(images, labels, Path.Combine(folder, $"{prefix}-*"));
    }

    private static string Find(string folder, string name)
    {
        var gz = Path.Combine(folder, name + ".gz");
        if (File.Exists(gz)) return gz;
        var raw = Path.Combine(folder, name);
        if (File.Exists(raw)) return raw;
        throw new FileNotFoundException($"Fashion-MNIST file '{gz}' not found (nor '{raw}'). {Hint}", gz);
    }

    private static IdxArray ReadResource(string part)
    {
        var name = $"ModelDsl.Data.fashion-mnist-subset-{part}.gz";
        var assembly = typeof(FashionMnist).Assembly;
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException(
                $"The embedded resource '{name}' is missing from {assembly.GetName().Name}. " +
                $"Rebuild ModelDsl with src/ModelDsl/Data/Embedded/*.gz present (see README.md there).");
        return IdxFile.Read(stream, $"resource {name}", "Rebuild ModelDsl from a clean checkout (see src/ModelDsl/Data/Embedded/README.md).");
    }
}
