using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace ModelDsl.Data;

/// <summary>
/// Iterates a <see cref="TensorDataset"/> in batches moved to one device. With shuffling, each
/// epoch visits the rows in a permutation that depends only on the seed and the epoch number (it is
/// computed in .NET, so it is the same on every machine and TorchSharp version).
/// </summary>
/// <remarks>
/// Batches are gathered on the dataset's device and then copied to <see cref="Device"/>; put the
/// dataset on the training device first (<see cref="TensorDataset.To"/>) to keep the whole pipeline
/// there. The tensors of a batch belong to the dispose scope that is current when the enumerator
/// produces it; dispose the <see cref="NamedBatch"/> when done with it.
/// </remarks>
public sealed class DataLoader
{
    /// <summary>Creates a loader.</summary>
    /// <param name="dataset">The rows to iterate; not owned.</param>
    /// <param name="batchSize">Rows per batch (the last one may be smaller unless <paramref name="dropLast"/>).</param>
    /// <param name="device">Where batches go; the dataset's device when null.</param>
    /// <param name="shuffle">Whether to visit rows in a seeded per-epoch permutation.</param>
    /// <param name="seed">The shuffle seed.</param>
    /// <param name="dropLast">Whether to skip a final batch smaller than <paramref name="batchSize"/>.</param>
    public DataLoader(TensorDataset dataset, int batchSize, Device? device = null, bool shuffle = true, long seed = 0, bool dropLast = false)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        Dataset = dataset;
        BatchSize = batchSize;
        Device = device ?? dataset.Device;
        Shuffle = shuffle;
        Seed = seed;
        DropLast = dropLast;
    }

    /// <summary>The dataset iterated.</summary>
    public TensorDataset Dataset { get; }

    /// <summary>Rows per batch.</summary>
    public int BatchSize { get; }

    /// <summary>Where batches are delivered.</summary>
    public Device Device { get; }

    /// <summary>Whether rows are visited in a seeded per-epoch permutation.</summary>
    public bool Shuffle { get; }

    /// <summary>The shuffle seed.</summary>
    public long Seed { get; }

    /// <summary>Whether a final short batch is skipped.</summary>
    public bool DropLast { get; }

    /// <summary>The number of batches one epoch yields.</summary>
    public long BatchesPerEpoch =>
        DropLast ? Dataset.Count / BatchSize : (Dataset.Count + BatchSize - 1) / BatchSize;

    /// <summary>The number of rows one epoch yields.</summary>
    public long RowsPerEpoch => DropLast ? BatchesPerEpoch * BatchSize : Dataset.Count;

    /// <summary>
    /// The order in which epoch <paramref name="epoch"/> visits the rows (all of them, before any
    /// drop-last): <c>0..Count-1</c> without shuffling, else a permutation determined by
    /// <see cref="Seed"/> and <paramref name="epoch"/>.
    /// </summary>
    public long[] Order(int epoch)
    {
        var order = new long[Dataset.Count];
        for (long i = 0; i < order.LongLength; i++) order[i] = i;
        if (!Shuffle) return order;

        // Fisher-Yates driven by SplitMix64 seeded from (seed, epoch).
        ulong state = Mix(unchecked((ulong)Seed) ^ Mix(0x9E3779B97F4A7C15UL * (ulong)(uint)epoch + 0xD1B54A32D192ED03UL));
        for (long i = order.LongLength - 1; i > 0; i--)
        {
            state += 0x9E3779B97F4A7C15UL;
            ulong r = Mix(state);
            long j = (long)(((UInt128)r * (ulong)(i + 1)) >> 64); // uniform in [0, i]
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>The batches of epoch <paramref name="epoch"/> (0-based; it only selects the permutation).</summary>
    /// <param name="epoch">Selects the permutation.</param>
    /// <param name="maxBatches">Stops after this many batches (all when null).</param>
    public IEnumerable<NamedBatch> Epoch(int epoch, long? maxBatches = null)
    {
        long batches = Math.Min(BatchesPerEpoch, maxBatches ?? long.MaxValue);
        long count = Dataset.Count;
        var names = Dataset.Names.ToArray();
        Tensor? order = null;
        try
        {
            if (Shuffle)
            {
                // One index tensor per epoch on the dataset's device, outside any caller scope.
                order = tensor(Order(epoch), dtype: ScalarType.Int64, device: Dataset.Device).DetachFromDisposeScope();
            }
            for (long b = 0; b < batches; b++)
            {
                long start = b * BatchSize;
                long length = Math.Min(BatchSize, count - start);
                var tensors = new KeyValuePair<string, Tensor>[names.Length];
                using (var index = order?.narrow(0, start, length))
                {
                    for (int c = 0; c < names.Length; c++)
                    {
                        var column = Dataset[names[c]];
                        Tensor rows;
                        if (index is null)
                        {
                            rows = column.narrow(0, start, length);
                        }
                        else if (index.device.IsSameAs(column.device))
                        {
                            rows = column.index_select(0, index);
                        }
                        else
                        {
                            using var local = index.to(column.device);
                            rows = column.index_select(0, local);
                        }
                        var moved = rows.to(Device);
                        if (!ReferenceEquals(moved, rows)) rows.Dispose();
                        tensors[c] = new KeyValuePair<string, Tensor>(names[c], moved);
                    }
                }
                yield return new NamedBatch(tensors);
            }
        }
        finally
        {
            order?.Dispose();
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

internal static class DeviceComparison
{
    /// <summary>Whether two devices are the same (TorchSharp's <see cref="Device"/> compares by reference).</summary>
    public static bool IsSameAs(this Device a, Device b) =>
        a.type == b.type && NormalizedIndex(a) == NormalizedIndex(b);

    // "cuda" (index -1) means the current device, which is 0 unless the program changed it.
    private static int NormalizedIndex(Device d) => d.type == TorchSharp.DeviceType.CPU ? 0 : Math.Max(0, d.index);
}
