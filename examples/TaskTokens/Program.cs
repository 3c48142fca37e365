using System.IO;
using ModelDsl.Examples;

namespace TaskTokensExample;

/// <summary>Runs <see cref="Experiment"/> and prints its results table.</summary>
public static class Program
{
    public static int Main(string[] args) =>
        ExampleOptions.RunFromCommandLine(args, "examples/TaskTokens", Path.Combine("runs", "tasktokens"), options => Experiment.Run(options));
}
