using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace ModelDsl.Generators.Shapes;

/// <summary>A symbolic tensor shape such as <c>[B,N+5,64]</c>.</summary>
public sealed class Shape : IEquatable<Shape>
{
    public Shape(IEnumerable<Dim> dims)
    {
        Dims = dims.ToArray();
        Text = "[" + string.Join(",", Dims.Select(d => d.Text)) + "]";
    }

    public IReadOnlyList<Dim> Dims { get; }

    public int Rank => Dims.Count;

    public Dim this[int index] => Dims[index];

    public Dim Last => Dims[Dims.Count - 1];

    /// <summary>The canonical text, e.g. <c>[B,16,64]</c>.</summary>
    public string Text { get; }

    public static Shape Of(params Dim[] dims) => new(dims);

    /// <summary>Parses <c>"B,1,28,28"</c> (brackets optional); throws <see cref="ShapeSyntaxException"/>.</summary>
    public static Shape Parse(string text) => new ShapeParser(text).ParseShape();

    public static bool TryParse(string? text, out Shape? shape, out string? error)
    {
        shape = null;
        error = null;
        if (text is null)
        {
            error = "the shape is null";
            return false;
        }
        try
        {
            shape = Parse(text);
            return true;
        }
        catch (ShapeSyntaxException e)
        {
            error = e.Message;
            return false;
        }
        catch (OverflowException)
        {
            // long.MinValue / -1 overflows even unchecked, and the algebra's checked sums and products can too.
            error = "a size or intermediate value is out of the 64-bit range";
            return false;
        }
    }

    public Shape With(int index, Dim dim) => new(Dims.Select((d, i) => i == index ? dim : d));

    public bool Equals(Shape? other) => other is not null && Text == other.Text;

    public override bool Equals(object? obj) => obj is Shape other && Equals(other);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Text);

    public override string ToString() => Text;
}

public sealed class ShapeSyntaxException(string message) : Exception(message);

/// <summary>Recursive descent over <c>dim (',' dim)*</c> with <c>+ - * /</c> and parentheses.</summary>
internal sealed class ShapeParser(string text)
{
    private int position;

    public Shape ParseShape()
    {
        SkipSpaces();
        var bracketed = Accept('[');
        var dims = new List<Dim>();
        if (AtEnd || Peek == ']')
            throw Error("expected at least one dimension");
        dims.Add(ParseSum());
        while (Accept(','))
            dims.Add(ParseSum());
        if (bracketed && !Accept(']'))
            throw Error("expected ']'");
        SkipSpaces();
        if (!AtEnd)
            throw Error($"unexpected '{Peek}'");
        return new Shape(dims);
    }

    private Dim ParseSum()
    {
        var value = ParseProduct();
        while (true)
        {
            if (Accept('+')) value += ParseProduct();
            else if (Accept('-')) value -= ParseProduct();
            else return value;
        }
    }

    private Dim ParseProduct()
    {
        var value = ParseFactor();
        while (true)
        {
            if (Accept('*')) value *= ParseFactor();
            else if (Accept('/'))
            {
                var start = position;
                var divisor = ParseFactor();
                if (divisor.Value == 0)
                    throw Error("division by zero", start);
                value /= divisor;
            }
            else return value;
        }
    }

    private Dim ParseFactor()
    {
        SkipSpaces();
        if (AtEnd)
            throw Error("expected a dimension (a number, a name or an expression)");
        if (Accept('('))
        {
            var inner = ParseSum();
            if (!Accept(')'))
                throw Error("expected ')'");
            return inner;
        }
        if (Accept('-'))
            return Dim.Constant(0) - ParseFactor();
        if (char.IsDigit(Peek))
        {
            var start = position;
            while (!AtEnd && char.IsDigit(Peek)) position++;
            if (!long.TryParse(text.Substring(start, position - start), NumberStyles.None, CultureInfo.InvariantCulture, out var number))
                throw Error("number too large", start);
            return Dim.Constant(number);
        }
        if (char.IsLetter(Peek) || Peek == '_')
        {
            var start = position;
            while (!AtEnd && (char.IsLetterOrDigit(Peek) || Peek == '_')) position++;
            return Dim.Symbol(text.Substring(start, position - start));
        }
        throw Error($"unexpected '{Peek}'");
    }

    private bool AtEnd => position >= text.Length;

    private char Peek => text[position];

    private bool Accept(char c)
    {
        SkipSpaces();
        if (AtEnd || Peek != c)
            return false;
        position++;
        return true;
    }

    private void SkipSpaces()
    {
        while (!AtEnd && char.IsWhiteSpace(Peek)) position++;
    }

    private ShapeSyntaxException Error(string reason, int? at = null) =>
        new($"{reason} at position {(at ?? position) + 1} of \"{text}\"");
}
