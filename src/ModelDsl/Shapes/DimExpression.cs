using System;
using System.Collections.Generic;

namespace ModelDsl;

/// <summary>One dimension of a <see cref="SymbolicShape"/>: a literal, a symbol or an integer expression.</summary>
internal abstract class DimExpression
{
    /// <summary>Adds the symbols this expression mentions, in order of first appearance.</summary>
    public abstract void CollectSymbols(List<string> into);

    /// <summary>The value, or null when a symbol is not bound (<paramref name="lookup"/> returns null).</summary>
    public abstract long? Evaluate(Func<string, long?> lookup);

    /// <summary>
    /// Writes the expression as <c>a*symbol + b</c> when it is linear in <paramref name="symbol"/> with every other
    /// symbol bound, using only + - and multiplication by a constant; null otherwise.
    /// </summary>
    public abstract (long A, long B)? Linear(string symbol, Func<string, long?> lookup);

    public bool Mentions(string symbol)
    {
        var list = new List<string>();
        CollectSymbols(list);
        return list.Contains(symbol);
    }

    /// <summary>Floor division (as Python's <c>//</c>, which shape arithmetic in PyTorch code uses).</summary>
    internal static long FloorDiv(long a, long b)
    {
        var q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
        return q;
    }
}

internal sealed class LiteralDim(long value) : DimExpression
{
    public long Value { get; } = value;
    public override void CollectSymbols(List<string> into) { }
    public override long? Evaluate(Func<string, long?> lookup) => Value;
    public override (long A, long B)? Linear(string symbol, Func<string, long?> lookup) => (0, Value);
}

internal sealed class SymbolDim(string name) : DimExpression
{
    public string Name { get; } = name;

    public override void CollectSymbols(List<string> into)
    {
        if (!into.Contains(Name)) into.Add(Name);
    }

    public override long? Evaluate(Func<string, long?> lookup) => lookup(Name);

    public override (long A, long B)? Linear(string symbol, Func<string, long?> lookup)
    {
        if (Name == symbol) return (1, 0);
        return lookup(Name) is { } v ? (0, v) : null;
    }
}

internal sealed class BinaryDim(char op, DimExpression left, DimExpression right) : DimExpression
{
    public char Op { get; } = op;
    public DimExpression Left { get; } = left;
    public DimExpression Right { get; } = right;

    public override void CollectSymbols(List<string> into)
    {
        Left.CollectSymbols(into);
        Right.CollectSymbols(into);
    }

    public override long? Evaluate(Func<string, long?> lookup)
    {
        if (Left.Evaluate(lookup) is not { } l || Right.Evaluate(lookup) is not { } r) return null;
        return Apply(Op, l, r);
    }

    public override (long A, long B)? Linear(string symbol, Func<string, long?> lookup)
    {
        if (Left.Linear(symbol, lookup) is not { } l || Right.Linear(symbol, lookup) is not { } r) return null;
        switch (Op) {
            case '+': return (l.A + r.A, l.B + r.B);
            case '-': return (l.A - r.A, l.B - r.B);
            case '*':
                if (l.A != 0 && r.A != 0) return null; // symbol * symbol
                return (l.A * r.B + r.A * l.B, l.B * r.B);
            case '/':
                if (l.A != 0 || r.A != 0 || r.B == 0) return null; // division of or by the symbol: not solvable uniquely
                return (0, FloorDiv(l.B, r.B));
            default: return null;
        }
    }

    internal static long? Apply(char op, long l, long r) => op switch
    {
        '+' => l + r,
        '-' => l - r,
        '*' => l * r,
        '/' => r == 0 ? null : FloorDiv(l, r),
        _ => null,
    };
}
