using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>
/// Sample-weighted running means of scalar tensors, accumulated on the device; reading them is the
/// only point where the host waits for the device. A batch counts with its rows, or, for a key
/// given a weight of its own, with that weight (the samples its mean was taken over).
/// </summary>
internal sealed class DeviceMeans(Device device) : IDisposable
{
    private readonly List<string> _names = [];
    private readonly Dictionary<string, Tensor> _sums = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tensor> _weights = new(StringComparer.Ordinal);

    /// <summary>The total weight (samples) added since the last reset.</summary>
    public long Weight { get; private set; }

    /// <summary>
    /// Adds the batch means in <paramref name="values"/>, each weighted by <paramref name="weight"/>
    /// samples or by its entry in <paramref name="weights"/>.
    /// </summary>
    public void Add(long weight, IEnumerable<KeyValuePair<string, Tensor>> values, IReadOnlyDictionary<string, Tensor>? weights = null)
    {
        foreach (var (name, value) in values)
        {
            var (sum, total) = Slot(name);
            using (var scope = NewDisposeScope())
            {
                var mean = value.detach().to(ScalarType.Float64, device);
                if (weights is not null && weights.TryGetValue(name, out var own))
                {
                    var w = own.detach().to(ScalarType.Float64, device).reshape(Array.Empty<long>());
                    sum.add_(mean * w);
                    total.add_(w);
                }
                else
                {
                    sum.add_(mean, alpha: weight);
                    total.add_(weight);
                }
            }
        }
        Weight += weight;
    }

    private (Tensor Sum, Tensor Weight) Slot(string name)
    {
        if (!_sums.TryGetValue(name, out var sum))
        {
            sum = zeros(Array.Empty<long>(), ScalarType.Float64, device).DetachFromDisposeScope();
            _sums[name] = sum;
            _weights[name] = zeros(Array.Empty<long>(), ScalarType.Float64, device).DetachFromDisposeScope();
            _names.Add(name);
        }
        return (sum, _weights[name]);
    }

    /// <summary>Reads every mean (of the keys with weight since the last reset) with one device-to-host copy.</summary>
    public IReadOnlyDictionary<string, double> Read()
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, sum, weight) in Export())
        {
            if (weight > 0) result[name] = sum / weight;
        }
        return result;
    }

    /// <summary>Reads one mean to the host.</summary>
    public double Read(string name) => Read().TryGetValue(name, out var mean) ? mean : double.NaN;

    /// <summary>The running sums and weights (syncs with the device), for a checkpoint.</summary>
    public IReadOnlyList<(string Name, double Sum, double Weight)> Export()
    {
        if (_names.Count == 0) return [];
        using var scope = NewDisposeScope();
        var values = stack(_names.SelectMany(n => new[] { _sums[n], _weights[n] }).ToArray()).cpu().data<double>().ToArray();
        return _names.Select((n, i) => (n, values[2 * i], values[2 * i + 1])).ToList();
    }

    /// <summary>Replaces the running sums and weights with exported ones.</summary>
    public void Import(IEnumerable<(string Name, double Sum, double Weight)> entries, long weight)
    {
        Reset();
        foreach (var (name, sum, w) in entries)
        {
            var (s, total) = Slot(name);
            using var scope = NewDisposeScope();
            s.fill_(sum);
            total.fill_(w);
        }
        Weight = weight;
    }

    /// <summary>Zeroes the sums and the weights.</summary>
    public void Reset()
    {
        using (var scope = NewDisposeScope()) // in-place ops may return fresh wrappers
        {
            foreach (var s in _sums.Values) s.zero_();
            foreach (var w in _weights.Values) w.zero_();
        }
        Weight = 0;
    }

    public void Dispose()
    {
        foreach (var s in _sums.Values) s.Dispose();
        foreach (var w in _weights.Values) w.Dispose();
        _sums.Clear();
        _weights.Clear();
        _names.Clear();
    }
}

/// <summary>
/// Remembers, on the device, the first step whose loss was NaN or infinite, so the loop can check
/// at its sync points instead of reading the loss every step.
/// </summary>
internal sealed class NonFiniteWatch(Device device) : IDisposable
{
    private readonly Tensor _firstStep = full(Array.Empty<long>(), -1L, ScalarType.Int64, device).DetachFromDisposeScope();
    private readonly Tensor _value = zeros(Array.Empty<long>(), ScalarType.Float64, device).DetachFromDisposeScope();

    /// <summary>Records <paramref name="loss"/> for <paramref name="step"/> (no host sync).</summary>
    public void Observe(Tensor loss, long step)
    {
        using var scope = NewDisposeScope();
        var value = loss.detach().to(ScalarType.Float64, device);
        var first = value.isfinite().logical_not_().logical_and_(_firstStep.lt(0));
        _firstStep.masked_fill_(first, step);
        _value.copy_(where(first, value, _value));
    }

    /// <summary>The first non-finite step and its loss, or null (syncs with the device).</summary>
    public (long Step, double Loss)? Read()
    {
        long step = _firstStep.item<long>();
        return step < 0 ? null : (step, _value.item<double>());
    }

    public void Dispose()
    {
        _firstStep.Dispose();
        _value.Dispose();
    }
}
