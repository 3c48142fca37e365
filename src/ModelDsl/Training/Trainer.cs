using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using ModelDsl.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>
/// The training loop: AdamW with weight-decay groups, linear warmup + cosine decay, gradient
/// clipping, a dispose scope per step, evaluation each epoch, a JSON-lines metrics log, an
/// atomically written checkpoint after each epoch, and a stop on a NaN or infinite loss.
/// </summary>
/// <remarks>
/// The loop never waits for the device inside a step: the loss, the metrics and the non-finite
/// check accumulate on the device and are read every <see cref="TrainOptions.SyncEveryNSteps"/>
/// steps and at the end of each epoch.
/// </remarks>
public static class Trainer
{
    /// <summary>Trains <paramref name="model"/> on <paramref name="train"/>, validating on <paramref name="validation"/> after each epoch.</summary>
    /// <exception cref="NonFiniteLossException">The training loss became NaN or infinite.</exception>
    /// <exception cref="ArgumentException">An invalid option, or a dataset smaller than one batch with <see cref="TrainOptions.DropLast"/>.</exception>
    /// <exception cref="InvalidOperationException">Nothing in the model is trainable.</exception>
    public static TrainReport Fit<TBatch>(TrainableModule<TBatch> model, TensorDataset train, TensorDataset? validation, TrainOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        options ??= new TrainOptions();
        options.Validate();
        var log = options.Log ?? Console.Out;
        var device = options.Device ?? Devices.Default;
        var clock = Stopwatch.StartNew();

        torch.manual_seed(options.Seed);
        if (device.type == DeviceType.CUDA) cuda.manual_seed_all(options.Seed);

        // Move first: Module.to replaces the parameters, and the optimizer must hold the moved ones.
        model.to(device);
        var groups = ParameterGroups.Create(model, model.NoWeightDecayNames, options.WeightDecay);
        log.WriteLine(groups.Report.Format());
        using var optimizer = groups.CreateAdamW(options.LearningRate, options.Betas, options.Epsilon);
        var trainable = groups.Trainable.ToArray();

        TensorDataset? ownedTrain = null, ownedValidation = null;
        try
        {
            if (options.PreloadToDevice && !train.Device.IsSameAs(device)) train = ownedTrain = train.To(device);
            if (options.PreloadToDevice && validation is not null && !validation.Device.IsSameAs(device))
                validation = ownedValidation = validation.To(device);

            var loader = new DataLoader(train, options.BatchSize, device, shuffle: true, seed: options.Seed, dropLast: options.DropLast);
            if (loader.BatchesPerEpoch == 0)
                throw new ArgumentException(
                    $"The training set has {train.Count} rows, fewer than one batch of {options.BatchSize} with DropLast; lower BatchSize or turn DropLast off.",
                    nameof(train));
            long stepsPerEpoch = Math.Min(loader.BatchesPerEpoch, options.MaxStepsPerEpoch ?? long.MaxValue);
            long totalSteps = stepsPerEpoch * options.Epochs;
            long warmup = Math.Min(totalSteps, options.WarmupSteps ?? (long)Math.Round(options.WarmupFraction * totalSteps));
            var schedule = new WarmupCosineSchedule(options.LearningRate, totalSteps, warmup, options.MinLearningRateRatio);

            string? checkpointPath = null;   // set once a checkpoint exists
            string? plannedCheckpoint = options.OutputDirectory is null ? null : Path.GetFullPath(Path.Combine(options.OutputDirectory, Checkpoint.LastFileName));
            using var metricsLog = options.OutputDirectory is null ? null : new MetricsLog(Path.Combine(options.OutputDirectory, MetricsLog.FileName));
            var progress = TrainingProgress.Create(options.ShowProgress);
            using var trainMeans = new DeviceMeans(device);
            using var watch = new NonFiniteWatch(device);

            var records = new List<EpochRecord>();
            IReadOnlyDictionary<string, double> lastValidation = new Dictionary<string, double>();
            long step = 0;
            long trainSamples = 0;
            double trainSeconds = 0;
            double learningRate = schedule.LearningRateAt(0);

            for (int epoch = 1; epoch <= options.Epochs; epoch++)
            {
                var epochClock = Stopwatch.StartNew();
                model.train();
                trainMeans.Reset();
                long epochStartStep = step;

                void CheckFinite()
                {
                    if (watch.Read() is not (long badStep, double badLoss)) return;
                    long batch = badStep - (badStep - 1) / stepsPerEpoch * stepsPerEpoch;
                    int badEpoch = (int)((badStep - 1) / stepsPerEpoch) + 1;
                    throw new NonFiniteLossException(badStep, badEpoch, batch, badLoss, checkpointPath);
                }

                progress.RunEpoch(epoch, options.Epochs, stepsPerEpoch, reporter =>
                {
                    foreach (var named in loader.Epoch(epoch - 1, maxBatches: stepsPerEpoch))
                    {
                        using (var scope = NewDisposeScope())
                        using (named)
                        {
                            learningRate = schedule.Apply(optimizer, step);
                            var batch = model.CreateBatch(named);
                            optimizer.zero_grad();
                            var output = model.TrainingStep(batch);
                            RequireScalar(output, nameof(model.TrainingStep));
                            output.Loss.backward();
                            if (options.GradientClipNorm is double maxNorm) GradientClipping.ClipGradNorm(trainable, maxNorm);
                            optimizer.step();
                            step++;
                            watch.Observe(output.Loss, step);
                            trainMeans.Add(named.Size, output.Metrics.Prepend(new KeyValuePair<string, Tensor>("loss", output.Loss)));
                        }
                        reporter.Advance();
                        if ((step - epochStartStep) % options.SyncEveryNSteps == 0)
                        {
                            CheckFinite();
                            double seconds = epochClock.Elapsed.TotalSeconds;
                            reporter.Update(trainMeans.Read("loss"), learningRate, seconds > 0 ? trainMeans.Weight / seconds : 0);
                        }
                    }
                    CheckFinite();
                });

                var trainStats = trainMeans.Read();
                double epochTrainSeconds = epochClock.Elapsed.TotalSeconds;
                trainSeconds += epochTrainSeconds;
                trainSamples += trainMeans.Weight;

                IReadOnlyDictionary<string, double> validationStats = new Dictionary<string, double>();
                if (validation is not null)
                {
                    validationStats = EvaluateOn(model, validation, options.EvalBatchSize ?? 2 * options.BatchSize, device);
                    lastValidation = validationStats;
                }

                var record = new EpochRecord(
                    epoch,
                    step,
                    trainStats.GetValueOrDefault("loss", double.NaN),
                    trainStats.Where(kv => kv.Key != "loss").ToDictionary(kv => kv.Key, kv => kv.Value),
                    validation is null ? null : validationStats.GetValueOrDefault("loss", double.NaN),
                    validationStats.Where(kv => kv.Key != "loss").ToDictionary(kv => kv.Key, kv => kv.Value),
                    learningRate,
                    epochClock.Elapsed.TotalSeconds,
                    epochTrainSeconds > 0 ? trainMeans.Weight / epochTrainSeconds : 0);
                records.Add(record);
                metricsLog?.Write(record);
                log.WriteLine(MetricsLog.Format(record));

                if (plannedCheckpoint is not null)
                {
                    Checkpoint.Save(model, plannedCheckpoint);
                    checkpointPath = plannedCheckpoint;
                }
            }

            return new TrainReport(
                records,
                lastValidation,
                checkpointPath,
                metricsLog?.Path,
                step,
                clock.Elapsed,
                trainSeconds > 0 ? trainSamples / trainSeconds : 0,
                groups.Report);
        }
        finally
        {
            ownedTrain?.Dispose();
            ownedValidation?.Dispose();
        }
    }

    /// <summary>
    /// The sample-weighted mean <c>loss</c> and metrics of <see cref="TrainableModule{TBatch}.ValidationStep"/>
    /// over <paramref name="data"/>, in eval mode under <c>no_grad</c>, on <see cref="TrainOptions.Device"/>
    /// (the model is moved there), or on the device the model's parameters are on when that is null.
    /// </summary>
    public static IReadOnlyDictionary<string, double> Evaluate<TBatch>(TrainableModule<TBatch> model, TensorDataset data, TrainOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        options ??= new TrainOptions();
        options.Validate();
        var device = options.Device ?? model.parameters().FirstOrDefault()?.device ?? Devices.Default;
        model.to(device);
        return EvaluateOn(model, data, options.EvalBatchSize ?? 2 * options.BatchSize, device);
    }

    private static IReadOnlyDictionary<string, double> EvaluateOn<TBatch>(TrainableModule<TBatch> model, TensorDataset data, int batchSize, Device device)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var means = new DeviceMeans(device);
            var loader = new DataLoader(data, batchSize, device, shuffle: false);
            foreach (var named in loader.Epoch(0))
            {
                using var scope = NewDisposeScope();
                using (named)
                {
                    var output = model.ValidationStep(model.CreateBatch(named));
                    RequireScalar(output, nameof(model.ValidationStep));
                    means.Add(named.Size, output.Metrics.Prepend(new KeyValuePair<string, Tensor>("loss", output.Loss)));
                }
            }
            return means.Read();
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    private static void RequireScalar(StepOutput output, string stepName)
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
    }
}
