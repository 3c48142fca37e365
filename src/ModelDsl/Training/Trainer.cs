using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using ModelDsl.Blocks;
using ModelDsl.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>
/// The training loop: AdamW with parameter groups (no weight decay on tokens, norms and biases;
/// per-group learning-rate multipliers; only trainable parameters), a step-based warmup + cosine or
/// linear schedule, gradient clipping and accumulation, bf16 mixed precision, evaluation every epoch or
/// every N steps, best/last checkpoints written atomically, exact resume, early stopping, a stop on a
/// NaN or infinite loss, seeding, a live progress bar, a JSON-lines and CSV metrics log, a
/// training-curve PNG and the trainable/frozen parameter report.
/// </summary>
/// <remarks>
/// <para>The loop never waits for the device inside a step: the loss, the metrics and the non-finite
/// check accumulate on the device and are read every <see cref="TrainOptions.SyncEveryNSteps"/>
/// steps and at each evaluation. Every step runs in its own dispose scope, so memory stays flat.</para>
/// <para>Checkpoints hold the whole state (see <see cref="Checkpoint"/>); resuming with the same
/// options skips exactly the batches already consumed and continues bit for bit on the CPU.</para>
/// </remarks>
public static class Trainer
{
    /// <summary>Trains <paramref name="model"/> on <paramref name="train"/>, validating on <paramref name="validation"/>.</summary>
    /// <exception cref="NonFiniteLossException">The training loss became NaN or infinite.</exception>
    /// <exception cref="ArgumentException">An invalid option; an empty training or validation set, or a training set smaller than one batch with
    /// <see cref="TrainOptions.DropLast"/>; a validation set with NaN or infinite values (checked before training).</exception>
    /// <exception cref="LabelException">A loss or metric refused a batch's labels (the step and the column are named).</exception>
    /// <exception cref="TrainingStepException">libtorch failed inside a step (the cause in one line; its text is the inner exception).</exception>
    /// <exception cref="InvalidOperationException">Nothing in the model is trainable, or a resume checkpoint that does not fit the options.</exception>
    /// <exception cref="CheckpointMismatchException">The resume checkpoint is from a different model.</exception>
    /// <exception cref="System.IO.InvalidDataException">The resume file is not a readable ModelDsl checkpoint (a weights file is named as one), or is damaged or forged; nothing was changed.</exception>
    public static TrainReport Fit<TBatch>(TrainableModule<TBatch> model, TensorDataset train, TensorDataset? validation, TrainOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        options ??= new TrainOptions();
        options.Validate();
        if (train.Count == 0)
            throw new ArgumentException("The training set has 0 rows: there is nothing to train on.", nameof(train));
        if (validation is { Count: 0 })
            throw new ArgumentException(
                "The validation set has 0 rows: every evaluation would give no loss and no checkpoint could be chosen by it. " +
                "Give it rows (a split carved from the training data), or pass null to train without validation (the run then monitors train_loss).",
                nameof(validation));
        if (options.Smoke) options = options.ForSmoke();
        using var run = new TrainingRun<TBatch>(model, train, validation, options);
        return run.Execute();
    }

    /// <summary>
    /// The sample-weighted mean <c>loss</c> and metrics of <see cref="TrainableModule{TBatch}.ValidationStep"/>
    /// over <paramref name="data"/>, in eval mode under <c>no_grad</c>, on <see cref="TrainOptions.Device"/>
    /// (the model is moved there), or on the device the model's parameters are on when that is null;
    /// in the precision of <see cref="TrainOptions.Precision"/>.
    /// </summary>
    public static IReadOnlyDictionary<string, double> Evaluate<TBatch>(TrainableModule<TBatch> model, TensorDataset data, TrainOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        options ??= new TrainOptions();
        options.Validate();
        if (data.Count == 0)
            throw new ArgumentException("The dataset to evaluate has 0 rows: there is no mean to report.", nameof(data));
        var device = options.Device ?? model.parameters().FirstOrDefault()?.device ?? Devices.Default;
        model.to(device);
        var compute = ResolveComputeType(options.Precision, device, TextWriter.Null);
        return EvaluateOn(model, data, options.EvalBatchSize ?? 2 * options.BatchSize, device, compute, options.MaxEvalBatches, "evaluation");
    }

    /// <summary>
    /// The compute type of <paramref name="precision"/> on <paramref name="device"/>: Auto gives bf16 on a
    /// CUDA device whose bf16 matrix product works, fp32 elsewhere.
    /// </summary>
    public static ScalarType ResolveComputeType(Precision precision, Device device, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(device);
        switch (precision)
        {
            case Precision.Float32:
                return ScalarType.Float32;
            case Precision.BFloat16:
                if (device.type == DeviceType.CPU && CpuLacksNativeBFloat16())
                    log.WriteLine("Note: this CPU reports no native bf16 instructions (avx512_bf16 / amx_bf16), so bf16 matrix products are emulated " +
                                  "and much slower than fp32 here; bf16 pays off on CUDA and on CPUs with those instructions.");
                return ScalarType.BFloat16;
        }
        if (device.type != DeviceType.CUDA) return ScalarType.Float32;
        try
        {
            using var scope = NewDisposeScope();
            var a = ones(new long[] { 16, 16 }, ScalarType.BFloat16, device);
            _ = a.matmul(a).sum().item<float>();
            return ScalarType.BFloat16;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            log.WriteLine($"bf16 does not run on {device} ({e.Message.Split('\n')[0]}); training in fp32.");
            return ScalarType.Float32;
        }
    }

    /// <summary>On Linux x64: whether /proc/cpuinfo lists neither avx512_bf16 nor amx_bf16 (false when unknown).</summary>
    private static bool CpuLacksNativeBFloat16()
    {
        try
        {
            if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
                return false;
            var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            return flags is not null && !flags.Contains(" avx512_bf16", StringComparison.Ordinal) && !flags.Contains(" amx_bf16", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    internal static IReadOnlyDictionary<string, double> EvaluateOn<TBatch>(TrainableModule<TBatch> model, TensorDataset data, int batchSize,
        Device device, ScalarType compute, long? maxBatches, string phase = "validation")
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var autocast = Autocast.Enable(compute);
            using var means = new DeviceMeans(device);
            var loader = new DataLoader(data, batchSize, device, shuffle: false);
            long batches = Math.Min(loader.BatchesPerEpoch, maxBatches ?? long.MaxValue), index = 0;
            foreach (var named in loader.Epoch(0, maxBatches))
            {
                using var scope = NewDisposeScope();
                using (named)
                {
                    var where = $"{phase} batch {++index} of {batches}";
                    try
                    {
                        var output = model.ValidationStep(model.CreateBatch(named));
                        RequireScalar(output, nameof(model.ValidationStep));
                        means.Add(named.Size, output.Metrics.Prepend(new KeyValuePair<string, Tensor>("loss", output.Loss)), output.MetricWeights);
                    }
                    catch (Exception e) when (StepFailures.Translate(e, named, where) is { } clear)
                    {
                        throw clear;
                    }
                }
            }
            return means.Read();
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    internal static void RequireScalar(StepOutput output, string stepName)
    {
        if (output is null) throw new InvalidOperationException($"{stepName} returned null.");
        if (output.Loss is null || output.Loss.numel() != 1)
            throw new InvalidOperationException(
                $"{stepName} must return a scalar loss (a batch mean); got shape [{string.Join(",", output.Loss?.shape ?? [])}].");
        foreach (var (name, value) in output.Metrics)
        {
            if (name == "loss")
                throw new InvalidOperationException($"{stepName} reports a metric named 'loss'; that name is reserved for StepOutput.Loss.");
            if (value is null || value.numel() != 1)
                throw new InvalidOperationException(
                    $"{stepName} metric '{name}' must be a scalar batch mean; got shape [{string.Join(",", value?.shape ?? [])}].");
        }
        foreach (var (name, weight) in output.MetricWeights ?? new Dictionary<string, Tensor>())
        {
            if (name != "loss" && !output.Metrics.ContainsKey(name))
                throw new InvalidOperationException($"{stepName} gives a weight for '{name}', which is neither 'loss' nor one of its metrics ({string.Join(", ", output.Metrics.Keys)}).");
            if (weight is null || weight.numel() != 1)
                throw new InvalidOperationException(
                    $"{stepName} weight of '{name}' must be a scalar sample count; got shape [{string.Join(",", weight?.shape ?? [])}].");
        }
    }
}

/// <summary>One call of <see cref="Trainer.Fit{TBatch}"/>: its settings, state and files.</summary>
internal sealed class TrainingRun<TBatch> : IDisposable
{
    private readonly TrainableModule<TBatch> _model;
    private readonly TrainOptions _options;
    private readonly TextWriter _log;
    private readonly Device _device;
    private readonly ScalarType _compute;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<IDisposable> _owned = [];

    private TensorDataset _train;
    private TensorDataset? _validation;
    private ParameterGroups _groups = null!;
    private FusedAdamW _optimizer = null!;
    private DataLoader _loader = null!;
    private LearningRateSchedule _schedule = null!;
    private DeviceMeans _trainMeans = null!;
    private NonFiniteWatch _watch = null!;
    private MetricsLog? _metricsLog;

    private long _batchesPerEpoch;   // batches consumed per epoch
    private long _stepsPerEpoch;     // optimizer steps per epoch
    private long _totalSteps;
    private string _monitor = "";
    private bool _lowerIsBetter;

    // Position and progress: what a checkpoint saves.
    private long _step;
    private int _epoch = 1;
    private long _batchInEpoch;
    private readonly List<EpochRecord> _records = [];
    private double? _bestValue;
    private long? _bestStep;
    private int _badEvaluations;
    private double _trainSeconds;
    private long _trainSamples;

    // Since the last record (not needed for exactness: timings only).
    private double _intervalTrainSeconds;
    private long _intervalSamples;
    private readonly Stopwatch _intervalClock = new();
    private readonly Stopwatch _trainClock = new();

    private double _learningRate;
    private string? _lastCheckpoint;     // the newest checkpoint this run can fall back to
    private string? _lastPath, _bestPath;
    private TrainStop _stop = TrainStop.Completed;
    private bool _finished;
    private long? _resumedFrom;
    private IReadOnlyDictionary<string, double> _lastValidation = new Dictionary<string, double>();
    private readonly List<string> _warnings = [];

    public TrainingRun(TrainableModule<TBatch> model, TensorDataset train, TensorDataset? validation, TrainOptions options)
    {
        _model = model;
        _train = train;
        _validation = validation;
        _options = options;
        _log = options.Log ?? Console.Out;
        _device = options.Device ?? Devices.Default;
        _compute = Trainer.ResolveComputeType(options.Precision, _device, _log);
    }

    private int Accumulation => _options.GradientAccumulationSteps;

    public TrainReport Execute()
    {
        Setup();
        if (_options.ResumeFrom is string resume) Resume(resume);
        OpenLogs();
        WriteHeader();
        if (_finished)
        {
            _log.WriteLine("The checkpoint's run had already finished; nothing to train.");
            return Report();
        }
        SanityCheckValidation();

        var progress = TrainingProgress.Create(_options.ShowProgress);
        _intervalClock.Start();
        try
        {
            for (; _epoch <= _options.Epochs && _stop == TrainStop.Completed && !_finished; _epoch++, _batchInEpoch = 0)
            {
                _model.train();
                long done = (_batchInEpoch + Accumulation - 1) / Accumulation;
                progress.RunEpoch(_epoch, _options.Epochs, _stepsPerEpoch, done, RunEpoch);
                FlushLog();
            }
        }
        finally
        {
            FlushLog();
        }
        return Report();
    }

    // Lines produced while a live progress bar is drawn wait until the epoch's bar is done.
    private readonly List<string> _pendingLog = [];

    private void WriteLog(string line) => _pendingLog.Add(line);

    private void FlushLog()
    {
        foreach (var line in _pendingLog) _log.WriteLine(line);
        _pendingLog.Clear();
    }

    private void Setup()
    {
        torch.manual_seed(_options.Seed);
        if (_device.type == DeviceType.CUDA) cuda.manual_seed_all(_options.Seed);

        // Move first: Module.to replaces the parameters, and the optimizer must hold the moved ones.
        _model.to(_device);
        _groups = ParameterGroups.Create(_model, _model.NoWeightDecayNames, _options.WeightDecay, _options.LearningRateScales);
        _log.WriteLine(_groups.Report.Format());
        _optimizer = new FusedAdamW(_groups, _options.Betas, _options.Epsilon);
        _owned.Add(_optimizer);

        if (_options.PreloadToDevice && !_train.Device.IsSameAs(_device)) _owned.Add(_train = _train.To(_device));
        if (_options.PreloadToDevice && _validation is not null && !_validation.Device.IsSameAs(_device))
            _owned.Add(_validation = _validation.To(_device));

        _loader = new DataLoader(_train, _options.BatchSize, _device, shuffle: true, seed: _options.Seed, dropLast: _options.DropLast);
        if (_loader.BatchesPerEpoch == 0)
            throw new ArgumentException(
                $"The training set has {_train.Count} rows, fewer than one batch of {_options.BatchSize} with DropLast; lower BatchSize or turn DropLast off.",
                "train");
        long maxBatches = _options.MaxStepsPerEpoch is int cap ? (long)cap * Accumulation : long.MaxValue;
        _batchesPerEpoch = Math.Min(_loader.BatchesPerEpoch, maxBatches);
        _stepsPerEpoch = (_batchesPerEpoch + Accumulation - 1) / Accumulation;
        _totalSteps = _stepsPerEpoch * _options.Epochs;
        long warmup = Math.Min(_totalSteps, _options.WarmupSteps ?? (long)Math.Round(_options.WarmupFraction * _totalSteps));
        _schedule = LearningRateSchedule.Create(_options.Schedule, _options.LearningRate, _totalSteps, warmup, _options.MinLearningRateRatio);
        _learningRate = _schedule.LearningRateAt(0);

        _monitor = _options.Monitor ?? (_validation is null ? "train_loss" : "val_loss");
        if (_monitor.StartsWith("val_", StringComparison.Ordinal) && _validation is null)
            throw new ArgumentException($"TrainOptions.Monitor = {_monitor} needs a validation set; pass one or monitor a train_ metric.", nameof(TrainOptions.Monitor));
        _lowerIsBetter = _options.MonitorMode.LowerIsBetter(_monitor);

        _trainMeans = new DeviceMeans(_device);
        _owned.Add(_trainMeans);
        _watch = new NonFiniteWatch(_device);
        _owned.Add(_watch);

        if (_options.OutputDirectory is string output)
        {
            _lastPath = Path.GetFullPath(Path.Combine(output, Checkpoint.LastFileName));
            _bestPath = Path.GetFullPath(Path.Combine(output, Checkpoint.BestFileName));
        }
    }

    private void OpenLogs()
    {
        if (_options.OutputDirectory is not string output) return;
        _metricsLog = new MetricsLog(Path.Combine(output, MetricsLog.FileName), Path.Combine(output, MetricsLog.CsvFileName));
        _owned.Add(_metricsLog);
        foreach (var record in _records) _metricsLog.Write(record); // a resumed run rewrites the history it continues
    }

    private void WriteHeader()
    {
        var precision = _compute == ScalarType.Float32 ? "fp32" : $"{_compute} mixed precision (fp32 weights)";
        var accumulation = Accumulation == 1 ? "" : $" x {Accumulation} accumulated";
        var clip = _options.GradientClipNorm is double c ? string.Create(CultureInfo.InvariantCulture, $", clip {c:G3}") : "";
        var evaluate = _options.EvaluateEveryNSteps is int n ? $"every {n} steps" : "every epoch";
        var early = _options.EarlyStoppingPatience is int p ? $", early stop after {p} without improvement" : "";
        _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Training {_model.GetType().Name} on {_device.type.ToString().ToLowerInvariant()} in {precision}{(_options.Smoke ? " (smoke run)" : "")}: " +
            $"{_options.Epochs} epoch{(_options.Epochs == 1 ? "" : "s")} x {_stepsPerEpoch} steps (batch {_options.BatchSize}{accumulation}), AdamW over {_optimizer.Parameters.Count} tensors in {_groups.Groups.Count} groups, " +
            $"{_schedule}{clip}; evaluate {evaluate}, monitor {_monitor} ({(_lowerIsBetter ? "min" : "max")}){early}."));
    }

    private void SanityCheckValidation()
    {
        // Like Lightning's sanity check: one small validation batch before training, so a broken
        // validation set fails now rather than after the first epoch.
        // The RNG is put back, so the check cannot change what the run computes (a resumed run repeats it).
        if (_validation is null) return;
        RequireFinite(_validation);
        using var rng = torch.random.get_rng_state();
        var first = Trainer.EvaluateOn(_model, _validation, (int)Math.Min(_validation.Count, 2), _device, _compute, maxBatches: 1,
            phase: "before training, validation");
        torch.random.set_rng_state(rng);
        foreach (var (name, value) in first)
        {
            if (!double.IsFinite(value))
                throw new InvalidOperationException(
                    $"Before training: the validation {name} of the first {Math.Min(_validation.Count, 2)} validation rows is {value.ToString(CultureInfo.InvariantCulture)}, although the validation data are finite: " +
                    "the model's outputs are not (check weights loaded into it, and any step of your own that divides by a count). Nothing was trained.");
        }
    }

    /// <summary>Refuses a validation set with NaN or infinite values (a row without its optional target, per its '_present' column, is skipped).</summary>
    private static void RequireFinite(TensorDataset data)
    {
        foreach (var name in data.Names)
        {
            var column = data[name];
            if (!LabelCheck.IsFloating(column.dtype)) continue;
            using var scope = NewDisposeScope();
            var bad = column.isfinite().logical_not().reshape(data.Count, -1).any(1);
            if (data.Contains(name + "_present"))
                bad = bad.logical_and(data[name + "_present"].ne(0).reshape(data.Count));
            if (!bad.any().item<bool>()) continue;
            long row = bad.nonzero()[0, 0].item<long>();
            long count = bad.sum().item<long>();
            var rowValues = column[row].flatten();
            double value = rowValues[rowValues.isfinite().logical_not().nonzero()[0, 0]].to(ScalarType.Float64).item<double>();
            throw new ArgumentException(
                $"The validation set's column '{name}' has {value.ToString(CultureInfo.InvariantCulture)} at row {row} ({count} of its {data.Count} rows hold NaN or infinite values): " +
                "its loss would not be finite, so no evaluation could choose a checkpoint. Drop or repair those rows before training.",
                "validation");
        }
    }

    private void RunEpoch(IEpochReporter reporter)
    {
        var batches = _loader.Epoch(_epoch - 1, maxBatches: _batchesPerEpoch).GetEnumerator();
        try
        {
            for (long skip = 0; skip < _batchInEpoch; skip++)
            {
                // A resumed epoch: skip exactly the batches the checkpointed run had consumed.
                if (!batches.MoveNext()) throw new InvalidOperationException("The data loader ended before the resume position.");
                batches.Current.Dispose();
            }
            while (_batchInEpoch < _batchesPerEpoch)
            {
                _trainClock.Start();
                long rows = OptimizerStep(batches);
                _trainClock.Stop();
                _trainSamples += rows;
                _intervalSamples += rows;
                reporter.Advance();

                bool endOfEpoch = _batchInEpoch >= _batchesPerEpoch;
                bool evaluate = _options.EvaluateEveryNSteps is int n
                    ? _step % n == 0 || (endOfEpoch && _epoch == _options.Epochs)
                    : endOfEpoch;
                if (evaluate || _step % _options.SyncEveryNSteps == 0)
                {
                    CheckFinite();
                    var means = _trainMeans.Read();
                    var metric = means.Keys.FirstOrDefault(k => k != "loss");
                    double seconds = _trainClock.Elapsed.TotalSeconds;
                    reporter.Update(means.GetValueOrDefault("loss", double.NaN), metric,
                        metric is null ? 0 : means[metric], _learningRate, seconds > 0 ? _intervalSamples / seconds : 0);
                }
                if (evaluate)
                {
                    EvaluationPoint();
                    if (_stop != TrainStop.Completed || _finished) return;
                    _model.train();
                }
                if (_options.CancellationToken.IsCancellationRequested)
                {
                    Interrupt();
                    return;
                }
            }
            CheckFinite();
        }
        finally
        {
            batches.Dispose();
        }
    }

    /// <summary>One optimizer step over up to <see cref="TrainOptions.GradientAccumulationSteps"/> batches; returns the rows used.</summary>
    private long OptimizerStep(IEnumerator<NamedBatch> batches)
    {
        long chunk = Math.Min(Accumulation, _batchesPerEpoch - _batchInEpoch);
        long rows = 0;
        for (long i = 0; i < chunk; i++) rows += RowsOfBatch(_batchInEpoch + i);

        using var scope = NewDisposeScope();
        _learningRate = _schedule.LearningRateAt(_step);
        for (long i = 0; i < chunk; i++)
        {
            if (!batches.MoveNext()) throw new InvalidOperationException("The data loader yielded fewer batches than planned.");
            using var named = batches.Current;
            var where = $"training step {_step + 1} (epoch {_epoch}, batch {_batchInEpoch + i + 1} of {_batchesPerEpoch})";
            StepOutput output;
            try
            {
                if (named.Size == 0)
                    throw new EmptyBatchException("the batch has 0 rows: its mean loss would be NaN. Every training batch needs at least one row.");
                var batch = _model.CreateBatch(named);
                // The step's own scope keeps only the loss and the metrics: every other tensor handle of
                // the forward pass is released before backward, so an activation lives only as long as
                // autograd needs it (backward frees each as it passes) instead of until the step ends.
                using (var forward = NewDisposeScope())
                using (Autocast.Enable(_compute))
                {
                    output = _model.TrainingStep(batch);
                    Trainer.RequireScalar(output, nameof(_model.TrainingStep));
                    forward.MoveToOuter(output.Loss);
                    foreach (var value in output.Metrics.Values) forward.MoveToOuter(value);
                    foreach (var value in output.MetricWeights?.Values ?? []) forward.MoveToOuter(value);
                }
                // Each batch's mean loss weighted by its share of the step's rows: the gradient of the
                // mean over all of them, as one big batch would give.
                var objective = chunk == 1 ? output.Loss : output.Loss * (named.Size / (double)rows);
                objective.backward();
            }
            catch (Exception e) when (StepFailures.Translate(e, named, where) is { } clear)
            {
                throw clear;
            }
            var loss = output.Loss;
            _watch.Observe(loss, _step + 1);
            _trainMeans.Add(named.Size, output.Metrics.Prepend(new KeyValuePair<string, Tensor>("loss", loss)), output.MetricWeights);
        }
        _batchInEpoch += chunk;
        if (_options.GradientClipNorm is double maxNorm) _optimizer.ClipGradNorm(maxNorm);
        _optimizer.Step(_learningRate);
        _optimizer.ZeroGrad();
        _step++;
        return rows;
    }

    private long RowsOfBatch(long index) =>
        Math.Min(_options.BatchSize, _train.Count - index * _options.BatchSize);

    private void CheckFinite()
    {
        if (_watch.Read() is not (long badStep, double badLoss)) return;
        int badEpoch = (int)((badStep - 1) / _stepsPerEpoch) + 1;
        long inEpoch = badStep - (badEpoch - 1) * _stepsPerEpoch;
        throw new NonFiniteLossException(badStep, badEpoch, inEpoch, badLoss, _lastCheckpoint);
    }

    /// <summary>Validation, a record, the best/last checkpoints and the early-stopping check.</summary>
    private void EvaluationPoint()
    {
        CheckFinite();
        var trainStats = _trainMeans.Read();
        _trainSeconds += _trainClock.Elapsed.TotalSeconds;
        _intervalTrainSeconds = _trainClock.Elapsed.TotalSeconds;
        _trainClock.Reset();

        IReadOnlyDictionary<string, double> validationStats = new Dictionary<string, double>();
        if (_validation is not null)
        {
            validationStats = Trainer.EvaluateOn(_model, _validation, _options.EvalBatchSize ?? 2 * _options.BatchSize, _device, _compute, _options.MaxEvalBatches);
            _lastValidation = validationStats;
        }
        var warnings = new List<string>();
        if (_validation is not null)
        {
            var names = validationStats.Keys.Prepend("loss").Distinct();
            foreach (var name in names)
            {
                var stat = validationStats.GetValueOrDefault(name, double.NaN);
                if (double.IsFinite(stat)) continue;
                var what = validationStats.ContainsKey(name) ? $"is {stat.ToString(CultureInfo.InvariantCulture)}" : "has no value (no validation sample carried its target)";
                warnings.Add($"Warning (validation): val_{name} {what} at step {_step} (epoch {_epoch})" +
                             ($"val_{name}" == _monitor ? $"; this evaluation cannot choose a best checkpoint by {_monitor}" : "") +
                             ". The validation data were finite before training, so the model's outputs are not: a diverging run (lower the learning rate), or weights changed outside the trainer.");
            }
        }
        var record = new EpochRecord(
            _epoch,
            _step,
            trainStats.GetValueOrDefault("loss", double.NaN),
            trainStats.Where(kv => kv.Key != "loss").ToDictionary(kv => kv.Key, kv => kv.Value),
            _validation is null ? null : validationStats.GetValueOrDefault("loss", double.NaN),
            validationStats.Where(kv => kv.Key != "loss").ToDictionary(kv => kv.Key, kv => kv.Value),
            _learningRate,
            _intervalClock.Elapsed.TotalSeconds,
            _intervalTrainSeconds > 0 ? _intervalSamples / _intervalTrainSeconds : 0) { Warnings = warnings };
        _records.Add(record);
        _metricsLog?.Write(record);
        WriteLog(MetricsLog.Format(record));
        foreach (var warning in warnings) WriteLog(warning);
        _warnings.AddRange(warnings);
        _trainMeans.Reset();
        _intervalSamples = 0;
        _intervalClock.Restart();

        var value = MetricsLog.Lookup(record, _monitor)
            ?? throw new InvalidOperationException(
                $"TrainOptions.Monitor = {_monitor}, but the records have {string.Join(", ", MetricsLog.Values(record).Select(v => v.Name).Where(n => n.StartsWith("train_") || n.StartsWith("val_")))}.");
        bool improved = double.IsFinite(value) && (_bestValue is not double best || (_lowerIsBetter ? value < best : value > best));
        bool significant = double.IsFinite(value) && (_bestValue is not double previous
            || (_lowerIsBetter ? value < previous - _options.EarlyStoppingMinDelta : value > previous + _options.EarlyStoppingMinDelta));
        _badEvaluations = significant ? 0 : _badEvaluations + 1;
        if (improved)
        {
            _bestValue = value;
            _bestStep = _step;
        }
        bool endOfRun = _step >= _totalSteps;
        if (_options.EarlyStoppingPatience is int patience && _badEvaluations >= patience && !endOfRun)
        {
            _stop = TrainStop.EarlyStopped;
            WriteLog(string.Create(CultureInfo.InvariantCulture,
                $"Early stopping at step {_step}: {_monitor} has not improved by more than {_options.EarlyStoppingMinDelta:G3} for {patience} evaluations (best {_bestValue:G6} at step {_bestStep})."));
        }
        _finished = endOfRun || _stop == TrainStop.EarlyStopped;

        SaveCheckpoints(best: improved);
    }

    private void Interrupt()
    {
        CheckFinite();
        _trainSeconds += _trainClock.Elapsed.TotalSeconds;
        _trainClock.Reset();
        _stop = TrainStop.Interrupted;
        SaveCheckpoints(best: false);
        WriteLog(_lastPath is null
            ? $"Interrupted at step {_step}; no output folder, so no checkpoint was written."
            : $"Interrupted at step {_step}; '{_lastPath}' holds the exact position: resume with TrainOptions.ResumeFrom.");
    }

    private void SaveCheckpoints(bool best)
    {
        if (_lastPath is null) return;
        byte[] bytes;
        using (var scope = NewDisposeScope())
        {
            var header = new CheckpointHeader
            {
                Kind = CheckpointHeader.TrainingKind,
                ModelType = _model.GetType().Name,
                Training = StateData(),
            };
            var tensors = Checkpoint.ModelTensors(_model)
                .Concat(_optimizer.StateTensors().Select(t => (Checkpoint.OptimizerPrefix + t.Name, t.Tensor)))
                .Append((Checkpoint.RngName, torch.random.get_rng_state()));
            bytes = Checkpoint.Serialize(header, tensors);
        }
        Checkpoint.WriteAtomically(_lastPath, bytes);
        _lastCheckpoint = _lastPath;
        if (best && _bestPath is not null) Checkpoint.WriteAtomically(_bestPath, bytes);
    }

    private TrainingStateData StateData()
    {
        // Normalise "end of an epoch" to "start of the next", so a resume begins with a fresh epoch.
        bool epochDone = _batchInEpoch >= _batchesPerEpoch;
        var means = _trainMeans.Export();
        return new TrainingStateData
        {
            Step = _step,
            Epoch = epochDone ? _epoch + 1 : _epoch,
            BatchInEpoch = epochDone ? 0 : _batchInEpoch,
            Finished = _finished,
            OptimizerSteps = _optimizer.StepCount,
            Seed = _options.Seed,
            BatchSize = _options.BatchSize,
            AccumulationSteps = Accumulation,
            TrainRows = _train.Count,
            DropLast = _options.DropLast,
            Epochs = _options.Epochs,
            TotalSteps = _totalSteps,
            WarmupSteps = _schedule.WarmupSteps,
            Schedule = _schedule.Kind.ToString(),
            LearningRate = _schedule.BaseLearningRate,
            MinLearningRateRatio = _schedule.MinLearningRateRatio,
            Precision = _compute.ToString(),
            Monitor = _monitor,
            MonitorMode = _lowerIsBetter ? "min" : "max",
            BestValue = _bestValue,
            BestStep = _bestStep,
            EvaluationsWithoutImprovement = _badEvaluations,
            Records = _records.Select(RecordData.From).ToList(),
            RunningMeans = means.Select(m => new MeanData { Name = m.Name, Sum = m.Sum, Weight = m.Weight }).ToList(),
            RunningWeight = _trainMeans.Weight,
            TrainSeconds = _trainSeconds,
            TrainSamples = _trainSamples,
        };
    }

    private void Resume(string from)
    {
        var path = Directory.Exists(from) ? Path.Combine(from, Checkpoint.LastFileName) : from;
        using var file = CheckpointFile.Read(path);
        if (file.Header.Kind != CheckpointHeader.TrainingKind || file.Header.Training is not TrainingStateData state)
            throw new InvalidOperationException(
                $"'{file.Path}' is a model-only checkpoint: it has no optimizer, schedule or position to resume. Load it with Checkpoint.Load and start a new run.");
        file.RequireModelFits(_model);

        var differences = new List<string>();
        void Same<T>(string name, T saved, T now)
        {
            if (!EqualityComparer<T>.Default.Equals(saved, now)) differences.Add($"{name}: checkpoint {saved}, now {now}");
        }
        Same(nameof(TrainOptions.Seed), state.Seed, _options.Seed);
        Same(nameof(TrainOptions.BatchSize), state.BatchSize, _options.BatchSize);
        Same(nameof(TrainOptions.GradientAccumulationSteps), state.AccumulationSteps, Accumulation);
        Same(nameof(TrainOptions.DropLast), state.DropLast, _options.DropLast);
        Same("training rows", state.TrainRows, _train.Count);
        if (differences.Count > 0)
            throw new InvalidOperationException(
                $"Cannot resume from '{file.Path}': the data order would differ ({string.Join("; ", differences)}). " +
                "Resume with the options of the original run, or start a new run without ResumeFrom.");
        if (state.TotalSteps != _totalSteps || state.Schedule != _schedule.Kind.ToString() || state.LearningRate != _schedule.BaseLearningRate)
            _log.WriteLine($"Note: the schedule differs from the checkpoint's ({state.Schedule}, {state.TotalSteps} steps, lr {state.LearningRate}); continuing with the new one from step {state.Step}.");
        if (state.Monitor != _monitor)
            _log.WriteLine($"Note: the checkpoint monitored {state.Monitor}; this run monitors {_monitor}, so the best value starts over.");

        // All or nothing: everything the resume will copy is checked first (model, optimizer, RNG, position),
        // so a checkpoint that does not fit changes nothing and never reaches a native call it could crash.
        var problems = new List<string>();
        using (var current = torch.random.get_rng_state())
            problems.AddRange(file.ResumeProblems(_model, _optimizer.StateTensors(), current));
        if (state.BatchInEpoch > _batchesPerEpoch)
            problems.Add($"its position (batch {state.BatchInEpoch} of epoch {state.Epoch}) lies past this run's {_batchesPerEpoch} batches per epoch");
        if (problems.Count > 0)
            throw new InvalidOperationException(
                $"Cannot resume from '{file.Path}': {string.Join("; ", problems.Take(40))}{(problems.Count > 40 ? $"; and {problems.Count - 40} more" : "")}. " +
                "Nothing was changed. Resume with the model, trainable parameters and options of the original run, or start a new run without ResumeFrom.");

        file.LoadModel(_model, strict: true);
        _optimizer.LoadState(state.OptimizerSteps, file.OptimizerEntries());
        if (file.Tensors.TryGetValue(Checkpoint.RngName, out var rng)) torch.random.set_rng_state(rng);

        _step = state.Step;
        _epoch = state.Epoch;
        _batchInEpoch = state.BatchInEpoch;
        _records.AddRange(state.Records.Select(r => r.ToRecord()));
        if (state.Monitor == _monitor)
        {
            _bestValue = state.BestValue;
            _bestStep = state.BestStep;
            _badEvaluations = state.EvaluationsWithoutImprovement;
        }
        _trainMeans.Import(state.RunningMeans.Select(m => (m.Name, m.Sum, m.Weight)), state.RunningWeight);
        _trainSeconds = state.TrainSeconds;
        _trainSamples = state.TrainSamples;
        _learningRate = _schedule.LearningRateAt(Math.Max(0, _step - 1));
        // A finished run stays finished unless it ran to its end and this run has more steps.
        _finished = state.Finished && (state.Step < state.TotalSteps || _step >= _totalSteps);
        _lastCheckpoint = file.Path;
        _resumedFrom = _step;
        if (_records.Count > 0 && _records[^1].ValidationLoss is double lastLoss)
        {
            var last = _records[^1].ValidationMetrics.ToDictionary(kv => kv.Key, kv => kv.Value);
            last["loss"] = lastLoss;
            _lastValidation = last;
        }
        _log.WriteLine($"Resumed from '{file.Path}' at step {_step} (epoch {_epoch}, batch {_batchInEpoch} of {_batchesPerEpoch}).");
    }

    private TrainReport Report()
    {
        if (_bestValue is null && _records.Count > 0 && _monitor.StartsWith("val_", StringComparison.Ordinal) && _resumedFrom is null)
        {
            var warning = $"Warning (validation): {_monitor} was never finite in {_records.Count} evaluation(s), so no best checkpoint was chosen" +
                          (_bestPath is null ? "." : $" ('{_bestPath}' was not written).");
            _log.WriteLine(warning);
            _warnings.Add(warning);
        }
        string? curves = null;
        if (_options.OutputDirectory is string output && _options.WriteCurves && _records.Count > 0)
        {
            try
            {
                curves = TrainingCurves.Save(_records, Path.Combine(output, TrainingCurves.FileName),
                    $"{_model.GetType().Name}: best {_monitor} {_bestValue?.ToString("G4", CultureInfo.InvariantCulture) ?? "-"} at step {_bestStep}", _bestStep);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _log.WriteLine($"Could not write the training curves ({e.GetType().Name}: {e.Message}); the metrics files have the same numbers.");
            }
        }
        double seconds = _trainSeconds + _trainClock.Elapsed.TotalSeconds;
        return new TrainReport(
            _records.ToList(),
            _lastValidation,
            _lastPath is not null && File.Exists(_lastPath) ? _lastPath : null,
            _metricsLog?.Path,
            _step,
            _clock.Elapsed,
            seconds > 0 ? _trainSamples / seconds : 0,
            _groups.Report)
        {
            Stop = _stop,
            Monitor = _monitor,
            BestValue = _bestValue,
            BestStep = _bestStep,
            BestCheckpointPath = _bestPath is not null && File.Exists(_bestPath) ? _bestPath : null,
            MetricsCsvPath = _metricsLog?.CsvPath,
            CurvesPath = curves,
            ResumedFromStep = _resumedFrom,
            ComputeType = _compute,
            Warnings = _warnings.ToList(),
        };
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
    }
}
