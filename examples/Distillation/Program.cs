using System;
using System.Globalization;

namespace DistillationExample;

/// <summary>Runs <see cref="Experiment"/>; options below.</summary>
public static class Program
{
    private const string Usage = "dotnet run -c Release --project examples/Distillation [-- --teacher-epochs N (5)] [--shots N (10)] [--steps N (300)] [--eval-every N (25)] [--seed N (0)] [--plot FILE (runs/distillation/curves.png)] [--smoke]";

    public static int Main(string[] args)
    {
        int teacherEpochs = 5, shots = 10, steps = 300, evalEvery = 25;
        long seed = 0;
        string? plot = "runs/distillation/curves.png";
        var smoke = false;
        for (var i = 0; i < args.Length; i++)
        {
            int Int() => i + 1 < args.Length && int.TryParse(args[++i], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : throw new ArgumentException($"{args[i - 1]} takes a positive integer.");
            try
            {
                switch (args[i])
                {
                    case "--teacher-epochs": teacherEpochs = Int(); break;
                    case "--shots": shots = Int(); break;
                    case "--steps": steps = Int(); break;
                    case "--eval-every": evalEvery = Int(); break;
                    case "--seed": seed = Int(); break;
                    case "--plot" when i + 1 < args.Length: plot = args[++i]; break;
                    case "--smoke": smoke = true; break;
                    default: throw new ArgumentException($"Unknown or incomplete option '{args[i]}'.");
                }
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine(e.Message + " Usage: " + Usage);
                return 2;
            }
        }
        Console.WriteLine(Experiment.Run(teacherEpochs, shots, steps, evalEvery, seed, smoke, plot, Console.Out));
        return 0;
    }
}
