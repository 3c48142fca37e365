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
    ];

    private static readonly Dictionary<string, Entry> ByAttributeName = Entries.ToDictionary(e => e.AttributeName);

    public static Entry Of(StageKind kind) => Entries[(int)kind];

    /// <summary>The registered (state_dict) name of a stage's main member: timm's name, or snake_case of a custom stage.</summary>
    public static string RegisteredName(StageKind kind, string member) =>
        Of(kind).RegisteredName is { Length: > 0 } name ? name : SnakeCase(member);

    /// <summary>Kinds of which a model has at most one; two embeddings of either kind also conflict.</summary>
    public static StageKind? UniquenessGroup(StageKind kind) => kind switch
    {
        StageKind.CustomModule or StageKind.Resampler or StageKind.Tower => null,
        StageKind.ChannelPatchEmbedding => StageKind.PatchEmbedding,
        // Both are the model's `loss`.
        StageKind.ContrastiveLoss => StageKind.CrossEntropyLoss,
        _ => kind,
    };

    private static string SnakeCase(string name)
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
