using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using ModelDsl.Weights;
using static TorchSharp.torch;

namespace ModelDsl.Export;

/// <summary>A named input or output of an exported model, with its documented shape (<c>image [B,1,28,28]</c>).</summary>
public sealed record TwinValue(string Name, string Shape);

/// <summary>
/// Writes a model's PyTorch twin (what the generated <c>ExportPyTorch(directory)</c> calls): the twin's source as
/// <c>model.py</c>, the <c>modeldsl_torch</c> blocks it is built from, the model's current parameters and buffers as
/// <c>weights.safetensors</c> (the same names: PyTorch loads them with a strict <c>load_state_dict</c>), and
/// <c>export.json</c> naming the class, its inputs and its outputs. Each file is written whole or not at all.
/// </summary>
public static class PyTorchExport
{
    private const string PackageName = "modeldsl_torch";

    /// <summary>The files of the <c>modeldsl_torch</c> package, as shipped in this assembly.</summary>
    public static IReadOnlyList<string> PackageFiles { get; } = typeof(PyTorchExport).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith(PackageName + "/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Writes the twin of <paramref name="model"/> into <paramref name="directory"/> (created when missing).</summary>
    /// <exception cref="ArgumentException">A name or the source is empty.</exception>
    /// <exception cref="IOException">The directory cannot be created or written; the message names it.</exception>
    public static void Write(nn.Module model, string directory, string className, string source, IReadOnlyList<TwinValue> inputs, IReadOnlyList<TwinValue> outputs)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentException.ThrowIfNullOrWhiteSpace(className);
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);

        var root = Path.GetFullPath(directory);
        if (File.Exists(root))
            throw new IOException($"Cannot export '{className}' to '{root}': it is a file; give a folder (it is created when missing).");
        Directory.CreateDirectory(Path.Combine(root, PackageName));
        foreach (var resource in PackageFiles)
        {
            using var stream = typeof(PyTorchExport).Assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            WriteText(Path.Combine(root, resource.Replace('/', Path.DirectorySeparatorChar)), reader.ReadToEnd());
        }
        WriteText(Path.Combine(root, "model.py"), source.EndsWith('\n') ? source : source + "\n");
        model.SaveSafetensors(Path.Combine(root, "weights.safetensors"));
        var manifest = new
        {
            @class = className,
            module = "model",
            weights = "weights.safetensors",
            inputs = inputs.Select(i => new { name = i.Name, shape = i.Shape }),
            outputs = outputs.Select(o => new { name = o.Name, shape = o.Shape }),
        };
        WriteText(Path.Combine(root, "export.json"), JsonSerializer.Serialize(manifest, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>
    /// Adds what <c>train.py</c> needs to an export (after <c>ExportPyTorch(directory)</c>): <c>train.json</c> (the options,
    /// the model's no-weight-decay names), <c>data.safetensors</c> (the columns of <paramref name="train"/> and
    /// <paramref name="validation"/> as <c>train.NAME</c> / <c>val.NAME</c>) and <c>train.py</c>, which runs
    /// <c>modeldsl_torch.training</c> alone or under <c>torchrun --nproc_per_node=N train.py</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The folder has no exported twin, or the twin has no training_step (its loss has no twin yet).</exception>
    public static void WriteTraining<TBatch>(string directory, Training.TrainableModule<TBatch> model, Data.TensorDataset train, Data.TensorDataset? validation, Training.TrainOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        var root = Path.GetFullPath(directory);
        var twin = Path.Combine(root, "model.py");
        if (!File.Exists(twin))
            throw new InvalidOperationException($"'{root}' has no exported twin (model.py): call ExportPyTorch(\"{directory}\") first.");
        if (!File.ReadAllText(twin).Contains("def training_step(", StringComparison.Ordinal))
            throw new InvalidOperationException($"The twin in '{twin}' has no training_step: its model's loss has no PyTorch twin yet (docs/pytorch.md lists the kinds that do).");
        if (options.GradientAccumulationSteps != 1 || options.MaxStepsPerEpoch is not null || options.DropLast || options.Precision == Training.Precision.BFloat16)
            throw new NotSupportedException("train.py follows the recipe in fp32 without gradient accumulation, MaxStepsPerEpoch or DropLast; leave GradientAccumulationSteps, MaxStepsPerEpoch, DropLast and Precision at their defaults for an export.");

        var config = new
        {
            data = "data.safetensors",
            epochs = options.Epochs,
            batch_size = options.BatchSize,
            learning_rate = options.LearningRate,
            weight_decay = options.WeightDecay,
            betas = new[] { options.Betas.Beta1, options.Betas.Beta2 },
            epsilon = options.Epsilon,
            warmup_steps = options.WarmupSteps,
            warmup_fraction = options.WarmupFraction,
            min_lr_ratio = options.MinLearningRateRatio,
            schedule = options.Schedule.ToString(),
            gradient_clip_norm = options.GradientClipNorm,
            seed = options.Seed,
            lr_scales = options.LearningRateScales,
            no_weight_decay = model.NoWeightDecayNames,
        };
        WriteText(Path.Combine(root, "train.json"), JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        var columns = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var name in train.Names)
            columns["train." + name] = train[name].cpu();
        if (validation is not null)
            foreach (var name in validation.Names)
                columns["val." + name] = validation[name].cpu();
        AtomicFile.Write(Path.Combine(root, "data.safetensors"), stream => TorchSharp.PyBridge.Safetensors.SaveStateDict(stream, columns, leaveOpen: true));
        WriteText(Path.Combine(root, "train.py"), TrainScript);
    }

    private const string TrainScript = """
        # <auto-generated/> by ModelDsl: trains the exported twin with ModelDsl's recipe (modeldsl_torch/training.py).
        #   python train.py                               one process
        #   torchrun --nproc_per_node=2 train.py          DDP (gloo on CPUs, NCCL on GPUs); the same steps for the same global batch
        #   python -m modeldsl_torch.torchrun --nproc_per_node=2 train.py    the same, where torchrun itself fails
        #                                                 (PyTorch 1.13 on Python 3.11, as Debian 12 ships it)
        import os
        import sys

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

        from modeldsl_torch.training import main

        if __name__ == "__main__":
            sys.exit(main())

        """;

    private static void WriteText(string path, string text) =>
        AtomicFile.Write(path, stream => stream.Write(new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text.Replace("\r\n", "\n"))));
}
