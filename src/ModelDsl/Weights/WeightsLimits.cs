namespace ModelDsl.Weights;

/// <summary>
/// The limits the loaders hold every weights file and checkpoint to (files are untrusted input; see
/// docs/weights.md, "Loading untrusted files"). A file past a limit is refused with
/// <see cref="System.IO.InvalidDataException"/> before the memory it asks for is allocated.
/// </summary>
public static class WeightsLimits
{
    /// <summary>The largest pickle (<c>data.pkl</c>) of a PyTorch file, uncompressed: 64 MiB (a 100k-tensor state_dict needs about 10 MB).</summary>
    public const long MaxPickleBytes = 64L << 20;

    /// <summary>The most objects a pickle may create (values, containers, calls): 8 million (a state_dict needs about 15 per tensor).</summary>
    public const int MaxPickleObjects = 8_000_000;

    /// <summary>The most zip entries a PyTorch file may have.</summary>
    public const int MaxZipEntries = 2_000_000;

    /// <summary>How many levels of <c>{"state_dict": {...}}</c> wrapping are unwrapped.</summary>
    public const int MaxWrapperDepth = 8;

    /// <summary>The largest safetensors header (the reference implementation's limit, 100 MB).</summary>
    public const long MaxSafetensorsHeaderBytes = 100_000_000;

    /// <summary>The largest checkpoint header (JSON): 256 MiB.</summary>
    public const long MaxCheckpointHeaderBytes = 256L << 20;

    /// <summary>The most lines of names a message lists before it gives a count of the rest.</summary>
    public const int MaxListedNames = 40;

    /// <summary>The most characters of one name a message shows.</summary>
    public const int MaxNameLength = 200;
}
