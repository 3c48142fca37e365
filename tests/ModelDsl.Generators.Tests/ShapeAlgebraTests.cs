using System.Collections.Generic;
using ModelDsl.Generators.Shapes;

namespace ModelDsl.Generators.Tests;

/// <summary>The symbolic dimension algebra behind shape inference: canonical forms, division, parsing.</summary>
public class ShapeAlgebraTests
{
    private static Dim D(string text) => Shape.Parse(text)[0];

    [Theory]
    [InlineData("N+5", "5+N", "N+5")]
    [InlineData("D*4", "4*D", "4*D")]
    [InlineData("(N+1)*2", "2*N+2", "2*N+2")]
    [InlineData("(N+1)*(N-1)", "N*N-1", "N*N-1")]
    [InlineData("B*N+D", "D+N*B", "B*N+D")]
    [InlineData("N - N + 3", "3", "3")]
    [InlineData("-(N-5)", "5-N", "-N+5")]
    [InlineData("  N  +  5 ", "N+5", "N+5")]
    public void Equal_dimensions_have_one_canonical_form(string left, string right, string canonical)
    {
        var (a, b) = (D(left), D(right));

        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.Equal(canonical, a.Text);
        Assert.Equal(canonical, b.Text);
    }

    [Theory]
    [InlineData("N+5", "N+6")]
    [InlineData("2*N", "N*N")]
    [InlineData("N", "M")]
    [InlineData("H/7", "H/8")]
    public void Different_dimensions_differ(string left, string right) => Assert.NotEqual(D(left), D(right));

    [Theory]
    [InlineData("28/7", "4")]
    [InlineData("2*N/2", "N")]
    [InlineData("(2*N+4)/2", "N+2")]
    [InlineData("N*M/M", "N")]
    [InlineData("6*N*M/(3*M)", "2*N")]
    [InlineData("N/N", "1")]
    [InlineData("(28/7)*(28/7)", "16")]
    public void Exact_division_simplifies(string text, string expected) => Assert.Equal(expected, D(text).Text);

    [Fact]
    public void Constant_division_gives_a_value()
    {
        Assert.Equal(7L, D("28/4").Value);
        Assert.Equal(16L, (Dim.Constant(28) / Dim.Constant(7) * (Dim.Constant(28) / Dim.Constant(7))).Value);
        Assert.True(D("28/4").IsConstant);
    }

    [Fact]
    public void Opaque_division_is_stable()
    {
        var a = D("H/7");
        var b = D("H/7");

        Assert.Equal(a, b);
        Assert.Equal("H/7", a.Text);
        Assert.Null(a.Value);
        Assert.Equal(Dim.Symbol("H") / Dim.Constant(7), a);
        // Products of opaque atoms are canonical too: the patch count of an H x W image.
        Assert.Equal(D("(H/7)*(W/7)"), D("(W/7)*(H/7)"));
        var (first, second) = (D("28/5"), D("28/5"));   // two parses, not one object
        Assert.Equal(first, second);
        Assert.Null(D("28/5").Value);
    }

    [Fact]
    public void Divisibility_is_known_where_the_algebra_knows_it()
    {
        Assert.True(D("28").IsDivisibleBy(7));
        Assert.False(D("28").IsDivisibleBy(5));
        Assert.True(D("2*N+4").IsDivisibleBy(2));
        Assert.False(D("2*N+4").IsDivisibleBy(4));
        Assert.False(D("N").IsDivisibleBy(0));
    }

    [Fact]
    public void Evaluate_substitutes_known_symbols()
    {
        var values = new Dictionary<string, long> { ["N"] = 16, ["D"] = 64 };

        Assert.Equal(1088L, D("(N+1)*D").Evaluate(values).Value);
        Assert.Equal("B+16", D("B+N").Evaluate(values).Text);
    }

    [Fact]
    public void Shapes_compare_by_canonical_text()
    {
        var shape = Shape.Parse("[B, 4*D, N+5]");

        Assert.Equal(Shape.Parse("B,D*4,5+N"), shape);
        Assert.Equal("[B,4*D,N+5]", shape.Text);
        Assert.Equal(3, shape.Rank);
        Assert.Equal(D("N+5"), shape.Last);
        Assert.Equal("[B,4*D,N+6]", shape.With(2, shape.Last + Dim.Constant(1)).Text);
    }

    [Theory]
    [InlineData("N+5")]
    [InlineData("-N+5")]
    [InlineData("2*N*M-3")]
    [InlineData("H/7")]
    [InlineData("(H/7)*(W/7)")]
    [InlineData("(H+1)/2")]
    [InlineData("H/(2*W)")]
    [InlineData("N/(N+1)")]
    public void Canonical_text_parses_back_to_the_same_dimension(string text)
    {
        // The generator writes input shapes as canonical text into SymbolicShape.Parse("...") for the
        // run-time check, so the text must mean what the dimension means.
        var dim = D(text);

        Assert.Equal(dim, D(dim.Text));
    }

    [Fact]
    public void A_quotient_by_a_product_is_not_confused_with_a_product_of_a_quotient()
    {
        // H/(2*W) and (H/2)*W are different dimensions.
        Assert.NotEqual(D("(H/2)*W"), D("H/(2*W)"));
    }

    [Theory]
    [InlineData("B,,28", "unexpected ','", 3)]
    [InlineData("", "expected at least one dimension", 1)]
    [InlineData("B,1,28,28)", "unexpected ')'", 10)]
    [InlineData("[B,1", "expected ']'", 5)]
    [InlineData("B,1,(28,28", "expected ')'", 8)]
    [InlineData("B/0", "division by zero", 3)]
    [InlineData("B,1,28,", "expected a dimension", 8)]
    [InlineData("B,1,2$", "unexpected '$'", 6)]
    [InlineData("B,99999999999999999999", "number too large", 3)]
    public void Parse_errors_name_the_reason_and_the_position(string text, string reason, int position)
    {
        Assert.False(Shape.TryParse(text, out var shape, out var error));

        Assert.Null(shape);
        Assert.Contains(reason, error);
        Assert.Contains($"at position {position} of \"{text}\"", error);
        Assert.Throws<ShapeSyntaxException>(() => Shape.Parse(text));
    }

    [Fact]
    public void TryParse_of_null_fails_without_throwing()
    {
        Assert.False(Shape.TryParse(null, out _, out var error));
        Assert.NotNull(error);
    }
}
