using System;
using System.IO;
using System.IO.Compression;
using ModelDsl.Data;

namespace ModelDsl.Tests.Data;

/// <summary>Shared test data: the embedded subset loaded once per test run.</summary>
internal static class TestData
{
    private static readonly Lazy<(TensorDataset Train, TensorDataset Test)> Embedded = new(FashionMnist.LoadEmbedded);

    /// <summary>The embedded train split (shared; do not dispose).</summary>
    public static TensorDataset EmbeddedTrain => Embedded.Value.Train;

    /// <summary>The embedded test split (shared; do not dispose).</summary>
    public static TensorDataset EmbeddedTest => Embedded.Value.Test;

    /// <summary>Writes raw bytes gzip-compressed.</summary>
    public static void WriteGzip(string path, byte[] content)
    {
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        gz.Write(content);
    }

    /// <summary>An idx header (ubyte) followed by data, built by hand (independent of <see cref="IdxFile.Write(string, IdxArray)"/>).</summary>
    public static byte[] IdxBytes(int[] dims, byte[] data, int magicPrefix = 0x0000_0800)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        int magic = magicPrefix | dims.Length;
        bytes[0] = (byte)(magic >> 24); bytes[1] = (byte)(magic >> 16); bytes[2] = (byte)(magic >> 8); bytes[3] = (byte)magic;
        for (int i = 0; i < dims.Length; i++)
        {
            int o = 4 + 4 * i;
            bytes[o] = (byte)(dims[i] >> 24); bytes[o + 1] = (byte)(dims[i] >> 16); bytes[o + 2] = (byte)(dims[i] >> 8); bytes[o + 3] = (byte)dims[i];
        }
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }
}

/// <summary>A temporary folder removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "modeldsl-tests-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
