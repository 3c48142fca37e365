namespace ModelDsl.Generators.Tests.Infrastructure;

/// <summary>The declarations the snapshot, compile, caching and fuzz tests use.</summary>
internal static class Declarations
{
    public const string Usings = """
        using ModelDsl;
        using ModelDsl.Blocks;
        using Parameter = TorchSharp.Modules.Parameter;
        using static TorchSharp.torch;

        """;

    /// <summary>The repository's example, read from <c>examples/FashionVit/FashionVit.cs</c>.</summary>
    public static string FashionVit => Repo.ReadText("examples/FashionVit/FashionVit.cs");

    /// <summary>
    /// Average pooling (fc_norm, no final norm), positions on patches only (added before the CLS
    /// token is prepended), a frozen encoder, a batch dimension named N, an input and a target
    /// with other names than image/label, and a loss weight.
    /// </summary>
    public static string AvgVit => Repo.ReadText("tests/ModelDsl.Tests/Weights/SnapshotModels/AvgVit.cs");

    /// <summary>
    /// Attention (map) pooling, no CLS or register tokens, a 3-channel 32x32 input, heads of the
    /// pool inferred from the encoder, and an internal model nested in a static class.
    /// </summary>
    public static string MapVit => Repo.ReadText("tests/ModelDsl.Tests/Weights/SnapshotModels/MapVit.cs");

    /// <summary>
    /// Task tokens: four tasks decoded over the encoder, a head and a loss per task (two classifiers,
    /// a regression, a mask), one loss weighted and one target optional per sample.
    /// </summary>
    public static string TaskVit => Repo.ReadText("tests/ModelDsl.Tests/Weights/SnapshotModels/TaskVit.cs");

    /// <summary>Routing, merging and pruning inside one encoder's blocks, each on its own range.</summary>
    public static string InsideBlocksVit => Repo.ReadText("tests/ModelDsl.Tests/Weights/SnapshotModels/InsideBlocksVit.cs");
}
