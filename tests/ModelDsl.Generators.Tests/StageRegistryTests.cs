using System;
using System.Linq;
using System.Reflection;
using ModelDsl.Generators.Stages;
using Xunit;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// The stage kinds are found from their definition classes (no list to edit): every stage attribute the runtime
/// library declares has exactly one definition, every definition names an attribute that exists, and the kinds are
/// distinct. A definition forgotten or added twice fails here rather than as an unknown attribute in a user's build.
/// </summary>
public sealed class StageRegistryTests
{
    [Fact]
    public void Every_stage_attribute_has_one_definition_and_every_definition_an_attribute()
    {
        var stageAttributes = typeof(ModelDsl.ModelAttribute).Assembly.GetTypes()
            .Where(t => typeof(Attribute).IsAssignableFrom(t) && !t.IsAbstract
                && t.GetCustomAttribute<AttributeUsageAttribute>() is { } usage && usage.ValidOn == AttributeTargets.Property)
            .Select(t => t.FullName!)
            .OrderBy(n => n, StringComparer.Ordinal)
            .ToList();
        var defined = StageDefinitions.All.Select(d => d.AttributeName).OrderBy(n => n, StringComparer.Ordinal).ToList();

        Assert.NotEmpty(stageAttributes);
        Assert.Equal(stageAttributes, defined);
    }

    [Fact]
    public void Kinds_are_distinct_and_listed_in_a_stable_order()
    {
        Assert.Equal(StageDefinitions.All.Count, StageDefinitions.All.Select(d => d.Kind).Distinct().Count());
        Assert.Equal(StageDefinitions.All.Select(d => d.ShortName).OrderBy(n => n, StringComparer.Ordinal), StageDefinitions.All.Select(d => d.ShortName));
        foreach (var definition in StageDefinitions.All)
            Assert.Same(definition, StageDefinitions.Of(definition.Kind));
    }
}
