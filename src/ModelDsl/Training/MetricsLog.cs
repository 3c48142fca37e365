using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace ModelDsl.Training;

/// <summary>
/// The metrics files: <c>metrics.jsonl</c>, one JSON object per evaluation with <c>epoch</c>,
/// <c>step</c>, <c>train_loss</c>, <c>train_&lt;metric&gt;</c>, <c>val_loss</c>, <c>val_&lt;metric&gt;</c>,
/// <c>lr</c>, <c>seconds</c> and <c>samples_per_second</c> (non-finite numbers as <c>null</c>; a non-finite validation value also gets a line in <c>warnings</c>); and,
/// when asked, <c>metrics.csv</c> with the same columns (non-finite numbers as empty cells), its header
/// taken from the first record. Each line is flushed as it is written, so the files can be followed.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    /// <summary>The JSON-lines file name the trainer uses.</summary>
    public const string FileName = "metrics.jsonl";

    /// <summary>The CSV file name the trainer uses.</summary>
    public const string CsvFileName = "metrics.csv";

    private readonly StreamWriter _writer;
    private readonly StreamWriter? _csv;
    private string[]? _columns;

    /// <summary>Creates (or truncates) the JSON-lines file at <paramref name="path"/>.</summary>
    public MetricsLog(string path) : this(path, csvPath: null) { }

    /// <summary>Creates (or truncates) the JSON-lines file at <paramref name="path"/> and, unless null, the CSV file at <paramref name="csvPath"/>.</summary>
    public MetricsLog(string path, string? csvPath)
    {
        Path = System.IO.Path.GetFullPath(path);
        _writer = Open(Path);
        if (csvPath is not null)
        {
            CsvPath = System.IO.Path.GetFullPath(csvPath);
            _csv = Open(CsvPath);
        }
    }

    private static StreamWriter Open(string path)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        return new StreamWriter(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
    }

    /// <summary>The full path of the JSON-lines file.</summary>
    public string Path { get; }

    /// <summary>The full path of the CSV file, or null.</summary>
    public string? CsvPath { get; }

    /// <summary>Appends one line to each file and flushes them.</summary>
    public void Write(EpochRecord record)
    {
        _writer.Write(Format(record));
        _writer.Write('\n');
        _writer.Flush();
        if (_csv is null) return;
        var values = Values(record);
        if (_columns is null)
        {
            _columns = values.Select(v => v.Name).ToArray();
            _csv.Write(string.Join(",", _columns));
            _csv.Write('\n');
        }
        var byName = values.ToDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal);
        _csv.Write(string.Join(",", _columns.Select(c => byName.TryGetValue(c, out var v) && double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "")));
        _csv.Write('\n');
        _csv.Flush();
    }

    /// <summary>The columns of a record in file order: epoch, step, train_*, val_*, lr, seconds, samples_per_second.</summary>
    public static IReadOnlyList<(string Name, double Value)> Values(EpochRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var values = new List<(string, double)> { ("epoch", record.Epoch), ("step", record.Step), ("train_loss", record.TrainLoss) };
        foreach (var (name, value) in record.TrainMetrics) values.Add(("train_" + name, value));
        if (record.ValidationLoss is double valLoss) values.Add(("val_loss", valLoss));
        foreach (var (name, value) in record.ValidationMetrics) values.Add(("val_" + name, value));
        values.Add(("lr", record.LearningRate));
        values.Add(("seconds", Math.Round(record.Seconds, 3)));
        values.Add(("samples_per_second", Math.Round(record.SamplesPerSecond, 1)));
        return values;
    }

    /// <summary>The value of a logged column (<c>val_loss</c>, <c>train_accuracy</c>, ...), or null when the record has none.</summary>
    public static double? Lookup(EpochRecord record, string column)
    {
        foreach (var (name, value) in Values(record))
        {
            if (name == column) return value;
        }
        return null;
    }

    /// <summary>The JSON line of <paramref name="record"/> (without the newline).</summary>
    public static string Format(EpochRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var (name, value) in Values(record))
            {
                if (name is "epoch" or "step") json.WriteNumber(name, (long)value);
                else if (double.IsFinite(value)) json.WriteNumber(name, value);
                else json.WriteNull(name);
            }
            if (record.Warnings.Count > 0)
            {
                json.WriteStartArray("warnings");
                foreach (var warning in record.Warnings) json.WriteStringValue(warning);
                json.WriteEndArray();
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Closes the files.</summary>
    public void Dispose()
    {
        _writer.Dispose();
        _csv?.Dispose();
    }
}
