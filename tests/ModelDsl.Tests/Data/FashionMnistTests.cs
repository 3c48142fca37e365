using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ModelDsl.Data;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Data;

public class FashionMnistTests
{
    [Fact]
    public void Embedded_subset_has_8000_train_and_2000_test_rows_with_the_documented_columns()
    {
        var train = TestData.EmbeddedTrain;
        var test = TestData.EmbeddedTest;

        Assert.Equal(8000, train.Count);
        Assert.Equal(2000, test.Count);
        Assert.Equal(["image", "label"], train.Names);
        Assert.Equal([8000L, 1, 28, 28], train["image"].shape);
        Assert.Equal(ScalarType.Float32, train["image"].dtype);
        Assert.Equal([2000L], test["label"].shape);
        Assert.Equal(ScalarType.Int64, test["label"].dtype);
    }

    [Fact]
    public void Embedded_subset_is_class_balanced()
    {
        using var trainCounts = bincount(TestData.EmbeddedTrain["label"], minlength: 10);
        using var testCounts = bincount(TestData.EmbeddedTest["label"], minlength: 10);

        Assert.Equal(Enumerable.Repeat(800L, 10), trainCounts.data<long>().ToArray());
        Assert.Equal(Enumerable.Repeat(200L, 10), testCounts.data<long>().ToArray());
    }

    [Fact]
    public void Embedded_images_are_normalised_with_the_Fashion_MNIST_mean_and_std()
    {
        var image = TestData.EmbeddedTrain["image"];
        using var scope = NewDisposeScope();

        // Pixel 0 and 255 map to (0 - mean) / std and (1 - mean) / std.
        Assert.Equal((0 - FashionMnist.Mean) / FashionMnist.Std, image.min().item<float>(), 4);
        Assert.Equal((1 - FashionMnist.Mean) / FashionMnist.Std, image.max().item<float>(), 4);
        // The subset's statistics are close to the full training set's, so about 0 and 1 here.
        Assert.InRange(image.mean().item<float>(), -0.05, 0.05);
        Assert.InRange(image.std().item<float>(), 0.95, 1.05);
    }

    [Fact]
    public void Class_names_are_the_ten_Fashion_MNIST_classes_in_label_order()
    {
        Assert.Equal(10, FashionMnist.ClassNames.Count);
        Assert.Equal("T-shirt/top", FashionMnist.ClassNames[0]);
        Assert.Equal("Sandal", FashionMnist.ClassNames[5]);
        Assert.Equal("Ankle boot", FashionMnist.ClassNames[9]);
    }

    [Fact]
    public void Loads_a_folder_of_official_idx_files_and_normalises_the_pixels()
    {
        using var dir = new TempDir();
        WriteSplit(dir, "train", count: 3, labels: [0, 9, 4]);
        WriteSplit(dir, "t10k", count: 2, labels: [1, 2]);

        var (train, test) = FashionMnist.Load(dir.Path);
        using (train)
        using (test)
        {
            Assert.Equal(3, train.Count);
            Assert.Equal(2, test.Count);
            Assert.Equal([0L, 9, 4], train["label"].data<long>().ToArray());
            // Image i has every pixel equal to 100 * i.
            float expected = (float)((200 / 255.0 - FashionMnist.Mean) / FashionMnist.Std);
            Assert.Equal(expected, train["image"][2, 0, 27, 27].item<float>(), 5);
        }
    }

    [Fact]
    public void A_missing_folder_names_the_package_and_the_data_option()
    {
        var e = Assert.Throws<DirectoryNotFoundException>(() => FashionMnist.Load("/nonexistent/fashion"));

        Assert.Contains("/nonexistent/fashion", e.Message);
        Assert.Contains("dataset-fashion-mnist", e.Message);
        Assert.Contains("--data <folder>", e.Message);
    }

    [Fact]
    public void A_missing_file_names_the_file()
    {
        using var dir = new TempDir();
        WriteSplit(dir, "train", count: 1, labels: [0]);

        var e = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(dir.Path));

        Assert.Contains("t10k-images-idx3-ubyte.gz", e.Message);
        Assert.Contains("dataset-fashion-mnist", e.Message);
    }

    [Fact]
    public void A_malformed_file_names_the_file_and_the_fix()
    {
        using var dir = new TempDir();
        WriteSplit(dir, "train", count: 1, labels: [0]);
        WriteSplit(dir, "t10k", count: 1, labels: [0]);
        var bad = dir.File("t10k-labels-idx1-ubyte.gz");
        TestData.WriteGzip(bad, TestData.IdxBytes([1], [0], magicPrefix: 0x0000_0900));

        var e = Assert.Throws<IdxFormatException>(() => FashionMnist.Load(dir.Path));

        Assert.Contains(bad, e.Message);
        Assert.Contains("dataset-fashion-mnist", e.Message);
    }

    [Fact]
    public void Labels_outside_the_ten_classes_are_rejected()
    {
        var images = new IdxArray([2, 28, 28], new byte[2 * 784]);
        var labels = new IdxArray([2], [3, 10]);

        var e = Assert.Throws<IdxFormatException>(() => FashionMnist.FromIdx(images, labels));

        Assert.Contains("label 1 is 10", e.Message);
    }

    [Fact]
    public void Images_and_labels_of_different_counts_are_rejected()
    {
        var e = Assert.Throws<IdxFormatException>(() =>
            FashionMnist.FromIdx(new IdxArray([2, 28, 28], new byte[2 * 784]), new IdxArray([3], [0, 1, 2])));

        Assert.Contains("2 images but 3 labels", e.Message);
    }

    [Fact]
    public void Embedded_subset_matches_the_sha256_in_its_readme_and_the_selection_rule_on_the_installed_files()
    {
        // Always: each embedded resource has the size and SHA-256 recorded in src/ModelDsl/Data/Embedded/README.md.
        var readme = File.ReadAllLines(FindRepositoryFile("src/ModelDsl/Data/Embedded/README.md"));
        var recorded = readme
            .Select(line => System.Text.RegularExpressions.Regex.Match(line, @"^\| `(fashion-mnist-subset-[a-z-]+\.gz)` \|.*\| ([0-9,]+) \| `([0-9a-f]{64})` \|$"))
            .Where(m => m.Success)
            .ToDictionary(m => m.Groups[1].Value, m => (Bytes: long.Parse(m.Groups[2].Value.Replace(",", "")), Sha256: m.Groups[3].Value));
        Assert.Equal(4, recorded.Count);
        foreach (var (file, (bytes, sha256)) in recorded)
        {
            using var stream = typeof(FashionMnist).Assembly.GetManifestResourceStream("ModelDsl.Data." + file)
                ?? throw new Xunit.Sdk.XunitException($"resource {file} is not embedded");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            Assert.Equal(bytes, copy.Length);
            Assert.Equal(sha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(copy.ToArray())));
        }

        // Where dataset-fashion-mnist is installed, also the rule of that README: the first 800 (train) /
        // 200 (test) images of each class in official file order.
        if (!File.Exists(Path.Combine(FashionMnist.InstalledFolder, "t10k-labels-idx1-ubyte.gz"))) return;

        foreach (var (prefix, name, perClass) in new[] { ("train", "train", 800), ("t10k", "test", 200) })
        {
            var images = IdxFile.Read(Path.Combine(FashionMnist.InstalledFolder, $"{prefix}-images-idx3-ubyte.gz"));
            var labels = IdxFile.Read(Path.Combine(FashionMnist.InstalledFolder, $"{prefix}-labels-idx1-ubyte.gz"));
            var taken = new int[10];
            var chosen = new List<int>();
            for (int i = 0; i < labels.Count; i++)
            {
                if (taken[labels.Data[i]] < perClass) { taken[labels.Data[i]]++; chosen.Add(i); }
            }

            var embeddedImages = ReadResource($"fashion-mnist-subset-{name}-images.gz");
            var embeddedLabels = ReadResource($"fashion-mnist-subset-{name}-labels.gz");

            Assert.Equal(chosen.Select(i => labels.Data[i]), embeddedLabels.Data);
            Assert.Equal([chosen.Count, 28, 28], embeddedImages.Dimensions);
            var expected = chosen.SelectMany(i => images.Data.Skip(i * 784).Take(784)).ToArray();
            Assert.True(expected.AsSpan().SequenceEqual(embeddedImages.Data), $"{name} images differ from the selection rule");
        }
    }

    private static string FindRepositoryFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }

    private static IdxArray ReadResource(string file)
    {
        using var stream = typeof(FashionMnist).Assembly.GetManifestResourceStream("ModelDsl.Data." + file)!;
        return IdxFile.Read(stream, file);
    }

    private static void WriteSplit(TempDir dir, string prefix, int count, byte[] labels)
    {
        var pixels = new byte[count * 784];
        for (int i = 0; i < count; i++) Array.Fill(pixels, (byte)(100 * i), i * 784, 784);
        TestData.WriteGzip(dir.File($"{prefix}-images-idx3-ubyte.gz"), TestData.IdxBytes([count, 28, 28], pixels));
        TestData.WriteGzip(dir.File($"{prefix}-labels-idx1-ubyte.gz"), TestData.IdxBytes([count], labels));
    }
}
