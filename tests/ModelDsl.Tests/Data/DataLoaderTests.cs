using System.Collections.Generic;
using System.Linq;
using ModelDsl.Data;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Data;

public class DataLoaderTests
{
    private static TensorDataset Rows(int n) =>
        new(("x", arange(n, dtype: ScalarType.Float32).unsqueeze(1).expand(n, 3).contiguous()), ("id", arange(n, dtype: ScalarType.Int64)));

    private static List<long[]> Ids(DataLoader loader, int epoch)
    {
        var ids = new List<long[]>();
        foreach (var batch in loader.Epoch(epoch))
        {
            using (batch) ids.Add(batch["id"].data<long>().ToArray());
        }
        return ids;
    }

    [Fact]
    public void Shuffling_is_deterministic_given_seed_and_epoch_and_differs_between_epochs()
    {
        using var data = Rows(50);
        var a = new DataLoader(data, 8, seed: 7);
        var b = new DataLoader(data, 8, seed: 7);
        var c = new DataLoader(data, 8, seed: 8);

        Assert.Equal(Ids(a, 3).SelectMany(x => x), Ids(b, 3).SelectMany(x => x));
        Assert.NotEqual(Ids(a, 3).SelectMany(x => x), Ids(a, 4).SelectMany(x => x));
        Assert.NotEqual(a.Order(0), c.Order(0));
        Assert.NotEqual(Enumerable.Range(0, 50).Select(i => (long)i), a.Order(0));
    }

    [Fact]
    public void Every_row_is_visited_once_per_epoch_with_its_own_columns()
    {
        using var data = Rows(23);
        var loader = new DataLoader(data, 5, seed: 1);

        var seen = new List<long>();
        foreach (var batch in loader.Epoch(2))
        {
            using (batch)
            {
                var ids = batch["id"].data<long>().ToArray();
                var x = batch["x"][.., 0].data<float>().ToArray();
                Assert.Equal(ids.Select(i => (float)i), x); // rows stay aligned across columns
                seen.AddRange(ids);
            }
        }

        Assert.Equal(5, loader.BatchesPerEpoch);
        Assert.Equal(Enumerable.Range(0, 23).Select(i => (long)i), seen.Order());
    }

    [Fact]
    public void Drop_last_skips_the_short_final_batch()
    {
        using var data = Rows(10);
        var keep = new DataLoader(data, 4, shuffle: false);
        var drop = new DataLoader(data, 4, shuffle: false, dropLast: true);

        Assert.Equal([4, 4, 2], Ids(keep, 0).Select(b => b.Length));
        Assert.Equal([4, 4], Ids(drop, 0).Select(b => b.Length));
        Assert.Equal(3, keep.BatchesPerEpoch);
        Assert.Equal(2, drop.BatchesPerEpoch);
        Assert.Equal([0L, 1, 2, 3], Ids(keep, 0)[0]);
    }

    [Fact]
    public void Batches_are_on_the_requested_device_and_name_missing_tensors()
    {
        using var data = Rows(4);
        var loader = new DataLoader(data, 4, device: CPU);

        using var batch = loader.Epoch(0).Single();

        Assert.Equal(TorchSharp.DeviceType.CPU, batch.Device.type);
        Assert.Equal(4, batch.Size);
        var e = Assert.Throws<KeyNotFoundException>(() => batch["image"]);
        Assert.Contains("x, id", e.Message);
    }
}
