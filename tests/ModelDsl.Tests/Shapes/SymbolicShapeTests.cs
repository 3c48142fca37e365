using System;

namespace ModelDsl.Tests.Shapes;

public class SymbolicShapeTests
{
    [Fact]
    public void Parses_literals_and_symbols()
    {
        var s = SymbolicShape.Parse("B,1,28,28");
        Assert.Equal(4, s.Rank);
        Assert.Equal("[B,1,28,28]", s.ToString());
        Assert.Equal(new[] { "B" }, s.Symbols);
        Assert.True(s.IsLiteral(1, out var one) && one == 1);
        Assert.True(s.IsSymbol(0, out var b) && b == "B");
        Assert.False(s.IsLiteral(0, out _));
    }

    [Fact]
    public void Parses_expressions_and_drops_whitespace()
    {
        var s = SymbolicShape.Parse("B, H/7*W/7, D");
        Assert.Equal(3, s.Rank);
        Assert.Equal("[B,H/7*W/7,D]", s.ToString());
        Assert.Equal(new[] { "B", "H", "W", "D" }, s.Symbols);
        Assert.Equal("[B,N+5,D*4]", SymbolicShape.Parse("B,N+5,D*4").ToString());
        Assert.Equal("[B,(N+1)*2,d_model]", SymbolicShape.Parse(" B , ( N + 1 ) * 2 , d_model ").ToString());
    }

    [Fact]
    public void Round_trips_through_ToString()
    {
        var s = SymbolicShape.Parse("B, H/7*W/7, D");
        var again = SymbolicShape.Parse(s.ToString());
        Assert.Equal(s, again);
        Assert.Equal(s.GetHashCode(), again.GetHashCode());
        Assert.Equal(0, SymbolicShape.Parse("[]").Rank);
        Assert.Equal("[]", SymbolicShape.Parse("[]").ToString());
    }

    [Fact]
    public void Evaluates_with_precedence_and_floor_division()
    {
        var s = SymbolicShape.Parse("H/7*W/7, 2+3*N, (2+3)*N, N-1-1, 7/2");
        var b = new ShapeBindings();
        Assert.False(s.TryEvaluate(0, b, out _));
        b.Bind("H", 28, "image");
        b.Bind("W", 21, "image");
        b.Bind("N", 4, "x");
        long[] expected = [12, 14, 20, 2, 3];
        for (var i = 0; i < expected.Length; i++) {
            Assert.True(s.TryEvaluate(i, b, out var v));
            Assert.Equal(expected[i], v);
        }
    }

    [Theory]
    [InlineData("", 0, "empty")]
    [InlineData("   ", 3, "empty")]
    [InlineData("B,,28", 2, "dimension 1 is empty")]
    [InlineData("B,28,", 5, "dimension 2 is empty")]
    [InlineData("B,N+", 4, "shape ends")]
    [InlineData("B,(N+1", 2, "'(' is never closed")]
    [InlineData("B,N)", 3, "unmatched ')'")]
    [InlineData("B,2N", 3, "'*' to multiply")]
    [InlineData("B,-1", 2, "negative")]
    [InlineData("B,N/0", 3, "division by zero")]
    [InlineData("B;N", 1, "unexpected ';'")]
    [InlineData("B,N$", 3, "unexpected '$'")]
    [InlineData("B,()", 3, "empty parentheses")]
    [InlineData("[B,N", 4, "missing closing ']'")]
    [InlineData("[B,N]x", 5, "after the closing ']'")]
    [InlineData("B,99999999999999999999", 2, "too large")]
    public void Rejects_bad_shapes_with_position_and_reason(string text, int position, string reason)
    {
        var e = Assert.Throws<FormatException>(() => SymbolicShape.Parse(text));
        Assert.Contains($"at position {position}:", e.Message);
        Assert.Contains(reason, e.Message);
        Assert.Contains($"\"{text}\"", e.Message);

        Assert.False(SymbolicShape.TryParse(text, out var shape, out var error));
        Assert.Null(shape);
        Assert.Equal(e.Message, error);
    }
}
