using System;
using System.Globalization;
using Spectre.Console;

namespace ModelDsl.Training;

/// <summary>Receives the progress of one epoch.</summary>
internal interface IEpochReporter
{
    /// <summary>One more step done.</summary>
    void Advance();

    /// <summary>Fresh numbers read at a sync point.</summary>
    void Update(double loss, double learningRate, double samplesPerSecond);
}

/// <summary>Shows (or not) the progress of the epochs.</summary>
internal abstract class TrainingProgress
{
    public abstract void RunEpoch(int epoch, int epochs, long steps, Action<IEpochReporter> body);

    public static TrainingProgress Create(bool? show) =>
        (show ?? IsInteractive()) ? new SpectreProgress() : new Silent();

    /// <summary>Interactive console, output not redirected, and no <c>CI</c> variable.</summary>
    public static bool IsInteractive() =>
        !Console.IsOutputRedirected
        && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"))
        && AnsiConsole.Profile.Capabilities.Interactive;

    private sealed class Silent : TrainingProgress, IEpochReporter
    {
        public override void RunEpoch(int epoch, int epochs, long steps, Action<IEpochReporter> body) => body(this);
        public void Advance() { }
        public void Update(double loss, double learningRate, double samplesPerSecond) { }
    }

    private sealed class SpectreProgress : TrainingProgress
    {
        public override void RunEpoch(int epoch, int epochs, long steps, Action<IEpochReporter> body)
        {
            AnsiConsole.Progress()
                .AutoClear(false)
                .HideCompleted(false)
                .Columns(
                    new TaskDescriptionColumn { Alignment = Justify.Left },
                    new ProgressBarColumn(),
                    new PercentageColumn(),
                    new ElapsedTimeColumn(),
                    new RemainingTimeColumn())
                .Start(context =>
                {
                    var title = $"epoch {epoch}/{epochs}";
                    var task = context.AddTask(title, autoStart: true, maxValue: Math.Max(1, steps));
                    body(new Reporter(task, title));
                    task.Value = task.MaxValue;
                });
        }

        private sealed class Reporter(ProgressTask task, string title) : IEpochReporter
        {
            public void Advance() => task.Increment(1);

            public void Update(double loss, double learningRate, double samplesPerSecond) =>
                task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"{title}  loss {loss:F4}  lr {learningRate:0.00e+00}  {samplesPerSecond:N0} samples/s"));
        }
    }
}
