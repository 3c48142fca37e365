using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.Stages;

/// <summary>Every stage kind the generator knows; lookups by kind and by attribute come from <see cref="All"/>.</summary>
internal static class StageDefinitions
{
    /// <summary>
    /// Every non-abstract <see cref="StageDefinition"/> in this assembly, ordered by attribute name. A definition's
    /// class is its registration: adding a kind is its attribute, its definition and its runtime block, with no list
    /// to edit as well. Found once, when the generator loads (compile time; generated code uses no reflection).
    /// </summary>
    public static readonly IReadOnlyList<StageDefinition> All =
        typeof(StageDefinition).Assembly.GetTypes()
            .Where(type => !type.IsAbstract && typeof(StageDefinition).IsAssignableFrom(type))
            .Select(type => (StageDefinition)Activator.CreateInstance(type)!)
            .OrderBy(definition => definition.ShortName, StringComparer.Ordinal)
            .ToArray();

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
