using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Tests.Infrastructure;
using Xunit;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// Safetensors headers as untrusted input to the compiler and the IDE: the generator's reader is as strict as
/// the reference implementation (offsets contiguous, non-overlapping, covering the data exactly; no repeated key
/// at any level; valid Unicode), diagnostics are bounded and escaped, headers past the build-time limit are
/// MD0043, parsed headers are cached by content, and the build keeps same-named files apart.
/// </summary>
public class HostileHeaderTests
{
    private const string Declaration = """
        using ModelDsl;
        using ModelDsl.Blocks;
        using TorchSharp.Modules;
        using Tensor = TorchSharp.torch.Tensor;

        [Model]
        [PretrainedWeights("weights/backbone.safetensors")]
        public partial class Small
        {
            public partial SmallOutput Forward([Shape("B,1,28,28")] Tensor image);

            [PatchEmbedding(PatchSize = 7, Dim = 32)] public partial PatchEmbedding Patches { get; }
            [ClsToken] public partial Parameter Cls { get; }
            [TransformerEncoder(Depth = 1, Heads = 4)] public partial ModelDsl.Blocks.TransformerEncoder Encoder { get; }
            [ClassifierHead(Classes = 5)] public partial ClassifierHead Head { get; }
        }
        """;

    private static string Entry(string name, string dtype, long[] shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{begin},{end}]}}";

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", "overlaps the tensor before it")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "overlaps the tensor before it")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", "leaving a gap after byte 0")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", "'dtype' appears twice in one object")]
    [InlineData("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", "'k' appears twice in one object")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":{\"y\":1,\"y\":2}}}", "'y' appears twice in one object")]
    [InlineData("{\"a\\ud800\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "lone surrogate")]
    [InlineData("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", "unknown dtype 'Q7'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", "too large to address")]
    public void Headers_the_reference_implementation_refuses_are_refused(string json, string reason)
    {
        Assert.False(SafetensorsHeader.TryParse(json, out var header, out var error));
        Assert.Null(header);
        Assert.Contains(reason, error);
    }

    [Fact]
    public void The_data_length_must_be_exactly_what_the_offsets_cover()
    {
        var json = "{" + Entry("a", "F32", [2], 0, 8) + "}";
        Assert.True(SafetensorsHeader.TryParseJson(json, 8, out _, out var error), error);
        Assert.False(SafetensorsHeader.TryParseJson(json, 12, out _, out error));
        Assert.Contains("4 trailing bytes that no tensor owns", error);
        Assert.False(SafetensorsHeader.TryParseJson(json, 4, out _, out error));
        Assert.Contains("truncated", error);

        // A whole file in bytes: trailing data after the last tensor is refused, as by safetensors itself.
        var bytes = Encoding.UTF8.GetBytes(json);
        byte[] File(int data) => [.. BitConverter.GetBytes((ulong)bytes.Length), .. bytes, .. new byte[data]];
        Assert.True(SafetensorsHeader.TryRead(File(8), out _, out error), error);
        Assert.False(SafetensorsHeader.TryRead(File(9), out _, out error));
        Assert.Contains("trailing", error);
        using var stream = new MemoryStream(File(7));
        Assert.False(SafetensorsHeader.TryRead(stream, out _, out error));
        Assert.Contains("truncated", error);
    }

    [Fact]
    public void Deep_nesting_is_an_error_not_a_stack_overflow()
    {
        var json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":" + new string('[', 100_000) + new string(']', 100_000) + "}}";
        Assert.False(SafetensorsHeader.TryParse(json, out _, out var error));
        Assert.Contains("nesting deeper than", error);
    }

    [Fact]
    public void The_extracted_header_carries_the_file_length_so_a_truncated_or_padded_file_fails_the_build()
    {
        var json = "{" + Entry("cls_token", "F32", [1, 1, 32], 0, 128) + "}";
        var truncated = Analyze(WeightsCheck.ExtractedMarker + " data-bytes=100\n" + json);
        var diagnostic = Assert.Single(truncated, d => d.Id.StartsWith("MD00", StringComparison.Ordinal) && d.Id != "MD0022");
        Assert.Equal("MD0023", diagnostic.Id);
        Assert.Contains("truncated", diagnostic.GetMessage());

        var padded = Analyze(WeightsCheck.ExtractedMarker + " data-bytes=200\n" + json);
        Assert.Contains(padded, d => d.Id == "MD0023" && d.GetMessage().Contains("72 trailing bytes"));

        var unreadable = Analyze(WeightsCheck.ExtractedMarker + " unreadable: the header is not valid UTF-8\n");
        Assert.Contains(unreadable, d => d.Id == "MD0023" && d.GetMessage().Contains("not valid UTF-8"));
    }

    [Fact]
    public void A_header_past_the_limit_is_one_MD0043_at_the_attribute()
    {
        var run = Analyze(WeightsCheck.ExtractedMarker + " too-large header-bytes=104857600 limit=16000000\n");
        var diagnostic = Assert.Single(run, d => d.Id.StartsWith("MD00", StringComparison.Ordinal));
        Assert.Equal("MD0043", diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Contains("104857600 bytes, above the build-time limit of 16000000", diagnostic.GetMessage());
        Assert.Contains("ModelDslMaxWeightsHeaderBytes", diagnostic.GetMessage());
        Assert.Equal("\"weights/backbone.safetensors\"", diagnostic.Location.SourceTree!.GetText().ToString(diagnostic.Location.SourceSpan));

        // A checked-in header (no build marker) past the project's limit is not parsed either.
        var text = "{" + string.Join(",", Enumerable.Range(0, 200).Select(i => Entry("t" + i, "F32", [1], i * 4, i * 4 + 4))) + "}";
        var limited = Analyze(text, limit: "1000");
        Assert.Equal("MD0043", Assert.Single(limited, d => d.Id.StartsWith("MD00", StringComparison.Ordinal)).Id);
        // The passing case: the same header under the default limit is parsed (and does not fit this model).
        Assert.DoesNotContain(Analyze(text), d => d.Id == "MD0043");
    }

    [Fact]
    public void A_header_of_a_hundred_thousand_strangers_gives_a_bounded_number_of_diagnostics_quickly()
    {
        var json = new StringBuilder("{");
        for (var i = 0; i < 100_000; i++)
        {
            if (i > 0) json.Append(',');
            json.Append(Entry($"junk.{i}.\\u0007\\u202Eevil", "F32", [1], i * 4L, i * 4L + 4));   // JSON escapes: a bell and a right-to-left override
        }
        json.Append('}');
        var watch = Stopwatch.StartNew();
        var run = Analyze(WeightsCheck.ExtractedMarker + " data-bytes=400000\n" + json);
        watch.Stop();

        var mismatches = run.Where(d => d.Id == "MD0021").ToList();
        Assert.Equal(WeightsCheck.MaxReported + 1, mismatches.Count);
        var last = mismatches[^1].GetMessage();
        Assert.Contains("more differences", last);
        Assert.Contains("100000 unexpected", last);
        // Names are escaped: no bell or right-to-left override reaches the message.
        Assert.All(mismatches, d => Assert.DoesNotContain('\u0007', d.GetMessage()));
        Assert.All(mismatches, d => Assert.DoesNotContain('\u202E', d.GetMessage()));
        Assert.Contains(mismatches, d => d.GetMessage().Contains("\\u0007\\u202Eevil"));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"{watch.Elapsed.TotalSeconds:F1} s for the analysis");
    }

    [Fact]
    public void A_dtype_the_runtime_cannot_read_is_reported_for_a_tensor_the_load_would_take()
    {
        var table = ParameterTable.Of(Graph()).ToList();
        var json = new StringBuilder("{");
        long offset = 0;
        foreach (var (name, shape) in table)
        {
            var dtype = name == "cls_token" ? "U16" : "F32";
            var bytes = shape.Aggregate(dtype == "U16" ? 2L : 4L, (a, d) => a * d);
            if (offset > 0) json.Append(',');
            json.Append(Entry(name, dtype, shape, offset, offset + bytes));
            offset += bytes;
        }
        json.Append('}');

        var diagnostic = Assert.Single(Analyze(json.ToString()), d => d.Id == "MD0021");
        Assert.Contains("cls_token: stored as U16, an element type the runtime cannot read", diagnostic.GetMessage());
    }

    [Fact]
    public void Five_thousand_mutants_of_a_header_are_checked_without_an_exception()
    {
        var graph = Graph();
        var table = ParameterTable.Of(graph).ToList();
        var json = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long offset = 0;
        foreach (var (name, shape) in table)
        {
            var bytes = shape.Aggregate(4L, (a, d) => a * d);
            json.Append(',').Append(Entry(name, "F32", shape, offset, offset + bytes));
            offset += bytes;
        }
        var text = WeightsCheck.ExtractedMarker + $" data-bytes={offset}\n" + json.Append('}');
        Assert.Empty(WeightsCheck.Check(graph, WeightsCheck.Parse(text, WeightsCheck.DefaultMaxHeaderBytes)));

        var random = new Random(77);
        const string alphabet = "{}[]\":,0123456789-.eE \\u\u0000\uD800abc";
        int clean = 0, reported = 0;
        for (var i = 0; i < 5000; i++)
        {
            var mutant = new StringBuilder(text);
            for (var n = 0; n <= i % 3; n++)
            {
                var at = random.Next(mutant.Length);
                switch (random.Next(3))
                {
                    case 0: mutant[at] = alphabet[random.Next(alphabet.Length)]; break;
                    case 1: mutant.Remove(at, Math.Min(random.Next(1, 6), mutant.Length - at)); break;
                    default: mutant.Insert(at, alphabet[random.Next(alphabet.Length)]); break;
                }
            }
            var diagnostics = WeightsCheck.Check(graph, WeightsCheck.Parse(mutant.ToString(), WeightsCheck.DefaultMaxHeaderBytes));
            Assert.True(diagnostics.Length <= WeightsCheck.MaxReported + 1);
            if (diagnostics.IsEmpty) clean++; else reported++;
        }
        Assert.True(reported > 2500, $"{reported} of 5000 mutants reported, {clean} clean");
    }

    [Fact]
    public void Parsed_headers_are_cached_by_content_so_a_second_pass_does_not_parse_again()
    {
        var json = new StringBuilder("{\"__metadata__\":{\"run\":\"" + Guid.NewGuid() + "\"}");   // unique content for this run
        for (var i = 0; i < 50_000; i++)
            json.Append(',').Append(Entry($"blocks.{i}.weight", "F32", [4], i * 16L, i * 16L + 16));
        var text = json.Append('}').ToString();

        var first = WeightsCheck.ParseCached(SourceText.From(text), WeightsCheck.DefaultMaxHeaderBytes);
        var second = WeightsCheck.ParseCached(SourceText.From(text), WeightsCheck.DefaultMaxHeaderBytes);   // another instance, same content

        // The same parsed object back is the proof that nothing was parsed again (no timing: these machines are noisy).
        Assert.Null(first.Error);
        Assert.Equal(50_000, first.Header!.Entries.Count);
        Assert.Same(first, second);
        Assert.NotSame(first, WeightsCheck.ParseCached(SourceText.From(text + " "), WeightsCheck.DefaultMaxHeaderBytes));
    }

    [Fact]
    public void The_build_keeps_headers_of_same_named_files_apart_and_never_copies_an_oversized_header()
    {
        var folder = Path.Combine(Path.GetTempPath(), "modeldsl-hostile-build", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(folder, "a"));
        Directory.CreateDirectory(Path.Combine(folder, "b"));
        try
        {
            WriteSafetensors(Path.Combine(folder, "a", "w.safetensors"), "alpha");
            WriteSafetensors(Path.Combine(folder, "b", "w.safetensors"), "beta");
            // A 100 MB header (declared; the file is sparse): the task reads its 8-byte length and stops.
            using (var sparse = File.Create(Path.Combine(folder, "huge.safetensors")))
            {
                sparse.Write(BitConverter.GetBytes(104_857_600UL));
                sparse.Write("{"u8);
                sparse.SetLength(8 + 104_857_600L);
            }
            File.WriteAllBytes(Path.Combine(folder, "short.safetensors"), [1, 2, 3]);
            File.WriteAllText(Path.Combine(folder, "probe.proj"), $"""
                <Project>
                  <PropertyGroup><IntermediateOutputPath>obj/</IntermediateOutputPath></PropertyGroup>
                  <Import Project="{Path.Combine(Repo.Root, "build", "ModelDsl.targets")}" />
                  <ItemGroup>
                    <ModelWeights Include="a/w.safetensors" />
                    <ModelWeights Include="b/w.safetensors" />
                    <ModelWeights Include="huge.safetensors" />
                    <ModelWeights Include="short.safetensors" />
                  </ItemGroup>
                  <Target Name="Probe" DependsOnTargets="AddModelWeightsHeaders">
                    <Message Importance="high" Text="HEADER|%(AdditionalFiles.ModelDslWeights)|%(AdditionalFiles.FullPath)" />
                  </Target>
                </Project>
                """);

            var watch = Stopwatch.StartNew();
            var output = RunMSBuild(folder, "probe.proj", "-t:Probe");
            watch.Stop();

            var headers = output.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("HEADER|", StringComparison.Ordinal))
                .Select(l => l.Split('|')).ToDictionary(p => p[1], p => p[2]);
            Assert.True(headers.Count == 4, output);
            Assert.NotEqual(headers["a/w.safetensors"], headers["b/w.safetensors"]);
            Assert.Contains("\"alpha\"", File.ReadAllText(headers["a/w.safetensors"]));
            Assert.Contains("\"beta\"", File.ReadAllText(headers["b/w.safetensors"]));
            Assert.StartsWith(WeightsCheck.ExtractedMarker + " data-bytes=8\n", File.ReadAllText(headers["a/w.safetensors"]));
            var huge = File.ReadAllText(headers["huge.safetensors"]);
            Assert.Equal(WeightsCheck.ExtractedMarker + " too-large header-bytes=104857600 limit=16000000\n", huge);
            Assert.Contains("unreadable: the file has 3 bytes", File.ReadAllText(headers["short.safetensors"]));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(120), $"{watch.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }

    private static void WriteSafetensors(string path, string name)
    {
        var json = Encoding.UTF8.GetBytes("{" + Entry(name, "F32", [2], 0, 8) + "}");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)json.Length), .. json, .. new byte[8]]);
    }

    private static string RunMSBuild(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("msbuild");
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        start.ArgumentList.Add("-nologo");
        start.ArgumentList.Add("-nodeReuse:false");
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        start.Environment["MSBUILDTERMINALLOGGER"] = "off";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(3)), "msbuild timed out");
        var text = stdout.Result + stderr.Result;
        Assert.True(process.ExitCode == 0, text);
        return text;
    }

    private static ModelDsl.Generators.Model.ModelGraph Graph()
    {
        var compilation = TestCompilation.Create(Declaration);
        var type = compilation.GetTypeByMetadataName("Small")!;
        var (graph, _) = ModelCompiler.Compile(DeclarationReader.Read(type, CancellationToken.None));
        return graph;
    }

    private static ImmutableArray<Diagnostic> Analyze(string headerText, string? limit = null)
    {
        ImmutableArray<AdditionalText> files = [new InMemoryText("obj/modeldsl/backbone.safetensors.0000.json", headerText)];
        var options = new AnalyzerOptions(files, new WeightsMetadata(files, "weights/backbone.safetensors", limit));
        var generated = TestCompilation.RunGenerator(TestCompilation.Create(Declaration));
        var run = TestCompilation.RunAnalyzer(generated.Output, options);
        Assert.Empty(run.Exceptions);
        return run.Diagnostics;
    }

    private sealed class InMemoryText(string path, string text) : AdditionalText
    {
        private readonly SourceText source = SourceText.From(text);

        public override string Path => path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => source;
    }

    private sealed class WeightsMetadata(ImmutableArray<AdditionalText> files, string original, string? limit) : AnalyzerConfigOptionsProvider
    {
        public override AnalyzerConfigOptions GlobalOptions => new Options(limit is null ? [] : new() { ["build_property.ModelDslMaxWeightsHeaderBytes"] = limit });

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => new Options([]);

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) =>
            new Options(files.Contains(textFile) ? new() { ["build_metadata.AdditionalFiles.ModelDslWeights"] = original } : []);

        private sealed class Options(Dictionary<string, string> values) : AnalyzerConfigOptions
        {
            public override bool TryGetValue(string key, out string value)
            {
                var found = values.TryGetValue(key, out var v);
                value = v ?? "";
                return found;
            }
        }
    }
}
