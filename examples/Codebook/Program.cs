using System;
using System.Globalization;

namespace CodebookExample;

/// <summary>Runs <see cref="Experiment"/>: <c>--epochs N</c> (default 10), <c>--seed N</c> (default 0), <c>--temperature X</c> (FDT's score temperature), <c>--skip-clip</c>, <c>--smoke</c>.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        int epochs = 10;
        long seed = 0;
        var smoke = false;
        double? temperature = null;
        var skipClip = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--epochs" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var e) && e > 0:
                    epochs = e; i++; break;
                case "--seed" when i + 1 < args.Length && long.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var s):
                    seed = s; i++; break;
                case "--temperature" when i + 1 < args.Length && double.TryParse(args[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out var t) && t > 0:
                    temperature = t; i++; break;
                case "--skip-clip":
                    skipClip = true; break;
                case "--smoke":
                    smoke = true; break;
                default:
                    Console.Error.WriteLine($"Unknown or incomplete option '{args[i]}'. Usage: dotnet run -c Release --project examples/Codebook [-- --epochs N] [--seed N] [--temperature X] [--skip-clip] [--smoke]");
                    return 2;
            }
        }
        Console.WriteLine(Experiment.Run(epochs, seed, smoke, Console.Out, temperature, skipClip));
        return 0;
    }
}
