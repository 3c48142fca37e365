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

    private static void WriteText(string path, string text) =>
        AtomicFile.Write(path, stream => stream.Write(new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text.Replace("\r\n", "\n"))));
}
