using System.IO;
using System.Linq;
using ModelDsl.Data;

namespace ModelDsl.Tests.Data;

public class IdxFileTests
{
    [Fact]
    public void Reads_a_gzipped_idx_file_with_its_dimensions_and_bytes()
    {
        using var dir = new TempDir();
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)(i * 7)).ToArray();
        TestData.WriteGzip(dir.File("x.gz"), TestData.IdxBytes([2, 3, 4], data));

        var array = IdxFile.Read(dir.File("x.gz"));

        Assert.Equal([2, 3, 4], array.Dimensions);
        Assert.Equal(data, array.Data);
        Assert.Equal(2, array.Count);
        Assert.Equal(12, array.ItemSize);
    }

    [Fact]
    public void Reads_an_uncompressed_idx_file_too()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("labels"), TestData.IdxBytes([5], [9, 8, 7, 6, 5]));

        var array = IdxFile.Read(dir.File("labels"));

        Assert.Equal([5], array.Dimensions);
        Assert.Equal(new byte[] { 9, 8, 7, 6, 5 }, array.Data);
    }

    [Fact]
    public void Write_then_read_round_trips()
    {
        using var dir = new TempDir();
        var original = new IdxArray([3, 2], [1, 2, 3, 4, 5, 6]);
        IdxFile.Write(dir.File("a.gz"), original);

        var back = IdxFile.Read(dir.File("a.gz"));

        Assert.Equal(original.Dimensions, back.Dimensions);
        Assert.Equal(original.Data, back.Data);
        Assert.Equal([0x1f, 0x8b], File.ReadAllBytes(dir.File("a.gz")).Take(2));
    }

    [Fact]
    public void A_wrong_magic_number_names_the_file_and_the_magic()
    {
        using var dir = new TempDir();
        var path = dir.File("bad-images.gz");
        TestData.WriteGzip(path, TestData.IdxBytes([1, 2, 2], [1, 2, 3, 4], magicPrefix: 0x1234_0800));

        var e = Assert.Throws<IdxFormatException>(() => IdxFile.Read(path));

        Assert.Equal(path, e.FilePath);
        Assert.Contains(path, e.Message);
        Assert.Contains("magic number is 0x12340803", e.Message);
    }

    [Fact]
    public void An_unsupported_element_type_is_reported()
    {
        using var dir = new TempDir();
        var path = dir.File("floats.gz");
        TestData.WriteGzip(path, TestData.IdxBytes([1], [0, 0, 0, 0], magicPrefix: 0x0000_0D00));

        var e = Assert.Throws<IdxFormatException>(() => IdxFile.Read(path));

        Assert.Contains("element type 0x0D", e.Message);
    }

    [Fact]
    public void A_truncated_file_says_how_much_data_is_missing()
    {
        using var dir = new TempDir();
        var path = dir.File("short.gz");
        TestData.WriteGzip(path, TestData.IdxBytes([4, 2, 2], new byte[10]));

        var e = Assert.Throws<IdxFormatException>(() => IdxFile.Read(path));

        Assert.Contains("[4,2,2] (16 bytes of data) but the file has only 10", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Trailing_bytes_are_an_error()
    {
        using var dir = new TempDir();
        var path = dir.File("long");
        File.WriteAllBytes(path, TestData.IdxBytes([2], [1, 2, 3]));

        var e = Assert.Throws<IdxFormatException>(() => IdxFile.Read(path));

        Assert.Contains("bytes after", e.Message);
    }

    [Fact]
    public void Corrupt_gzip_is_reported_as_an_idx_error()
    {
        using var dir = new TempDir();
        var path = dir.File("corrupt.gz");
        TestData.WriteGzip(path, TestData.IdxBytes([64], new byte[64]));
        var bytes = File.ReadAllBytes(path);
        for (int i = 10; i < bytes.Length - 8; i++) bytes[i] ^= 0x5A;
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<IdxFormatException>(() => IdxFile.Read(path));

        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void A_missing_file_is_FileNotFound_with_the_path()
    {
        var e = Assert.Throws<FileNotFoundException>(() => IdxFile.Read("/nonexistent/x-idx1-ubyte.gz"));
        Assert.Contains("/nonexistent/x-idx1-ubyte.gz", e.Message);
    }
}
