using ModelDsl.Blocks;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace ModelDsl.Tests.Generated;

/// <summary>VPT-deep: 3 prompts per block of a frozen encoder.</summary>
[Model]
public partial class VptDeepVit
{
    public partial VptDeepVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32, Frozen = true)] public partial PatchEmbedding Patches { get; }
    [ClsToken(Frozen = true)] public partial Parameter Cls { get; }
    [PositionEmbedding(Frozen = true)] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 4, Frozen = true)] public partial TransformerEncoder Encoder { get; }
    [DeepPromptTokens(Count = 3, Into = nameof(Encoder))] public partial Parameter Prompts { get; }
    [ClassifierHead(Classes = 5)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>VQT: 2 query tokens per block; the head reads CLS and every block's query outputs.</summary>
[Model]
public partial class VqtVit
{
    public partial VqtVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32, Frozen = true)] public partial PatchEmbedding Patches { get; }
    [ClsToken(Frozen = true)] public partial Parameter Cls { get; }
    [PositionEmbedding(Frozen = true)] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 4, Frozen = true)] public partial TransformerEncoder Encoder { get; }
    [QueryTokens(Count = 2, Into = nameof(Encoder))] public partial Parameter Queries { get; }
    [ClassifierHead(Classes = 5, Also = nameof(Queries))] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>A resampler compresses the encoder's 17 tokens to 4 of another width.</summary>
[Model]
public partial class ResampledVit
{
    public partial ResampledVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 1, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [Resampler(Queries = 4, Heads = 2, Dim = 16, Over = nameof(Encoder))] public partial Resampler Compress { get; }
    [ClassifierHead(Classes = 10, Pool = Pool.Avg)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>ChannelViT on 3 channels with channel sampling during training.</summary>
[Model]
public partial class ChannelVit
{
    public partial ChannelVitOutput Forward([Shape("B,3,28,28")] Tensor image);

    [ChannelPatchEmbedding(PatchSize = 7, Dim = 32, SampleChannels = true)] public partial ChannelPatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [TransformerEncoder(Depth = 1, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>Layer ranges over one encoder: deep prompts on blocks 0-1, query tokens on block 2 (read by the head).</summary>
[Model]
public partial class RangedTokensVit
{
    public partial RangedTokensVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32, Frozen = true)] public partial PatchEmbedding Patches { get; }
    [ClsToken(Frozen = true)] public partial Parameter Cls { get; }
    [PositionEmbedding(Frozen = true)] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 3, Heads = 4, Frozen = true)] public partial TransformerEncoder Encoder { get; }
    [DeepPromptTokens(Count = 3, Into = nameof(Encoder), Layers = "0..1")] public partial Parameter Prompts { get; }
    [QueryTokens(Count = 2, Into = nameof(Encoder), Layers = "2..")] public partial Parameter Queries { get; }
    [ClassifierHead(Classes = 5, Pool = Pool.Avg, Also = nameof(Queries))] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}

/// <summary>Token layout as data: two readout tokens after the patches, positions over every token, the CLS head and a score head over the readout tokens.</summary>
[Model]
public partial class ReadoutVit
{
    public partial ReadoutVitOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [Tokens(Count = 2, Place = Place.AfterContent)] public partial Parameter Readout { get; }
    [PositionEmbedding(Covers = PositionCoverage.All)] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 2, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [RegressionHead(Reads = nameof(Readout), Pool = Pool.Avg, Outputs = 1)] public partial RegressionHead Score { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
    [MseLoss(Of = nameof(Score))] public partial MseLoss ScoreLoss { get; }
}

/// <summary>A token bank: one set of two tokens per domain, chosen per sample by the 'domain' input.</summary>
[Model]
public partial class DomainTokensVit
{
    public partial DomainTokensVitOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("B")] Tensor domain);

    [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
    [ClsToken] public partial Parameter Cls { get; }
    [TokenBank(Banks = 3, Count = 2, SelectBy = "domain")] public partial Parameter DomainTokens { get; }
    [PositionEmbedding] public partial Parameter Positions { get; }
    [TransformerEncoder(Depth = 1, Heads = 4)] public partial TransformerEncoder Encoder { get; }
    [ClassifierHead(Classes = 10)] public partial ClassifierHead Head { get; }
    [CrossEntropyLoss] public partial CrossEntropyLoss Loss { get; }
}
