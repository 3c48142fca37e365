using System.IO;
using ModelDsl.Examples;

namespace ChannelVitExample;

/// <summary>Runs <see cref="Experiment"/> and prints its results table.</summary>
public static class Program
{
    public static int Main(string[] args) =>
        ExampleOptions.RunFromCommandLine(args, "examples/ChannelVit", Path.Combine("runs", "channel-vit"), options => Experiment.Run(options));
}
