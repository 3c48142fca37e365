using System;
using System.Threading;
using System.Globalization;
using Spectre.Console;

namespace ModelDsl.Training;

/// <summary>Receives the progress of one epoch.</summary>
internal interface IEpochReporter
{
    /// <summary>One more step done.</summary>
    void Advance();

    /// <summary>Fresh numbers read at a sync point: the running loss, one running metric (name and value, or null), the rate and the throughput.</summary>
    void Update(double loss, string? metric, double metricValue, double learningRate, double samplesPerSecond);
}

/// <summary>Shows (or not) the progress of the epochs.</summary>
internal abstract class TrainingProgress
{
    /// <summary>Runs <paramref name="body"/> for one epoch of <paramref name="steps"/> steps, <paramref name="done"/> of them already done (a resumed epoch).</summary>
    public abstract void RunEpoch(int epoch, int epochs, long steps, long done, Action<IEpochReporter> body);

    /// <summary>
    /// The live bar needs an interactive console even when asked for: Spectre's fallback for
    /// redirected output prints little, and its render thread then slows a CPU-bound loop badly on
    /// small machines. The per-epoch log lines carry the same numbers.
    /// </summary>
    public static TrainingProgress Create(bool? show) =>
        (show ?? ShouldShowByDefault()) && AnsiConsole.Profile.Capabilities.Interactive ? new SpectreProgress() : new Silent();

    /// <summary>Output not redirected and no <c>CI</c> variable.</summary>
    public static bool ShouldShowByDefault() =>
        !Console.IsOutputRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"));

    private sealed class Silent : TrainingProgress, IEpochReporter
    {
        public override void RunEpoch(int epoch, int epochs, long steps, long done, Action<IEpochReporter> body) => body(this);
        public void Advance() { }
        public void Update(double loss, string? metric, double metricValue, double learningRate, double samplesPerSecond) { }
    }

    private sealed class SpectreProgress : TrainingProgress
    {
        public override void RunEpoch(int epoch, int epochs, long steps, long done, Action<IEpochReporter> body)
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
                    task.Value = done;
                    using (var reporter = new Reporter(task, title, done))
                    {
                        body(reporter);
                    }
                    task.Value = task.MaxValue;
                });
        }

        /// <summary>
        /// The training thread only writes two fields; a timer copies them into the Spectre task
        /// every 100 ms. So the loop never waits for the renderer's lock, which on a busy machine
        /// (few cores, spinning OpenMP threads) can be held by a descheduled render thread.
        /// </summary>
        private sealed class Reporter : IEpochReporter, IDisposable
        {
            private readonly ProgressTask _task;
            private readonly string _title;
            private readonly Timer _timer;
            private long _steps;
            private string? _status;

            public Reporter(ProgressTask task, string title, long done)
            {
                _task = task;
                _title = title;
                _steps = done;
                _timer = new Timer(_ => Publish(), null, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100));
            }

            public void Advance() => Interlocked.Increment(ref _steps);

            public void Update(double loss, string? metric, double metricValue, double learningRate, double samplesPerSecond) =>
                Volatile.Write(ref _status, Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"{_title} loss {loss:F4}{(metric is null ? "" : $" {metric} {metricValue:F4}")} lr {learningRate:0.0e+00} {samplesPerSecond:N0}/s")));

            private void Publish()
            {
                _task.Value = Interlocked.Read(ref _steps);
                if (Volatile.Read(ref _status) is string status && status != _task.Description) _task.Description = status;
            }

            public void Dispose()
            {
                using (var done = new ManualResetEvent(false))
                {
                    if (_timer.Dispose(done)) done.WaitOne();
                }
                Publish();
            }
        }
    }
}
