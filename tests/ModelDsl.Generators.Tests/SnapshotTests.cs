using System.Linq;
using ModelDsl.Generators.Tests.Infrastructure;

namespace ModelDsl.Generators.Tests;

/// <summary>The generated module of each declaration, against an approved baseline in Snapshots/.</summary>
public class SnapshotTests
{
    public static TheoryData<string> Names => new() { "FashionVit", "AvgVit", "MapVit", "TaskVit", "InsideBlocksVit" };

    internal static string Source(string name) => name switch
    {
        "FashionVit" => Declarations.FashionVit,
        "AvgVit" => Declarations.AvgVit,
        "MapVit" => Declarations.MapVit,
        "TaskVit" => Declarations.TaskVit,
        "InsideBlocksVit" => Declarations.InsideBlocksVit,
        _ => throw new System.ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void Generated_source_matches_the_approved_baseline(string name)
    {
        var run = TestCompilation.RunGenerator(TestCompilation.Create(Source(name)));

        Snapshot.Verify(name, run.SingleSource());
    }

    [Theory]
    [InlineData("FashionVit", "FashionVitExample.FashionVit.g.cs")]
    [InlineData("AvgVit", "Samples.Avg.AvgVit.g.cs")]
    [InlineData("MapVit", "Samples.Map.Zoo.MapVit.g.cs")]
    [InlineData("TaskVit", "Samples.Tasks.TaskVit.g.cs")]
    [InlineData("InsideBlocksVit", "Samples.InsideBlocks.InsideBlocksVit.g.cs")]
    public void Each_model_gets_one_file_with_a_stable_hint_name(string name, string hintName)
    {
        var run = TestCompilation.RunGenerator(TestCompilation.Create(Source(name)));

        Assert.Equal([hintName], run.Result.GeneratedSources.Select(s => s.HintName));
    }

    [Fact]
    public void Generation_is_deterministic()
    {
        var first = TestCompilation.RunGenerator(TestCompilation.Create(Declarations.FashionVit)).SingleSource();
        var second = TestCompilation.RunGenerator(TestCompilation.Create(Declarations.FashionVit)).SingleSource();

        Assert.Equal(first, second);
    }
}
