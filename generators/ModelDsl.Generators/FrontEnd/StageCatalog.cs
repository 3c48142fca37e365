
namespace ModelDsl.Generators.FrontEnd;

/// <summary>The attributes the front end reads besides the stage kinds (those are in <see cref="Stages.StageDefinitions"/>), and how names are spelled.</summary>
public static class StageCatalog
{
    public const string ModelAttribute = "ModelDsl.ModelAttribute";
    public const string ShapeAttribute = "ModelDsl.ShapeAttribute";
    public const string PretrainedWeightsAttribute = "ModelDsl.PretrainedWeightsAttribute";
    public const string TowerAttribute = "ModelDsl.TowerAttribute";
    public const string StageAttribute = "ModelDsl.StageAttribute";
    public const string StageParameterAttribute = "ModelDsl.StageParameterAttribute";

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
}
