using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.FrontEnd;

/// <summary>What the front end knows of each stage kind: its attribute, member type and timm name.</summary>
public static class StageCatalog
{
    public const string ModelAttribute = "ModelDsl.ModelAttribute";
    public const string ShapeAttribute = "ModelDsl.ShapeAttribute";

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
    ];

    private static readonly Dictionary<string, Entry> ByAttributeName = Entries.ToDictionary(e => e.AttributeName);

    public static Entry Of(StageKind kind) => Entries[(int)kind];

    public static bool TryGet(string attributeMetadataName, out Entry entry) => ByAttributeName.TryGetValue(attributeMetadataName, out entry!);
}
