using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Shapes;

public class ShapeCheckTests
{
    private static readonly SymbolicShape Image = SymbolicShape.Parse("B,1,28,28");

    [Fact]
    public void Binds_symbols_from_the_first_tensor()
    {
        using var image = empty(32, 1, 28, 28);
        var dims = new ShapeBindings();
        ShapeCheck.Require(image, "image", Image, dims);
        Assert.Equal(32, dims["B"]);
        Assert.Equal("image", dims.SourceOf("B"));
        Assert.Single(dims);

        using var label = empty(32, dtype: int64);
        ShapeCheck.Require(label, "label", SymbolicShape.Parse("B"), dims); // agrees: no throw
    }

    [Fact]
    public void Wrong_literal_dimension_names_input_expected_and_actual()
    {
        using var image = empty(32, 3, 28, 28);
        var e = Assert.Throws<ShapeMismatchException>(() => ShapeCheck.Require(image, "image", Image, new ShapeBindings()));
        Assert.Equal("Input 'image' has shape [32,3,28,28]; the model expects [B,1,28,28]: dimension 1 is 3, expected 1.", e.Message);
        Assert.Equal("image", e.Name);
        Assert.Equal("[B,1,28,28]", e.Expected);
        Assert.Equal(new long[] { 32, 3, 28, 28 }, e.Actual);
        Assert.Equal(1, e.Dimension);
    }

    [Fact]
    public void Wrong_rank_names_both_ranks()
    {
        using var image = empty(32, 28, 28);
        var e = Assert.Throws<ShapeMismatchException>(() => ShapeCheck.Require(image, "image", Image, new ShapeBindings()));
        Assert.Equal("Input 'image' has shape [32,28,28]; the model expects [B,1,28,28]: it has rank 3, expected rank 4.", e.Message);
        Assert.Null(e.Dimension);
    }

    [Fact]
    public void Symbol_bound_by_another_input_must_agree()
    {
        var dims = new ShapeBindings();
        using var image = empty(32, 1, 28, 28);
        using var label = empty(16, dtype: int64);
        ShapeCheck.Require(image, "image", Image, dims);
        var e = Assert.Throws<ShapeMismatchException>(() => ShapeCheck.Require(label, "label", SymbolicShape.Parse("B"), dims));
        Assert.Equal("Input 'label' has shape [16]; the model expects [B]: dimension 0 is 16, but B = 32 from 'image'.", e.Message);
        Assert.Equal(0, e.Dimension);
    }

    [Fact]
    public void Symbol_repeated_within_one_input_must_agree()
    {
        var e = Assert.Throws<ShapeMismatchException>(() =>
            ShapeCheck.Require(new long[] { 2, 3, 4 }, "x", SymbolicShape.Parse("B,D,D"), new ShapeBindings()));
        Assert.Equal("Input 'x' has shape [2,3,4]; the model expects [B,D,D]: dimension 2 is 4, but D = 3 from dimension 1.", e.Message);
    }

    [Fact]
    public void Expression_is_checked_against_bound_symbols()
    {
        var shape = SymbolicShape.Parse("B,N+5,D");
        var dims = new ShapeBindings();
        dims.Bind("N", 10, "mask");
        using var ok = empty(2, 15, 8);
        ShapeCheck.Require(ok, "tokens", shape, dims);
        Assert.Equal(8, dims["D"]);

        using var bad = empty(2, 14, 8);
        var e = Assert.Throws<ShapeMismatchException>(() => ShapeCheck.Require(bad, "tokens", shape, dims));
        Assert.Equal("Input 'tokens' has shape [2,14,8]; the model expects [B,N+5,D]: dimension 1 is 14, expected N+5 = 15 with N = 10 from 'mask'.", e.Message);
    }

    [Fact]
    public void Linear_expression_binds_its_single_unbound_symbol()
    {
        var dims = new ShapeBindings();
        ShapeCheck.Require(new long[] { 2, 15, 8 }, "tokens", SymbolicShape.Parse("B,N+5,D"), dims);
        Assert.Equal(10, dims["N"]);
        Assert.Equal("tokens", dims.SourceOf("N"));
        ShapeCheck.Require(new long[] { 2, 10 }, "mask", SymbolicShape.Parse("B,N"), dims);

        var e = Assert.Throws<ShapeMismatchException>(() => ShapeCheck.Require(new long[] { 2, 11 }, "mask", SymbolicShape.Parse("B,N"), dims));
        Assert.Contains("dimension 1 is 11, but N = 10 from 'tokens'", e.Message);

        var two = new ShapeBindings();
        ShapeCheck.Require(new long[] { 9 }, "x", SymbolicShape.Parse("2*(M-1)+3"), two);
        Assert.Equal(4, two["M"]);
    }

    [Fact]
    public void Linear_expression_without_a_whole_solution_fails()
    {
        var e = Assert.Throws<ShapeMismatchException>(() =>
            ShapeCheck.Require(new long[] { 2, 3 }, "tokens", SymbolicShape.Parse("B,N+5"), new ShapeBindings()));
        Assert.Equal("Input 'tokens' has shape [2,3]; the model expects [B,N+5]: dimension 1 is 3, expected N+5, which no whole N >= 0 satisfies.", e.Message);

        Assert.Throws<ShapeMismatchException>(() =>
            ShapeCheck.Require(new long[] { 7 }, "x", SymbolicShape.Parse("2*N"), new ShapeBindings()));
    }

    [Fact]
    public void Plain_symbol_binds_before_an_expression_in_the_same_input()
    {
        var shape = SymbolicShape.Parse("N+1,N");
        var dims = new ShapeBindings();
        ShapeCheck.Require(new long[] { 5, 4 }, "x", shape, dims);
        Assert.Equal(4, dims["N"]);

        var e = Assert.Throws<ShapeMismatchException>(() => ShapeCheck.Require(new long[] { 5, 3 }, "x", shape, new ShapeBindings()));
        Assert.Equal("Input 'x' has shape [5,3]; the model expects [N+1,N]: dimension 0 is 5, expected N+1 = 4 with N = 3 from dimension 1.", e.Message);
    }

    [Fact]
    public void Patch_count_expression_uses_image_symbols()
    {
        var dims = new ShapeBindings();
        ShapeCheck.Require(new long[] { 4, 1, 28, 21 }, "image", SymbolicShape.Parse("B,1,H,W"), dims);
        var tokens = SymbolicShape.Parse("B, H/7*W/7, D");
        ShapeCheck.Require(new long[] { 4, 12, 16 }, "tokens", tokens, dims);
        var e = Assert.Throws<ShapeMismatchException>(() => ShapeCheck.Require(new long[] { 4, 16, 16 }, "tokens", tokens, dims));
        Assert.Contains("dimension 1 is 16, expected H/7*W/7 = 12 with H = 28 from 'image', W = 21 from 'image'", e.Message);
    }

    [Fact]
    public void Expression_with_several_unbound_symbols_is_skipped_until_bound()
    {
        var dims = new ShapeBindings();
        ShapeCheck.Require(new long[] { 2, 12 }, "x", SymbolicShape.Parse("B,H*W"), dims);
        Assert.False(dims.ContainsKey("H"));
        Assert.False(dims.ContainsKey("W"));
        Assert.Equal(2, dims["B"]);
    }

    [Fact]
    public void Failed_check_binds_nothing()
    {
        var dims = new ShapeBindings();
        Assert.Throws<ShapeMismatchException>(() => ShapeCheck.Require(new long[] { 8, 3, 28, 28 }, "image", Image, dims));
        Assert.Empty(dims);
        ShapeCheck.Require(new long[] { 4, 1, 28, 28 }, "image", Image, dims);
        Assert.Equal(4, dims["B"]);
    }

    [Fact]
    public void Bind_refuses_a_conflicting_value()
    {
        var dims = new ShapeBindings();
        dims.Bind("B", 4, "image");
        dims.Bind("B", 4, "label");
        Assert.Equal("image", dims.SourceOf("B"));
        Assert.Throws<InvalidOperationException>(() => dims.Bind("B", 5, "label"));
    }
}
