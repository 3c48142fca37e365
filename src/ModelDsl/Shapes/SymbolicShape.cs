using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace ModelDsl;

/// <summary>
/// A tensor shape written with symbols, e.g. <c>"B,1,28,28"</c>, <c>"B,N+5,D*4"</c> or <c>"B, H/7*W/7, D"</c>.
/// Each comma-separated dimension is an integer literal, a symbol (an identifier) or an integer expression
/// over literals and symbols with <c>+ - * /</c> (floor division) and parentheses. Surrounding brackets
/// (<c>"[B,1,28,28]"</c>) are accepted, so <c>Parse(shape.ToString())</c> round-trips; <c>"[]"</c> is a scalar.
/// </summary>
public sealed class SymbolicShape : IEquatable<SymbolicShape>
{
    private readonly DimExpression[] _dims;
    private readonly string[] _texts;
    private readonly IReadOnlyList<string> _readOnlyTexts;

    private SymbolicShape(DimExpression[] dims, string[] texts)
    {
        _dims = dims;
        _texts = texts;
        _readOnlyTexts = Array.AsReadOnly(texts);
        var symbols = new List<string>();
        foreach (var d in dims) d.CollectSymbols(symbols);
        Symbols = symbols.AsReadOnly();
    }

    /// <summary>The number of dimensions.</summary>
    public int Rank => _dims.Length;

    /// <summary>Each dimension as written, without whitespace (<c>"B"</c>, <c>"28"</c>, <c>"H/7*W/7"</c>).</summary>
    public IReadOnlyList<string> Dims => _readOnlyTexts;

    /// <summary>The symbols the shape mentions, in order of first appearance.</summary>
    public IReadOnlyList<string> Symbols { get; }

    internal DimExpression Dim(int index) => _dims[index];

    /// <summary>True when dimension <paramref name="index"/> is an integer literal; its value is in <paramref name="value"/>.</summary>
    public bool IsLiteral(int index, out long value)
    {
        if (_dims[index] is LiteralDim l) { value = l.Value; return true; }
        value = 0;
        return false;
    }

    /// <summary>True when dimension <paramref name="index"/> is a bare symbol; its name is in <paramref name="symbol"/>.</summary>
    public bool IsSymbol(int index, out string symbol)
    {
        if (_dims[index] is SymbolDim s) { symbol = s.Name; return true; }
        symbol = "";
        return false;
    }

    /// <summary>Evaluates dimension <paramref name="index"/> with the symbols bound in <paramref name="bindings"/>.</summary>
    public bool TryEvaluate(int index, ShapeBindings bindings, out long value)
    {
        ArgumentNullException.ThrowIfNull(bindings);
        var v = _dims[index].Evaluate(s => bindings.TryGetValue(s, out var b) ? b : null);
        value = v ?? 0;
        return v.HasValue;
    }

    /// <summary><c>[B,1,28,28]</c>.</summary>
    public override string ToString() => "[" + string.Join(",", _texts) + "]";

    public bool Equals(SymbolicShape? other) => other is not null && _texts.SequenceEqual(other._texts);
    public override bool Equals(object? obj) => obj is SymbolicShape s && Equals(s);
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(ToString());

    /// <summary>Parses a symbolic shape; throws <see cref="FormatException"/> naming the position and the reason.</summary>
    public static SymbolicShape Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new Parser(text).ParseShape();
    }

    /// <summary>Parses a symbolic shape; on failure returns false with the reason in <paramref name="error"/>.</summary>
    public static bool TryParse(string? text, out SymbolicShape? shape, out string? error)
    {
        shape = null;
        error = null;
        if (text is null) { error = "The shape is null."; return false; }
        try {
            shape = Parse(text);
            return true;
        } catch (FormatException e) {
            error = e.Message;
            return false;
        }
    }

    // Recursive descent over:
    //   shape := '[' dims? ']' | dims
    //   dims  := expr (',' expr)*
    //   expr  := term (('+'|'-') term)*
    //   term  := atom (('*'|'/') atom)*
    //   atom  := integer | identifier | '(' expr ')'
    private sealed class Parser(string text)
    {
        private int _pos;

        public SymbolicShape ParseShape()
        {
            SkipSpace();
            if (_pos == text.Length) throw Error(_pos, "the shape is empty; write its dimensions separated by commas, e.g. \"B,1,28,28\"");

            var bracketed = Peek() == '[';
            if (bracketed) {
                _pos++;
                SkipSpace();
                if (Peek() == ']') {
                    _pos++;
                    ExpectEnd();
                    return new SymbolicShape([], []);
                }
            }

            var dims = new List<DimExpression>();
            var texts = new List<string>();
            while (true) {
                SkipSpace();
                var start = _pos;
                if (_pos == text.Length || Peek() == ',' || Peek() == ']')
                    throw Error(_pos, $"dimension {dims.Count} is empty");
                var expr = ParseExpr();
                dims.Add(expr);
                texts.Add(Compact(text[start.._pos]));
                SkipSpace();
                if (_pos == text.Length) {
                    if (bracketed) throw Error(_pos, "missing closing ']'");
                    break;
                }
                var c = Peek();
                if (c == ',') { _pos++; continue; }
                if (c == ']' && bracketed) { _pos++; ExpectEnd(); break; }
                if (c == ')') throw Error(_pos, "unmatched ')'");
                throw Error(_pos, $"unexpected '{c}' after dimension {dims.Count - 1}; expected ',' or an operator (+ - * /)");
            }
            return new SymbolicShape(dims.ToArray(), texts.ToArray());
        }

        private void ExpectEnd()
        {
            SkipSpace();
            if (_pos != text.Length) throw Error(_pos, $"unexpected '{Peek()}' after the closing ']'");
        }

        private DimExpression ParseExpr()
        {
            var left = ParseTerm();
            while (true) {
                SkipSpace();
                var c = Peek();
                if (c != '+' && c != '-') return left;
                _pos++;
                left = new BinaryDim(c, left, ParseTerm());
            }
        }

        private DimExpression ParseTerm()
        {
            var left = ParseAtom();
            while (true) {
                SkipSpace();
                var c = Peek();
                if (c != '*' && c != '/') return left;
                var opPos = _pos;
                _pos++;
                var right = ParseAtom();
                if (c == '/' && right.Evaluate(_ => null) == 0)
                    throw Error(opPos, "division by zero");
                left = new BinaryDim(c, left, right);
            }
        }

        private DimExpression ParseAtom()
        {
            SkipSpace();
            if (_pos == text.Length) throw Error(_pos, "expected a number, a symbol or '(' but the shape ends");
            var c = Peek();
            if (char.IsAsciiDigit(c)) {
                var start = _pos;
                while (_pos < text.Length && char.IsAsciiDigit(text[_pos])) _pos++;
                if (_pos < text.Length && (char.IsAsciiLetter(text[_pos]) || text[_pos] == '_'))
                    throw Error(_pos, $"a number cannot run into a name ('{text[start..(_pos + 1)]}'); write '*' to multiply");
                if (!long.TryParse(text.AsSpan(start, _pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                    throw Error(start, $"the number {text[start.._pos]} is too large");
                return new LiteralDim(v);
            }
            if (char.IsAsciiLetter(c) || c == '_') {
                var start = _pos;
                while (_pos < text.Length && (char.IsAsciiLetterOrDigit(text[_pos]) || text[_pos] == '_')) _pos++;
                return new SymbolDim(text[start.._pos]);
            }
            if (c == '(') {
                var open = _pos;
                _pos++;
                SkipSpace();
                if (Peek() == ')') throw Error(_pos, "empty parentheses");
                var inner = ParseExpr();
                SkipSpace();
                if (Peek() != ')') throw Error(open, "'(' is never closed");
                _pos++;
                return inner;
            }
            if (c == '-') throw Error(_pos, "negative dimensions are not allowed (no unary '-')");
            if (c == ',' || c == ']') throw Error(_pos, $"expected a number, a symbol or '(' before '{c}'");
            throw Error(_pos, $"unexpected character '{c}'; a dimension is a number, a symbol or an expression with + - * / and parentheses");
        }

        private char Peek() => _pos < text.Length ? text[_pos] : '\0';

        private void SkipSpace()
        {
            while (_pos < text.Length && char.IsWhiteSpace(text[_pos])) _pos++;
        }

        private FormatException Error(int position, string reason)
            => new($"Invalid shape \"{text}\" at position {position}: {reason}.");

        private static string Compact(string s)
        {
            var sb = new StringBuilder(s.Length);
            foreach (var ch in s)
                if (!char.IsWhiteSpace(ch)) sb.Append(ch);
            return sb.ToString();
        }
    }
}
