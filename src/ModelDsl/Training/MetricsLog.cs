using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json;

namespace ModelDsl.Training;

/// <summary>
/// A JSON-lines metrics file: one object per epoch with <c>epoch</c>, <c>step</c>,
/// <c>train_loss</c>, <c>train_&lt;metric&gt;</c>, <c>val_loss</c>, <c>val_&lt;metric&gt;</c>, <c>lr</c>,
/// <c>seconds</c> and <c>samples_per_second</c>. Non-finite numbers are written as <c>null</c>.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    /// <summary>The file name the trainer uses.</summary>
    public const string FileName = "metrics.jsonl";

    private readonly StreamWriter _writer;

    /// <summary>Creates (or truncates) the file at <paramref name="path"/>.</summary>
    public MetricsLog(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _writer = new StreamWriter(new FileStream(Path, FileMode.Create, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
    }

    /// <summary>The full path of the file.</summary>
    public string Path { get; }

    /// <summary>Appends one line and flushes it, so the file can be followed while training runs.</summary>
    public void Write(EpochRecord record)
    {
        _writer.Write(Format(record));
        _writer.Write('\n');
        _writer.Flush();
    }

    /// <summary>The JSON line of <paramref name="record"/> (without the newline).</summary>
    public static string Format(EpochRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("epoch", record.Epoch);
            json.WriteNumber("step", record.Step);
            Number(json, "train_loss", record.TrainLoss);
            foreach (var (name, value) in record.TrainMetrics) Number(json, "train_" + name, value);
            if (record.ValidationLoss is double valLoss) Number(json, "val_loss", valLoss);
            foreach (var (name, value) in record.ValidationMetrics) Number(json, "val_" + name, value);
            Number(json, "lr", record.LearningRate);
            Number(json, "seconds", Math.Round(record.Seconds, 3));
            Number(json, "samples_per_second", Math.Round(record.SamplesPerSecond, 1));
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Number(Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value)) json.WriteNumber(name, value);
        else json.WriteNull(name);
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _writer.Dispose();
}
