using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Shapes;

/// <summary>
/// Issue 16: the run-time dtype check next to the shape check (<see cref="ShapeCheck.RequireType"/> and the
/// <see cref="ShapeCheck.Require(Tensor,string,SymbolicShape,ShapeBindings,ScalarType)"/> overload the generated
/// Forward will call): the input named, both dtypes, the conversion to write; nothing converted silently.
/// </summary>
public class DtypeCheckTests
{
    private static readonly SymbolicShape Image = SymbolicShape.Parse("B,1,28,28");

    [Fact]
    public void A_float64_image_is_refused_naming_the_input_both_dtypes_and_the_conversion()
    {
        using var image = zeros(new long[] { 2, 1, 28, 28 }, ScalarType.Float64);
        var dims = new ShapeBindings();

        var e = Assert.Throws<DtypeMismatchException>(() => ShapeCheck.Require(image, "image", Image, dims, ScalarType.Float32));

        Assert.Equal("Input 'image' has dtype float64 (Float64); the model expects float32 (Float32). Convert it before the call: image.to(ScalarType.Float32), " +
                     "or convert the dataset column once (TensorDataset holds the tensors as given).", e.Message);
        Assert.Equal("image", e.Name);
        Assert.Equal(ScalarType.Float32, e.Expected);
        Assert.Equal(ScalarType.Float64, e.Actual);
        Assert.IsAssignableFrom<ModelDslException>(e);
        Assert.Equal(ScalarType.Float64, image.dtype); // nothing converted
        Assert.False(dims.TryGetValue("B", out _));   // nothing bound by a refused input
    }

    [Fact]
    public void A_uint8_image_is_told_to_convert_and_scale()
    {
        using var image = zeros(new long[] { 2, 1, 28, 28 }, ScalarType.Byte);

        var e = Assert.Throws<DtypeMismatchException>(() => ShapeCheck.RequireType(image, "image", ScalarType.Float32));

        Assert.StartsWith("Input 'image' has dtype uint8 (Byte); the model expects float32 (Float32).", e.Message, StringComparison.Ordinal);
        Assert.Contains("image.to(ScalarType.Float32).div(255)", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ScalarType.Int32, "int32")]
    [InlineData(ScalarType.Float32, "float32")]
    public void Token_ids_of_another_dtype_are_refused_with_the_int64_conversion(ScalarType type, string name)
    {
        using var ids = zeros(new long[] { 2, 8 }, type);

        var e = Assert.Throws<DtypeMismatchException>(() => ShapeCheck.Require(ids, "tokens", SymbolicShape.Parse("B,T"), new ShapeBindings(), ScalarType.Int64));

        Assert.Contains($"Input 'tokens' has dtype {name}", e.Message, StringComparison.Ordinal);
        Assert.Contains("tokens.to(ScalarType.Int64)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_right_dtype_passes_on_to_the_shape_check_which_binds_as_before()
    {
        using var image = zeros(3, 1, 28, 28);
        var dims = new ShapeBindings();

        ShapeCheck.Require(image, "image", Image, dims, ScalarType.Float32);
        Assert.True(dims.TryGetValue("B", out var b));
        Assert.Equal(3, b);

        using var wrong = zeros(3, 3, 28, 28);
        Assert.Throws<ShapeMismatchException>(() => ShapeCheck.Require(wrong, "image", Image, new ShapeBindings(), ScalarType.Float32));
    }
}
