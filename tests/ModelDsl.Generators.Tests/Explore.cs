using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using ModelDsl.Generators.Tests.Infrastructure;
namespace ModelDsl.Generators.Tests;
public class Explore
{
    [Fact]
    public void Dump()
    {
        var random = new Random(20261130);
        var mutants = Enumerable.Range(0, 300).Select(_ => FuzzTests.Mutate(Declarations.FashionVit, random)).ToArray();
        var times = new (long, long, long, string)[300];
        for (int i = 0; i < 300; i++)
        {
            var sw = Stopwatch.StartNew();
            var c = TestCompilation.Create(mutants[i].Source);
            var g = TestCompilation.RunGenerator(c); var t1 = sw.ElapsedMilliseconds;
            var a = TestCompilation.RunAnalyzer(c); var t2 = sw.ElapsedMilliseconds;
            times[i] = (t2, t1, t2 - t1, string.Join("; ", mutants[i].Log));
        }
        File.WriteAllText("/tmp/prof2.txt", $"total {times.Sum(t => t.Item1)} gen {times.Sum(t => t.Item2)} an {times.Sum(t => t.Item3)}\n" + string.Join("\n", times.OrderByDescending(t => t.Item1).Take(15).Select(t => $"{t.Item1} {t.Item2} {t.Item3} {t.Item4}")));
    }
}
