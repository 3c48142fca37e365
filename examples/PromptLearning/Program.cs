using System;

namespace PromptLearningExample;

/// <summary>Runs <see cref="Experiment"/> and prints its results table.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        ExampleOptions? options;
        try
        {
            options = ExampleOptions.Parse(args, Console.Out);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            options = null;
        }
        if (options is null)
        {
            Console.Error.WriteLine(ExampleOptions.Usage);
            return 2;
        }

        Console.WriteLine();
        Console.WriteLine(options.Compositional ? Compositional.Run(options) : Experiment.Run(options));
        return 0;
    }
}
