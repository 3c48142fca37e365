using System;
using System.Collections;
using System.Collections.Generic;

namespace ModelDsl;

/// <summary>
/// The values of shape symbols (<c>B</c>, <c>N</c>, ...) bound while the inputs of one call are checked:
/// the first tensor that mentions a symbol binds it, later ones must agree. Each binding remembers its source.
/// </summary>
public sealed class ShapeBindings : IReadOnlyDictionary<string, long>
{
    private readonly Dictionary<string, (long Value, string Source)> _values = new(StringComparer.Ordinal);

    /// <summary>Binds <paramref name="symbol"/> to <paramref name="value"/>; <paramref name="source"/> names where it came from (e.g. an input name).</summary>
    /// <exception cref="InvalidOperationException">The symbol is already bound to another value.</exception>
    public void Bind(string symbol, long value, string source)
    {
        ArgumentException.ThrowIfNullOrEmpty(symbol);
        ArgumentNullException.ThrowIfNull(source);
        if (_values.TryGetValue(symbol, out var existing)) {
            if (existing.Value != value)
                throw new InvalidOperationException($"Shape symbol {symbol} is {existing.Value} from '{existing.Source}'; cannot bind it to {value} from '{source}'.");
            return;
        }
        _values[symbol] = (value, source);
    }

    /// <summary>Where <paramref name="symbol"/> was bound (the input name), or null when it is not bound.</summary>
    public string? SourceOf(string symbol) => _values.TryGetValue(symbol, out var v) ? v.Source : null;

    public void Clear() => _values.Clear();

    public long this[string key] => _values.TryGetValue(key, out var v) ? v.Value : throw new KeyNotFoundException($"Shape symbol '{key}' is not bound.");
    public IEnumerable<string> Keys => _values.Keys;
    public IEnumerable<long> Values { get { foreach (var v in _values.Values) yield return v.Value; } }
    public int Count => _values.Count;
    public bool ContainsKey(string key) => _values.ContainsKey(key);

    public bool TryGetValue(string key, out long value)
    {
        var found = _values.TryGetValue(key, out var v);
        value = v.Value;
        return found;
    }

    public IEnumerator<KeyValuePair<string, long>> GetEnumerator()
    {
        foreach (var (k, v) in _values) yield return new KeyValuePair<string, long>(k, v.Value);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString()
    {
        var parts = new List<string>();
        foreach (var (k, v) in _values) parts.Add($"{k}={v.Value}");
        return "{" + string.Join(", ", parts) + "}";
    }
}
