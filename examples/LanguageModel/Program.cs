using System;
using System.Globalization;
using System.Linq;
using ModelDsl.Blocks;
using ModelDsl.Weights;

namespace LanguageModelExample;

/// <summary>
/// <c>dotnet run -c Release --project examples/LanguageModel</c>: the experiment (README.md).
/// <c>... -- generate WEIGHTS "prompt" [tokens]</c>: streams a continuation from saved weights, byte by byte.
/// <c>... -- --smoke</c>: every step on a few batches.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length >= 3 && args[0] == "generate")
            return Generate(args[1], args[2], args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : Experiment.Window - Corpus.Tokenizer.Encode(args[2]).Count);
        var options = args.Contains("--smoke") ? ExperimentOptions.Smoke : new ExperimentOptions();
        var output = Array.IndexOf(args, "--output");
        options = options with { Log = Console.Out, OutputDirectory = output >= 0 ? args[output + 1] : "runs/languagemodel" };
        var results = Experiment.Run(options);
        Console.WriteLine();
        Console.WriteLine($"Pretraining: {results.TrainWindows:N0} windows of {Experiment.Window} bytes, validation {results.BitsPerByteBefore:0.000} -> {results.BitsPerByteAfter:0.000} bits per byte, {results.PretrainSeconds:0} s");
        Console.WriteLine($"{"Method",-42} {"Trainable",10} {"Accuracy",9} {"Seconds",8}");
        foreach (var row in results.Task)
            Console.WriteLine($"{row.Method,-42} {row.TrainableParameters,10:N0} {row.Accuracy,9:P1} {row.Seconds,8:0}");
        return 0;
    }

    private static int Generate(string weights, string prompt, int tokens)
    {
        using var model = new KjvLm();
        model.Load(weights);
        Console.Write(prompt);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var count = 0;
        foreach (var step in model.GenerateStream(new[] { Corpus.Tokenizer.Encode(prompt) },
                     new GenerationOptions { Sample = true, TopK = 10, Seed = 1, MaxNewTokens = tokens, StopTokens = new[] { (long)'\n' } }))
        {
            Console.Write(Corpus.Tokenizer.Decode(new[] { step.Tokens[0]!.Value }));
            count++;
        }
        Console.WriteLine();
        Console.Error.WriteLine($"{count} bytes in {clock.Elapsed.TotalSeconds:0.00} s ({count / clock.Elapsed.TotalSeconds:0} per second)");
        return 0;
    }
}
