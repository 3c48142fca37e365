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
    public const string AvgVit = Usings + """
        namespace Samples.Avg;

        /// <summary>49 patches of 4x4, a CLS token, average pooling and a frozen encoder.</summary>
        [Model]
        public partial class AvgVit
        {
            public partial AvgVitOutput Forward([Shape("N,1,28,28")] Tensor pixels);

            [PatchEmbedding(PatchSize = 4, Dim = 48)]
            public partial PatchEmbedding Patches { get; }

            [ClsToken]
            public partial Parameter Cls { get; }

            [PositionEmbedding(Covers = PositionCoverage.PatchesOnly)]
            public partial Parameter Positions { get; }

            [TransformerEncoder(Depth = 2, Heads = 3, MlpRatio = 2.0, Frozen = true)]
            public partial TransformerEncoder Encoder { get; }

            [ClassifierHead(Classes = 10, Pool = Pool.Avg)]
            public partial ClassifierHead Head { get; }

            [CrossEntropyLoss(Target = "target", Weight = 0.5)]
            public partial CrossEntropyLoss Loss { get; }
        }
        """;

    /// <summary>
    /// Attention (map) pooling, no CLS or register tokens, a 3-channel 32x32 input, heads of the
    /// pool inferred from the encoder, and an internal model nested in a static class.
    /// </summary>
    public const string MapVit = Usings + """
        namespace Samples.Map;

        public static partial class Zoo
        {
            /// <summary>16 patches of 8x8 from RGB 32x32, attention pooling, 100 classes.</summary>
            [Model]
            internal partial class MapVit
            {
                public partial MapVitOutput Forward([Shape("B,3,32,32")] Tensor image);

                [PatchEmbedding(PatchSize = 8, Dim = 32)]
                public partial PatchEmbedding Patches { get; }

                [PositionEmbedding]
                public partial Parameter Positions { get; }

                [TransformerEncoder(Depth = 3, Heads = 4)]
                public partial TransformerEncoder Encoder { get; }

                [ClassifierHead(Classes = 100, Pool = Pool.Map)]
                public partial ClassifierHead Head { get; }

                [CrossEntropyLoss(LabelSmoothing = 0.2)]
                public partial CrossEntropyLoss Loss { get; }
            }
        }
        """;

    /// <summary>
    /// Task tokens: four tasks decoded over the encoder, a head and a loss per task (two classifiers,
    /// a regression, a mask), one loss weighted and one target optional per sample.
    /// </summary>
    public const string TaskVit = Usings + """
        namespace Samples.Tasks;

        /// <summary>Four tasks read by task tokens through a two-layer decoder.</summary>
        [Model]
        public partial class TaskVit
        {
            public partial TaskVitOutput Forward([Shape("B,1,28,28")] Tensor image);

            [PatchEmbedding(PatchSize = 4, Dim = 32)]
            public partial PatchEmbedding Patches { get; }

            [ClsToken]
            public partial Parameter Cls { get; }

            [PositionEmbedding]
            public partial Parameter Positions { get; }

            [TransformerEncoder(Depth = 2, Heads = 4)]
            public partial TransformerEncoder Encoder { get; }

            [TaskTokens("Category", "Coarse", "Angle", "Mask")]
            public partial Parameter Tasks { get; }

            [TaskDecoder(Depth = 2, Heads = 4, Over = nameof(Encoder))]
            public partial TaskDecoder Decoder { get; }

            [ClassifierHead(Task = "Category", Classes = 10)]
            public partial ClassifierHead Category { get; }

            [ClassifierHead(Task = "Coarse", Classes = 3)]
            public partial ClassifierHead Coarse { get; }

            [RegressionHead(Task = "Angle")]
            public partial RegressionHead Angle { get; }

            [MaskHead(Task = "Mask", Over = nameof(Encoder))]
            public partial MaskHead Mask { get; }

            [CrossEntropyLoss(nameof(Category), LabelSmoothing = 0.1)]
            public partial CrossEntropyLoss CategoryLoss { get; }

            [CrossEntropyLoss(nameof(Coarse), Optional = true)]
            public partial CrossEntropyLoss CoarseLoss { get; }

            [MseLoss(nameof(Angle), Weight = 0.5)]
            public partial MseLoss AngleLoss { get; }

            [BinaryCrossEntropyLoss(nameof(Mask), Target = "foreground")]
            public partial BinaryCrossEntropyLoss MaskLoss { get; }
        }
        """;
}
