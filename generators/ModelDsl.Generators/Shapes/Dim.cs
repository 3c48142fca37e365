using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace ModelDsl.Generators.Shapes;

/// <summary>
/// One tensor dimension: an integer polynomial over symbols (<c>B</c>, <c>N+5</c>, <c>D*4</c>),
/// kept in a canonical form so that equal dimensions compare equal. A division that does not come
/// out exact (<c>H/7</c> with unknown <c>H</c>) becomes an opaque atom of the polynomial.
/// </summary>
public sealed class Dim : IEquatable<Dim>
{
    // Terms keyed by their monomial: atoms joined by ' ' in sorted order ("" for the constant).
    // Atoms never hold spaces, and an opaque atom such as "(H*W)/49" may hold '*'.
    private readonly SortedDictionary<string, long> terms;

    private Dim(SortedDictionary<string, long> terms)
    {
        this.terms = terms;
        Text = Format(terms);
    }

    public static Dim Constant(long value) => FromTerm("", value);

    public static Dim Symbol(string name) => FromTerm(name, 1);

    /// <summary>The canonical text, e.g. <c>N+5</c>; equal dims have equal text.</summary>
    public string Text { get; }

    public bool IsConstant => terms.Count == 0 || (terms.Count == 1 && terms.ContainsKey(""));

    /// <summary>The value when the dimension is a constant, else null.</summary>
    public long? Value => IsConstant ? (terms.TryGetValue("", out var c) ? c : 0) : null;

    public IEnumerable<string> Symbols =>
        terms.Keys.SelectMany(Atoms).Where(a => a.Length > 0).Distinct();

    public static Dim operator +(Dim a, Dim b) => Combine(a, b, 1);

    public static Dim operator -(Dim a, Dim b) => Combine(a, b, -1);

    public static Dim operator *(Dim a, Dim b)
    {
        var result = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var x in a.terms)
        foreach (var y in b.terms)
            Add(result, MultiplyMonomials(x.Key, y.Key), x.Value * y.Value);
        return new Dim(result);
    }

    /// <summary>Exact division where the algebra allows it, else an opaque atom <c>(a)/b</c>.</summary>
    public static Dim operator /(Dim a, Dim b)
    {
        if (b.Value is long divisor && divisor != 0 && a.terms.Values.All(c => c % divisor == 0))
            return new Dim(new SortedDictionary<string, long>(
                a.terms.ToDictionary(t => t.Key, t => t.Value / divisor), StringComparer.Ordinal));

        if (b.terms.Count == 1 && b.Value is null)
        {
            var single = b.terms.First();
            var (monomial, coefficient) = (single.Key, single.Value);
            var quotient = new SortedDictionary<string, long>(StringComparer.Ordinal);
            var exact = true;
            foreach (var t in a.terms)
            {
                var rest = DivideMonomial(t.Key, monomial);
                if (rest is null || t.Value % coefficient != 0) { exact = false; break; }
                Add(quotient, rest, t.Value / coefficient);
            }
            if (exact)
                return new Dim(quotient);
        }

        if (a.Value is long n && b.Value is long d && d != 0 && n % d == 0)
            return Constant(n / d);

        return Symbol($"{Wrap(a)}/{WrapDivisor(b)}");
    }

    /// <summary>True when the dimension is known to be divisible by <paramref name="divisor"/>.</summary>
    public bool IsDivisibleBy(long divisor) => divisor != 0 && terms.Values.All(c => c % divisor == 0);

    /// <summary>Substitutes known symbol values; the result is constant when every symbol is known.</summary>
    public Dim Evaluate(IReadOnlyDictionary<string, long> values)
    {
        var result = Constant(0);
        foreach (var t in terms)
        {
            var term = Constant(t.Value);
            foreach (var atom in Atoms(t.Key))
                term *= values.TryGetValue(atom, out var v) ? Constant(v) : Symbol(atom);
            result += term;
        }
        return result;
    }

    /// <summary>Replaces symbols by dimensions (a contract's <c>D</c> by the model's <c>64</c>).</summary>
    public Dim Substitute(IReadOnlyDictionary<string, Dim> values)
    {
        var result = Constant(0);
        foreach (var t in terms)
        {
            var term = Constant(t.Value);
            foreach (var atom in Atoms(t.Key))
                term *= values.TryGetValue(atom, out var v) ? v : Symbol(atom);
            result += term;
        }
        return result;
    }

    public bool Equals(Dim? other) => other is not null && Text == other.Text;

    public override bool Equals(object? obj) => obj is Dim other && Equals(other);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Text);

    public override string ToString() => Text;

    private static Dim FromTerm(string monomial, long coefficient)
    {
        var terms = new SortedDictionary<string, long>(StringComparer.Ordinal);
        Add(terms, monomial, coefficient);
        return new Dim(terms);
    }

    private static Dim Combine(Dim a, Dim b, long sign)
    {
        var result = new SortedDictionary<string, long>(a.terms, StringComparer.Ordinal);
        foreach (var t in b.terms)
            Add(result, t.Key, sign * t.Value);
        return new Dim(result);
    }

    private static void Add(SortedDictionary<string, long> terms, string monomial, long coefficient)
    {
        terms.TryGetValue(monomial, out var existing);
        var sum = existing + coefficient;
        if (sum == 0) terms.Remove(monomial);
        else terms[monomial] = sum;
    }

    private static string MultiplyMonomials(string a, string b) =>
        string.Join(" ", Atoms(a).Concat(Atoms(b)).OrderBy(x => x, StringComparer.Ordinal));

    private static string? DivideMonomial(string monomial, string divisor)
    {
        var atoms = Atoms(monomial).ToList();
        foreach (var atom in Atoms(divisor))
        {
            if (!atoms.Remove(atom))
                return null;
        }
        return string.Join(" ", atoms);
    }

    private static IEnumerable<string> Atoms(string monomial) => monomial.Length == 0 ? [] : monomial.Split(' ');

    // A divisor other than a number or a bare name is bracketed: H/(2*W) must not read as H/2*W.
    private static string WrapDivisor(Dim d) =>
        d.Value is not null || (d.terms.Count == 1 && d.terms.First().Value == 1 && Atoms(d.terms.First().Key).Count() == 1) && !d.Text.Contains("/")
            ? d.Text
            : $"({d.Text})";

    private static string Wrap(Dim d) => d.terms.Count <= 1 && !d.Text.StartsWith("-") ? d.Text : $"({d.Text})";

    // Highest degree first, then by name, constant last: "B*N+2*D+5".
    private static string Format(SortedDictionary<string, long> terms)
    {
        if (terms.Count == 0)
            return "0";
        var ordered = terms
            .OrderBy(t => t.Key.Length == 0 ? 1 : 0)
            .ThenByDescending(t => Atoms(t.Key).Count())
            .ThenBy(t => t.Key, StringComparer.Ordinal);
        var text = new StringBuilder();
        foreach (var (monomial, coefficient) in ordered.Select(t => (t.Key, t.Value)))
        {
            // Unsigned, because Math.Abs(long.MinValue) overflows and a fuzzed size can reach it.
            var magnitude = coefficient < 0 ? (ulong)(-(coefficient + 1)) + 1 : (ulong)coefficient;
            text.Append(coefficient < 0 ? "-" : text.Length == 0 ? "" : "+");
            if (monomial.Length == 0)
                text.Append(magnitude.ToString(CultureInfo.InvariantCulture));
            else if (magnitude == 1)
                text.Append(monomial.Replace(' ', '*'));
            else
                text.Append(magnitude.ToString(CultureInfo.InvariantCulture)).Append('*').Append(monomial.Replace(' ', '*'));
        }
        return text.ToString();
    }
}
