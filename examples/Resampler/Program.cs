using System.IO;
using ModelDsl.Examples;

namespace ResamplerExample;

/// <summary>Runs <see cref="Experiment"/> and prints its results table.</summary>
public static class Program
{
    public static int Main(string[] args) =>
        ExampleOptions.RunFromCommandLine(args, "examples/Resampler", Path.Combine("runs", "resampler"), options => Experiment.Run(options));
}
