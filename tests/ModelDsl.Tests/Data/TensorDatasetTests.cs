using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Data;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Data;

public class TensorDatasetTests
{
    private static TensorDataset Rows(int n) =>
        new(("x", arange(n * 2, dtype: ScalarType.Float32).reshape(n, 2)), ("id", arange(n, dtype: ScalarType.Int64)));

    [Fact]
    public void A_missing_column_lists_the_columns_there_are()
    {
        using var data = Rows(4);

        var e = Assert.Throws<KeyNotFoundException>(() => data["image"]);

        Assert.Contains("'image'", e.Message);
        Assert.Contains("x, id", e.Message);
    }

    [Fact]
    public void Columns_must_share_the_first_dimension()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            new TensorDataset(("a", zeros(3, 2)), ("b", zeros(4))));

        Assert.Contains("'b' has 4 rows but column 'a' has 3", e.Message);
    }

    [Fact]
    public void Subset_and_Take_copy_the_requested_rows()
    {
        using var data = Rows(6);
        using var subset = data.Subset([5, 0, 3]);
        using var first = data.Take(2);

        Assert.Equal(3, subset.Count);
        Assert.Equal([5L, 0, 3], subset["id"].data<long>().ToArray());
        Assert.Equal([10f, 11f], subset["x"][0].data<float>().ToArray());
        Assert.Equal(2, first.Count);
        Assert.Equal([0L, 1], first["id"].data<long>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Subset([6]));
    }

    [Fact]
    public void Subset_Take_and_To_leave_no_temporaries_behind()
    {
        using var data = Rows(6);
        static long Live() => TorchSharp.DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
        long before = Live();

        data.Subset([1, 2]).Dispose();
        data.Take(3).Dispose();
        data.To(CPU).Dispose();

        Assert.Equal(before, Live());
    }

    [Fact]
    public void The_dataset_survives_the_dispose_scope_it_was_created_in()
    {
        TensorDataset data;
        using (var scope = NewDisposeScope())
        {
            data = Rows(3);
        }
        using (data)
        {
            Assert.Equal([0L, 1, 2], data["id"].data<long>().ToArray());
        }
    }
}
