using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.FrontEnd;

/// <summary>What the front end knows of each stage kind: its attribute, member type and timm name.</summary>
public static class StageCatalog
{
    public const string ModelAttribute = "ModelDsl.ModelAttribute";
    public const string ShapeAttribute = "ModelDsl.ShapeAttribute";
    public const string PretrainedWeightsAttribute = "ModelDsl.PretrainedWeightsAttribute";
    public const string TowerAttribute = "ModelDsl.TowerAttribute";

    private const string Parameter = "global::TorchSharp.Modules.Parameter";

    public sealed record Entry(StageKind Kind, string AttributeName, string MemberType, string RegisteredName)
    {
        /// <summary>The attribute as written in source, without the suffix: <c>PatchEmbedding</c>.</summary>
        public string ShortName => AttributeName.Substring("ModelDsl.".Length, AttributeName.Length - "ModelDsl.".Length - "Attribute".Length);
    }

    public static readonly IReadOnlyList<Entry> Entries =
    [
        new(StageKind.PatchEmbedding, "ModelDsl.PatchEmbeddingAttribute", "global::ModelDsl.Blocks.PatchEmbedding", "patch_embed"),
        new(StageKind.ClsToken, "ModelDsl.ClsTokenAttribute", Parameter, "cls_token"),
        new(StageKind.RegisterTokens, "ModelDsl.RegisterTokensAttribute", Parameter, "reg_token"),
        new(StageKind.PositionEmbedding, "ModelDsl.PositionEmbeddingAttribute", Parameter, "pos_embed"),
        new(StageKind.TransformerEncoder, "ModelDsl.TransformerEncoderAttribute", "global::ModelDsl.Blocks.TransformerEncoder", "blocks"),
        new(StageKind.ClassifierHead, "ModelDsl.ClassifierHeadAttribute", "global::ModelDsl.Blocks.ClassifierHead", "head"),
        new(StageKind.CrossEntropyLoss, "ModelDsl.CrossEntropyLossAttribute", "global::ModelDsl.Blocks.CrossEntropyLoss", "loss"),
        // Any Module<Tensor,Tensor> of the user's; registered under the member's snake_case name.
        new(StageKind.CustomModule, "ModelDsl.CustomModuleAttribute", "global::TorchSharp.torch.nn.Module<global::TorchSharp.torch.Tensor, global::TorchSharp.torch.Tensor>", ""),
        // Token families without a timm counterpart are registered under the member's snake_case name.
        new(StageKind.DeepPromptTokens, "ModelDsl.DeepPromptTokensAttribute", Parameter, ""),
        new(StageKind.QueryTokens, "ModelDsl.QueryTokensAttribute", Parameter, ""),
        new(StageKind.Resampler, "ModelDsl.ResamplerAttribute", "global::ModelDsl.Blocks.Resampler", ""),
        new(StageKind.ChannelPatchEmbedding, "ModelDsl.ChannelPatchEmbeddingAttribute", "global::ModelDsl.Blocks.ChannelPatchEmbedding", "patch_embed"),
        // A tower's member type is another [Model] class; registered under the member's snake_case name.
        new(StageKind.Tower, "ModelDsl.TowerAttribute", "", ""),
        new(StageKind.CosineLogits, "ModelDsl.CosineLogitsAttribute", "global::ModelDsl.Blocks.CosineLogits", ""),
        new(StageKind.TokenEmbedding, "ModelDsl.TokenEmbeddingAttribute", "global::ModelDsl.Blocks.TokenEmbedding", "token_embedding"),
        new(StageKind.PromptTokens, "ModelDsl.PromptTokensAttribute", "global::ModelDsl.Blocks.PromptTokens", ""),
        new(StageKind.FeatureProjection, "ModelDsl.FeatureProjectionAttribute", "global::ModelDsl.Blocks.FeatureProjection", ""),
        new(StageKind.ContrastiveLoss, "ModelDsl.ContrastiveLossAttribute", "global::ModelDsl.Blocks.ContrastiveLoss", "loss"),
        new(StageKind.TaskTokens, "ModelDsl.TaskTokensAttribute", Parameter, ""),
        new(StageKind.TaskDecoder, "ModelDsl.TaskDecoderAttribute", "global::ModelDsl.Blocks.TaskDecoder", ""),
        new(StageKind.RegressionHead, "ModelDsl.RegressionHeadAttribute", "global::ModelDsl.Blocks.RegressionHead", ""),
        new(StageKind.MaskHead, "ModelDsl.MaskHeadAttribute", "global::ModelDsl.Blocks.MaskHead", ""),
        // Losses hold no state and are not registered.
        new(StageKind.MseLoss, "ModelDsl.MseLossAttribute", "global::ModelDsl.Blocks.MseLoss", ""),
        new(StageKind.BinaryCrossEntropyLoss, "ModelDsl.BinaryCrossEntropyLossAttribute", "global::ModelDsl.Blocks.BinaryCrossEntropyLoss", ""),
        new(StageKind.VocabularyTokens, "ModelDsl.VocabularyTokensAttribute", "global::ModelDsl.Blocks.VocabularyTokens", ""),
    ];

    private static readonly Dictionary<string, Entry> ByAttributeName = Entries.ToDictionary(e => e.AttributeName);

    public static Entry Of(StageKind kind) => Entries[(int)kind];

    /// <summary>The registered (state_dict) name of a stage's main member: timm's name, or snake_case of a custom stage.</summary>
    public static string RegisteredName(StageKind kind, string member) =>
        Of(kind).RegisteredName is { Length: > 0 } name ? name : SnakeCase(member);

    /// <summary>
    /// The registered name of a stage: a task head (one naming a <c>Task</c>) is registered under its
    /// member's snake_case name, since a model has several; a classifier head without one is timm's <c>head</c>.
    /// </summary>
    public static string RegisteredName(StageSpec stage) =>
        IsTaskHead(stage) ? SnakeCase(stage.Member) : RegisteredName(stage.Kind, stage.Member);

    /// <summary>Heads: what a loss reads.</summary>
    public static bool IsHead(StageKind kind) => kind is StageKind.ClassifierHead or StageKind.RegressionHead or StageKind.MaskHead;

    public static bool IsLoss(StageKind kind) => kind is StageKind.CrossEntropyLoss or StageKind.MseLoss or StageKind.BinaryCrossEntropyLoss;

    /// <summary>A head that reads a task token rather than pooling the sequence.</summary>
    public static bool IsTaskHead(StageSpec stage) =>
        stage.Kind is StageKind.RegressionHead or StageKind.MaskHead || stage.Kind == StageKind.ClassifierHead && stage.Get("Task") is not null;

    /// <summary>The head kind a loss kind reads.</summary>
    public static StageKind HeadOf(StageKind loss) => loss switch
    {
        StageKind.MseLoss => StageKind.RegressionHead,
        StageKind.BinaryCrossEntropyLoss => StageKind.MaskHead,
        _ => StageKind.ClassifierHead,
    };

    /// <summary>
    /// Stages of which a model has at most one (two embeddings of either kind also conflict). A model
    /// with task tokens has several heads and losses; the compiler reports two losses on one head.
    /// </summary>
    public static StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => stage.Kind switch
    {
        StageKind.CustomModule or StageKind.Resampler or StageKind.Tower => null,
        StageKind.RegressionHead or StageKind.MaskHead or StageKind.MseLoss or StageKind.BinaryCrossEntropyLoss => null,
        // Both are the model's `loss`.
        StageKind.ContrastiveLoss => StageKind.CrossEntropyLoss,
        StageKind.ClassifierHead or StageKind.CrossEntropyLoss when taskModel || IsTaskHead(stage) => null,
        StageKind.ChannelPatchEmbedding => StageKind.PatchEmbedding,
        _ => stage.Kind,
    };

    /// <summary>The registered members of a built stage in registration order (each a field of the generated class), and whether each is a parameter.</summary>
    public static IEnumerable<(string Name, bool IsParameter)> RegisteredMembers(GraphStage stage)
    {
        switch (stage.Kind)
        {
            case StageKind.PatchEmbedding or StageKind.ChannelPatchEmbedding or StageKind.CustomModule or StageKind.Resampler
                or StageKind.TaskDecoder or StageKind.RegressionHead or StageKind.MaskHead:
                yield return (RegisteredName(stage.Spec), false);
                break;
            case StageKind.ClassifierHead when IsTaskHead(stage.Spec):
                yield return (RegisteredName(stage.Spec), false);
                break;
            case StageKind.ClsToken or StageKind.RegisterTokens or StageKind.PositionEmbedding or StageKind.DeepPromptTokens or StageKind.QueryTokens
                or StageKind.TaskTokens:
                yield return (RegisteredName(stage.Spec), true);
                break;
            case StageKind.TransformerEncoder:
                yield return ("blocks", false);
                if (stage.Bool("FinalNorm")) yield return ("norm", false);
                break;
            case StageKind.ClassifierHead:
                if (stage.Text("Pool") == "Avg") yield return ("fc_norm", false);
                if (stage.Text("Pool") == "Map") yield return ("attn_pool", false);
                yield return ("head", false);
                break;
            case StageKind.Tower or StageKind.CosineLogits or StageKind.TokenEmbedding or StageKind.PromptTokens or StageKind.VocabularyTokens or StageKind.FeatureProjection:
                yield return (RegisteredName(stage.Spec), false);
                break;
        }
    }

    internal static string SnakeCase(string name)
    {
        var text = new System.Text.StringBuilder();
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0 && !char.IsUpper(name[i - 1]))
                text.Append('_');
            text.Append(char.ToLowerInvariant(name[i]));
        }
        return text.ToString();
    }

    public static bool TryGet(string attributeMetadataName, out Entry entry) => ByAttributeName.TryGetValue(attributeMetadataName, out entry!);
}
