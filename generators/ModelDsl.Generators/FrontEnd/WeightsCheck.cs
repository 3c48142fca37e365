using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis.Text;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.FrontEnd;

/// <summary>
/// Holds a <c>[PretrainedWeights]</c> file's header against the parameters the declaration will
/// have: every parameter it lacks or has with another shape or an element type the runtime cannot
/// read, and every tensor it has that the model lacks, is an error at the attribute, as the strict
/// load of <c>LoadPretrainedWeights()</c> would refuse them. <c>Exclude</c> names (a new head) are
/// left out on both sides; <c>Prefix</c> narrows the file to a sub-model. At most
/// <see cref="MaxReported"/> differences are reported one by one, then one diagnostic counts the rest.
/// </summary>
public static class WeightsCheck
{
    /// <summary>The build-time limit on a header's size, unless the project sets <c>ModelDslMaxWeightsHeaderBytes</c>.</summary>
    public const long DefaultMaxHeaderBytes = 16_000_000;

    /// <summary>How many differences are reported one by one.</summary>
    public const int MaxReported = 20;

    /// <summary>
    /// The first line of a header file the build extracted (build/ModelDsl.targets):
    /// <c>// modeldsl-weights-header data-bytes=D</c> then the JSON, or <c>... too-large header-bytes=N limit=L</c>,
    /// or <c>... unreadable: reason</c>.
    /// </summary>
    public const string ExtractedMarker = "// modeldsl-weights-header";

    /// <summary>A header file read once: the header, or why not. Cached by content.</summary>
    public sealed class ParsedHeader
    {
        internal ParsedHeader(SafetensorsHeader? header, string? error, long? tooLarge, long limit)
        {
            Header = header;
            Error = error;
            TooLargeBytes = tooLarge;
            Limit = limit;
        }

        public SafetensorsHeader? Header { get; }

        public string? Error { get; }

        /// <summary>The header's size when it is above <see cref="Limit"/> (not parsed).</summary>
        public long? TooLargeBytes { get; }

        public long Limit { get; }
    }

    public static ImmutableArray<ModelDiagnostic> Check(ModelGraph graph, string headerText) =>
        Check(graph, Parse(headerText, DefaultMaxHeaderBytes));

    public static ImmutableArray<ModelDiagnostic> Check(ModelGraph graph, ParsedHeader parsed)
    {
        var weights = graph.Spec.Weights!;
        if (parsed.TooLargeBytes is { } size)
            return [Diagnostic(Descriptors.WeightsHeaderTooLarge, weights.Path, size.ToString(CultureInfo.InvariantCulture), parsed.Limit.ToString(CultureInfo.InvariantCulture), graph.Spec.ClassName)];
        if (parsed.Header is not { } header)
            return [Diagnostic(Descriptors.WeightsUnreadable, weights.Path, parsed.Error ?? "malformed header")];

        bool Excluded(string name) => weights.Exclude.Any(e => name == e || name.StartsWith(e + ".", StringComparison.Ordinal));
        var expected = ParameterTable.Of(graph).Where(p => !Excluded(p.Name)).ToList();
        var details = new List<string>();
        var counts = new int[4];
        foreach (var difference in ParameterTable.Compare(expected, header, weights.Prefix, ParameterTable.OpaquePrefixes(graph), ParameterTable.FileNameMap(graph)))
        {
            if (Excluded(difference.Name)) continue;
            counts[(int)difference.Kind]++;
            if (details.Count <= MaxReported) details.Add(SafetensorsHeader.Escape(difference.ToString()));
        }
        // Tensors the load would take, in an element type the runtime cannot read.
        foreach (var (name, _) in expected)
        {
            if (header.Find((weights.Prefix ?? "") + name) is { } entry && !RuntimeReadable(entry.DType))
            {
                counts[3]++;
                if (details.Count <= MaxReported)
                    details.Add($"{SafetensorsHeader.Escape(name)}: stored as {SafetensorsHeader.Escape(entry.DType)}, an element type the runtime cannot read (convert the file, e.g. to F32)");
            }
        }
        var total = counts.Sum();
        var diagnostics = details.Take(MaxReported)
            .Select(d => Diagnostic(Descriptors.WeightsMismatch, weights.Path, graph.Spec.ClassName, d))
            .ToList();
        if (total > MaxReported)
        {
            diagnostics.Add(Diagnostic(Descriptors.WeightsMismatch, weights.Path, graph.Spec.ClassName,
                $"and {total - MaxReported} more differences ({counts[(int)ParameterDifferenceKind.Missing]} missing, " +
                $"{counts[(int)ParameterDifferenceKind.ShapeMismatch]} with another shape, {counts[(int)ParameterDifferenceKind.Unexpected]} unexpected, " +
                $"{counts[3]} in unreadable element types in all); the first {MaxReported} are reported above"));
        }
        return diagnostics.ToImmutableArray();
    }

    /// <summary>The element types the runtime loads (ModelDsl.Weights).</summary>
    public static bool RuntimeReadable(string dtype) =>
        dtype is "F64" or "F32" or "F16" or "BF16" or "I64" or "I32" or "I16" or "I8" or "U8" or "BOOL";

    /// <summary>
    /// Reads a header file: one the build extracted (its first line says how many data bytes the file has, or
    /// that the header was too large or unreadable), a checked-in <c>.safetensors.json</c>, or a whole file
    /// decoded as text. Text longer than <paramref name="limit"/> is not parsed.
    /// </summary>
    public static ParsedHeader Parse(string text, long limit)
    {
        if (text.StartsWith(ExtractedMarker, StringComparison.Ordinal))
        {
            var newline = text.IndexOf('\n');
            var line = newline < 0 ? text : text.Substring(0, newline);
            var fields = line.Substring(ExtractedMarker.Length).Trim();
            if (fields.StartsWith("unreadable:", StringComparison.Ordinal))
                return new ParsedHeader(null, SafetensorsHeader.Escape(fields.Substring("unreadable:".Length).Trim()), null, limit);
            var values = fields.Split(' ').Select(f => f.Split('=')).Where(f => f.Length == 2)
                .ToDictionary(f => f[0], f => long.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1L);
            if (fields.StartsWith("too-large", StringComparison.Ordinal))
                return new ParsedHeader(null, null, values.TryGetValue("header-bytes", out var n) ? n : -1,
                    values.TryGetValue("limit", out var l) ? l : limit);
            var json = newline < 0 ? "" : text.Substring(newline + 1);
            if (json.Length > limit) return new ParsedHeader(null, null, json.Length, limit);
            long? dataLength = values.TryGetValue("data-bytes", out var d) && d >= 0 ? d : null;
            return SafetensorsHeader.TryParseJson(json, dataLength, out var header, out var error)
                ? new ParsedHeader(header, null, null, limit)
                : new ParsedHeader(null, error, null, limit);
        }
        if (text.Length > limit) return new ParsedHeader(null, null, text.Length, limit);
        return SafetensorsHeader.FromText(text, out var parsed, out var textError)
            ? new ParsedHeader(parsed, null, null, limit)
            : new ParsedHeader(null, textError, null, limit);
    }

    // Parsed headers by content hash: an editor's analysis pass, or every [Model] naming the same file, parses
    // it once. Bounded by total text size, so a build server does not keep old headers forever.
    private static readonly object CacheLock = new();
    private static readonly Dictionary<string, (ParsedHeader Parsed, long Size)> Cache = new(StringComparer.Ordinal);
    private static readonly LinkedList<string> CacheOrder = new();
    private static long cachedSize;
    private const long MaxCachedSize = 64_000_000;

    /// <summary><see cref="Parse"/>, cached by the text's content hash (and the limit).</summary>
    public static ParsedHeader ParseCached(SourceText text, long limit)
    {
        var key = Convert.ToBase64String(text.GetContentHash().ToArray()) + "/" + text.Length.ToString(CultureInfo.InvariantCulture) + "/" + limit.ToString(CultureInfo.InvariantCulture);
        lock (CacheLock)
        {
            if (Cache.TryGetValue(key, out var hit))
            {
                CacheOrder.Remove(key);
                CacheOrder.AddFirst(key);
                return hit.Parsed;
            }
        }
        // Past the limit, only the first line (the build's marker) is needed.
        ParsedHeader parsed;
        if (text.Length > limit + 4096)
        {
            var head = text.ToString(new TextSpan(0, Math.Min(text.Length, 4096)));
            parsed = head.StartsWith(ExtractedMarker, StringComparison.Ordinal) && !head.Contains("data-bytes=")
                ? Parse(head, limit)
                : new ParsedHeader(null, null, text.Length, limit);
        }
        else
            parsed = Parse(text.ToString(), limit);
        lock (CacheLock)
        {
            if (!Cache.ContainsKey(key))
            {
                Cache[key] = (parsed, text.Length);
                CacheOrder.AddFirst(key);
                cachedSize += text.Length;
                while (cachedSize > MaxCachedSize && CacheOrder.Count > 1)
                {
                    var last = CacheOrder.Last!.Value;
                    CacheOrder.RemoveLast();
                    cachedSize -= Cache[last].Size;
                    Cache.Remove(last);
                }
            }
        }
        return parsed;
    }

    public static ModelDiagnostic NotChecked(ModelGraph graph) =>
        Diagnostic(Descriptors.WeightsNotChecked, graph.Spec.Weights!.Path, graph.Spec.ClassName);

    /// <summary>Project-relative paths compare equal whatever the separators: <c>.\w\a.st</c> = <c>w/a.st</c>.</summary>
    public static string Normalize(string path)
    {
        var text = path.Replace('\\', '/');
        while (text.StartsWith("./", System.StringComparison.Ordinal))
            text = text.Substring(2);
        return text;
    }

    private static ModelDiagnostic Diagnostic(Microsoft.CodeAnalysis.DiagnosticDescriptor descriptor, params string[] arguments) =>
        new(descriptor, DiagnosticTarget.Weights, arguments.ToEquatableArray(), ImmutableDictionary<string, string?>.Empty);
}
