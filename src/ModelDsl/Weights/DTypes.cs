using static TorchSharp.torch;

namespace ModelDsl.Weights;

// Element types in safetensors notation, which the reports use for both formats.
internal static class DTypes
{
    public static string Name(ScalarType type) => type switch
    {
        ScalarType.Float64 => "F64",
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => type.ToString(),
    };

    /// <summary>The TorchSharp element type of a safetensors dtype name, or null when TorchSharp has none.</summary>
    public static ScalarType? FromName(string name) => name switch
    {
        "F64" => ScalarType.Float64,
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => null,
    };

    /// <summary>The element types the loaders read.</summary>
    public static bool IsReadable(string name) => name is "F64" or "F32" or "F16" or "BF16" or "I64" or "I32" or "I16" or "I8" or "U8" or "BOOL";

    /// <summary>Bytes per element of a safetensors dtype, or 0 when unknown (sub-byte and future types).</summary>
    public static int ElementSize(string name) => name switch
    {
        "BOOL" or "U8" or "I8" or "F8_E5M2" or "F8_E4M3" or "F8_E8M0" => 1,
        "I16" or "U16" or "F16" or "BF16" => 2,
        "I32" or "U32" or "F32" => 4,
        "I64" or "U64" or "F64" or "C64" => 8,
        _ => 0,
    };
}
