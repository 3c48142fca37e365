using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.Stages;

/// <summary>Every stage kind the generator knows, listed once; lookups by kind and by attribute come from this list.</summary>
internal static class StageDefinitions
{
    public static readonly IReadOnlyList<StageDefinition> All =
    [
        new PatchEmbeddingStage(),
        new ChannelPatchEmbeddingStage(),
        new ClsTokenStage(),
        new RegisterTokensStage(),
        new TokensStage(),
        new TokenBankStage(),
        new PositionEmbeddingStage(),
        new TransformerEncoderStage(),
        new DeepPromptTokensStage(),
        new QueryTokensStage(),
        new ResamplerStage(),
        new ClassifierHeadStage(),
        new CrossEntropyLossStage(),
        new TaskTokensStage(),
        new TaskDecoderStage(),
        new RegressionHeadStage(),
        new MaskHeadStage(),
        new MseLossStage(),
        new BinaryCrossEntropyLossStage(),
        new TokenEmbeddingStage(),
        new PromptTokensStage(),
        new VocabularyTokensStage(),
        new FeatureProjectionStage(),
        new TowerStage(),
        new CosineLogitsStage(),
        new ContrastiveLossStage(),
        new CustomModuleStage(),
        new UserStageDefinition(),
        new LanguageModelStage(),
        new CausalLmLossStage(),
        new SoftPromptStage(),
        new PrefixTuningStage(),
    ];

    private static readonly Dictionary<StageKind, StageDefinition> ByKind = All.ToDictionary(d => d.Kind);
    private static readonly Dictionary<string, StageDefinition> ByAttribute = All.ToDictionary(d => d.AttributeName);

    public static StageDefinition Of(StageKind kind) => ByKind[kind];

    public static bool TryGet(string attributeMetadataName, out StageDefinition definition) => ByAttribute.TryGetValue(attributeMetadataName, out definition!);

    public static bool IsHead(StageKind kind) => Of(kind).IsHead;

    public static bool IsLoss(StageKind kind) => Of(kind).IsLoss;

    /// <summary>A head that reads a task token rather than pooling the sequence.</summary>
    public static bool IsTaskHead(StageSpec stage) =>
        stage.Kind == StageKind.MaskHead
        || stage.Kind == StageKind.RegressionHead && stage.Get("Reads") is null
        || stage.Kind == StageKind.ClassifierHead && ClassifierHeadStage.IsTaskHead(stage);

    /// <summary>The head kind a loss kind reads.</summary>
    public static StageKind HeadOf(StageKind loss) => Of(loss) is LossStage l ? l.HeadKind : StageKind.ClassifierHead;
}
