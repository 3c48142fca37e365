using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>
/// Sample-weighted running means of scalar tensors, accumulated on the device; reading them is the
/// only point where the host waits for the device.
/// </summary>
internal sealed class DeviceMeans(Device device) : IDisposable
{
    private readonly List<string> _names = [];
    private readonly Dictionary<string, Tensor> _sums = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _weights = new(StringComparer.Ordinal);

    /// <summary>The total weight (samples) added since the last reset.</summary>
    public long Weight { get; private set; }

    /// <summary>Adds <paramref name="weight"/> samples of the batch means in <paramref name="values"/>.</summary>
    public void Add(long weight, IEnumerable<KeyValuePair<string, Tensor>> values)
    {
        foreach (var (name, value) in values)
        {
            if (!_sums.TryGetValue(name, out var sum))
            {
                sum = zeros(Array.Empty<long>(), ScalarType.Float64, device).DetachFromDisposeScope();
                _sums[name] = sum;
                _weights[name] = 0;
                _names.Add(name);
            }
            using (var scope = NewDisposeScope())
                sum.add_(value.detach().to(ScalarType.Float64, device), alpha: weight);
            _weights[name] += weight; // each key is averaged over the samples it was reported for
        }
        Weight += weight;
    }

    /// <summary>Reads every mean (of the keys added since the last reset) with one device-to-host copy.</summary>
    public IReadOnlyDictionary<string, double> Read()
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        if (_names.Count == 0) return result;
        using var scope = NewDisposeScope();
        var values = stack(_names.Select(n => _sums[n]).ToArray()).cpu().data<double>().ToArray();
        for (int i = 0; i < _names.Count; i++)
        {
            if (_weights[_names[i]] > 0) result[_names[i]] = values[i] / _weights[_names[i]];
        }
        return result;
    }

    /// <summary>Reads one mean to the host.</summary>
    public double Read(string name)
    {
        if (!_sums.TryGetValue(name, out var sum) || _weights[name] == 0) return double.NaN;
        return sum.item<double>() / _weights[name];
    }

    /// <summary>The running sums and weights (syncs with the device), for a checkpoint.</summary>
    public IReadOnlyList<(string Name, double Sum, long Weight)> Export()
    {
        if (_names.Count == 0) return [];
        using var scope = NewDisposeScope();
        var values = stack(_names.Select(n => _sums[n]).ToArray()).cpu().data<double>().ToArray();
        return _names.Select((n, i) => (n, values[i], _weights[n])).ToList();
    }

    /// <summary>Replaces the running sums and weights with exported ones.</summary>
    public void Import(IEnumerable<(string Name, double Sum, long Weight)> entries, long weight)
    {
        Reset();
        foreach (var (name, sum, w) in entries)
        {
            if (!_sums.TryGetValue(name, out var t))
            {
                t = zeros(Array.Empty<long>(), ScalarType.Float64, device).DetachFromDisposeScope();
                _sums[name] = t;
                _names.Add(name);
            }
            using (var scope = NewDisposeScope()) t.fill_(sum);
            _weights[name] = w;
        }
        Weight = weight;
    }

    /// <summary>Zeroes the sums and the weight.</summary>
    public void Reset()
    {
        using (var scope = NewDisposeScope()) // in-place ops may return fresh wrappers
        {
            foreach (var s in _sums.Values) s.zero_();
        }
        foreach (var n in _names) _weights[n] = 0;
        Weight = 0;
    }

    public void Dispose()
    {
        foreach (var s in _sums.Values) s.Dispose();
        _sums.Clear();
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
