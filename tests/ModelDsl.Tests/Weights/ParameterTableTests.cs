// These tests call the generator's front end (ModelDsl.Generators) directly. The test project references the
// generator only as an analyzer, so they compile only when the project also references its assembly and
// Roslyn and defines MODELDSL_FRONT_END_TESTS; docs/weights.md ("Tests") gives the csproj lines.

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;
using ModelDsl.Tests.Generated;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Weights;

public sealed class ParameterTableTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "modeldsl-parameter-table-tests", Guid.NewGuid().ToString("N"));

    public ParameterTableTests() => Directory.CreateDirectory(folder);

    public void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }

    [Theory]
    [InlineData(nameof(TinyVit))]
    [InlineData(nameof(FrozenEncoderVit))]
    [InlineData(nameof(MapPooledVit))]
    [InlineData(nameof(TinyVitFiveClasses))]
    [InlineData(nameof(VptDeepVit))]
    [InlineData(nameof(VqtVit))]
    [InlineData(nameof(RangedTokensVit))]
    [InlineData(nameof(ReadoutVit))]
    [InlineData(nameof(DomainTokensVit))]
    [InlineData(nameof(ChannelVit))]
    [InlineData(nameof(ResampledVit))]
    [InlineData(nameof(FourTaskVit))]
    [InlineData(nameof(AngleOnlyVit))]
    [InlineData(nameof(ExemplarMatcher))]
    [InlineData(nameof(TinyTextEncoder))]
    [InlineData(nameof(TinyCspText))]
    [InlineData(nameof(PatchTokenEncoder))]
    [InlineData(nameof(WordTokenEncoder))]
    [InlineData(nameof(SharedCodebookClip))]
    [InlineData(nameof(DenseCodebookClip))]
    [InlineData(nameof(TeacherVit))]
    [InlineData(nameof(QueryDistilledStudent))]
    [InlineData(nameof(LogitDistilledStudent))]
    [InlineData(nameof(TwoSetVit))]
    [InlineData(nameof(RegularizedCodebookClip))]
    [InlineData(nameof(MergingVit))]
    [InlineData(nameof(PruningVit))]
    [InlineData(nameof(RoutingVit))]
    [InlineData(nameof(TokenFormerVit))]
    [InlineData(nameof(GrownTokenFormerVit))]
    [InlineData(nameof(LanguageModel.TinyLm))]
    [InlineData(nameof(LanguageModel.UntiedLm))]
    [InlineData(nameof(LanguageModel.PromptTunedLm))]
    [InlineData(nameof(LanguageModel.PrefixTunedLm))]
    public void Compile_time_table_equals_the_runtime_named_parameters(string model)
    {
        var table = ParameterTable.Of(Graph(model));
        using var module = Create(model);

        var runtime = module.named_parameters().Select(p => (p.name, p.parameter.shape)).ToList();
        Assert.Equal(runtime.Select(p => p.name), table.Select(p => p.Name));
        for (var i = 0; i < runtime.Count; i++)
            Assert.True(runtime[i].shape.SequenceEqual(table[i].Shape), $"{runtime[i].name}: runtime {ParameterTable.Format(runtime[i].shape)}, table {ParameterTable.Format(table[i].Shape)}");
    }

    [Fact]
    public void A_custom_module_is_opaque_and_the_rest_of_the_table_still_matches_the_runtime()
    {
        var graph = Graph(nameof(CustomStageVit));
        var table = ParameterTable.Of(graph);
        var opaque = ParameterTable.OpaquePrefixes(graph);
        manual_seed(1);
        using var module = new CustomStageVit(CPU);

        Assert.Equal(["widen"], opaque);
        var known = module.named_parameters().Where(p => !p.name.StartsWith("widen.", StringComparison.Ordinal)).ToList();
        Assert.Equal(known.Select(p => p.name), table.Select(p => p.Name));
        Assert.All(known.Zip(table), pair => Assert.True(pair.First.parameter.shape.SequenceEqual(pair.Second.Shape), pair.First.name));

        var path = Path.Combine(folder, "custom.safetensors");
        global::ModelDsl.Weights.Weights.SaveSafetensors(module, path);
        var header = SafetensorsHeader.Read(File.ReadAllBytes(path));
        Assert.Empty(ParameterTable.Compare(table, header, opaquePrefixes: opaque));
        Assert.Equal(["widen.proj.weight", "widen.proj.bias"], ParameterTable.Compare(table, header).Select(d => d.Name));
    }

    [Theory]
    [InlineData(nameof(VptDeepVit))]
    [InlineData(nameof(VqtVit))]
    [InlineData(nameof(ResampledVit))]
    [InlineData(nameof(ChannelVit))]
    public void A_token_family_model_passes_the_build_time_check_against_a_file_it_saved(string model)
    {
        // The check [PretrainedWeights] runs at build time (WeightsCheck) must accept the model's own weights:
        // every name the table computes is in the file with the runtime's shape, the rest is opaque.
        var graph = Graph(model);
        using var module = Create(model);
        var path = Path.Combine(folder, model + ".safetensors");
        global::ModelDsl.Weights.Weights.SaveSafetensors(module, path);
        var header = SafetensorsHeader.Read(File.ReadAllBytes(path));

        var differences = ParameterTable.Compare(ParameterTable.Of(graph), header, opaquePrefixes: ParameterTable.OpaquePrefixes(graph));

        Assert.True(differences.Count == 0, string.Join("\n", differences));
    }

    [Fact]
    public void Table_lists_timm_shapes()
    {
        var text = ParameterTable.ToText(ParameterTable.Of(Graph(nameof(TinyVit))));

        Assert.StartsWith("cls_token [1,1,32]\nreg_token [1,2,32]\npos_embed [1,19,32]\npatch_embed.proj.weight [32,1,7,7]\npatch_embed.proj.bias [32]\n", text);
        Assert.Contains("blocks.1.mlp.fc1.weight [128,32]\n", text);
        Assert.EndsWith("norm.weight [32]\nnorm.bias [32]\nhead.weight [10,32]\nhead.bias [10]\n", text);
    }

    [Fact]
    public void Header_of_a_saved_file_reads_from_bytes_stream_and_json()
    {
        using var module = Create(nameof(MapPooledVit));
        var path = Path.Combine(folder, "map.safetensors");
        global::ModelDsl.Weights.Weights.SaveSafetensors(module, path);
        var bytes = File.ReadAllBytes(path);

        var fromBytes = SafetensorsHeader.Read(bytes);
        using var stream = File.OpenRead(path);
        var fromStream = SafetensorsHeader.Read(stream);
        var fromJson = SafetensorsHeader.Parse(global::ModelDsl.Weights.Weights.ReadSafetensorsHeader(path));

        var expected = module.named_parameters().Select(p => $"{p.name} {ParameterTable.Format(p.parameter.shape)} F32").ToList();
        Assert.Equal(expected, fromBytes.Entries.Select(e => e.ToString()));
        Assert.Equal(fromBytes.Entries, fromStream.Entries);
        Assert.Equal(fromBytes.Entries, fromJson.Entries);
        Assert.Equal(8 + (long)BitConverter.ToUInt64(bytes, 0), stream.Position);
        Assert.Equal([1L, 1, 48], fromBytes.Find("attn_pool.latent")!.ShapeArray());
    }

    [Fact]
    public void Header_survives_a_whole_file_decoded_as_latin1_or_utf8_text()
    {
        using var module = Create(nameof(TinyVit));
        var path = Path.Combine(folder, "tiny.safetensors");
        global::ModelDsl.Weights.Weights.SaveSafetensors(module, path);
        var bytes = File.ReadAllBytes(path);
        var expected = SafetensorsHeader.Read(bytes).Entries;

        var latin1 = Encoding.Latin1.GetString(bytes);
        Assert.True(SafetensorsHeader.FromText(latin1, out var fromLatin1, out var error), error);
        Assert.Equal(expected, fromLatin1!.Entries);

        // What the compiler's UTF-8 decoding makes of it (invalid bytes become U+FFFD).
        var utf8 = new UTF8Encoding(false, false).GetString(bytes);
        Assert.True(SafetensorsHeader.FromText(utf8, out var fromUtf8, out error), error);
        Assert.Equal(expected, fromUtf8!.Entries);
    }

    [Fact]
    public void Non_ascii_names_decoded_as_latin1_are_recovered()
    {
        var json = "{\"caf\u00e9.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        var header = Encoding.UTF8.GetBytes(json);
        byte[] file = [.. BitConverter.GetBytes((ulong)header.Length), .. header, .. new byte[8]];

        Assert.True(SafetensorsHeader.FromText(Encoding.Latin1.GetString(file), out var latin1, out var error), error);
        Assert.Equal("caf\u00e9.weight", latin1!.Entries.Single().Name);
        Assert.True(SafetensorsHeader.FromText(Encoding.UTF8.GetString(file), out var utf8, out error), error);
        Assert.Equal("caf\u00e9.weight", utf8!.Entries.Single().Name);
        Assert.Equal("caf\u00e9.weight", SafetensorsHeader.Read(file).Entries.Single().Name);
    }

    [Theory]
    [InlineData("[1,2]", "not a JSON object")]
    [InlineData("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", "'w' has no string 'dtype'")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", "'w' has no array 'shape'")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "not a non-negative integer: -2")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", "no valid 'data_offsets'")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "needs 12 bytes, but its data_offsets span 8")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"w\":{}}", "'w' appears twice")]
    [InlineData("{\"__metadata__\":{\"format\":1}}", "'__metadata__.format' is not a string")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", "not valid JSON: unexpected end of the text, ',' or '}' was expected (at character 53)")]
    [InlineData("{\"w\" {}}", "':' was expected after \"w\" (at character 5)")]
    public void Malformed_headers_are_refused_with_the_reason(string json, string reason)
    {
        Assert.False(SafetensorsHeader.TryParse(json, out var header, out var error));
        Assert.Null(header);
        Assert.Contains(reason, error);
        Assert.Contains(reason, Assert.Throws<FormatException>(() => SafetensorsHeader.Parse(json)).Message);
    }

    [Fact]
    public void Malformed_byte_prefixes_are_refused_with_the_reason()
    {
        Assert.Contains("fewer than the 8-byte", Error([1, 2, 3]));
        Assert.Contains("only 4 bytes follow", Error([.. BitConverter.GetBytes(100UL), .. "{}  "u8.ToArray()]));
        Assert.Contains("above the limit", Error([.. BitConverter.GetBytes(1UL << 40), .. "{}"u8.ToArray()]));
        Assert.Contains("does not start with '{'", Error([.. BitConverter.GetBytes(2UL), .. "[]"u8.ToArray()]));
        Assert.Contains("not valid UTF-8", Error([.. BitConverter.GetBytes(3UL), (byte)'{', 0xC3, (byte)'}']));
        Assert.Empty(SafetensorsHeader.Read([.. BitConverter.GetBytes(8UL), .. "{}      "u8.ToArray()]).Entries);

        static string Error(byte[] bytes)
        {
            Assert.False(SafetensorsHeader.TryRead(bytes, out _, out var error));
            return error!;
        }
    }

    [Fact]
    public void Compare_lists_what_the_declaration_expects_and_the_file_lacks_or_shapes_otherwise()
    {
        using var tiny = Create(nameof(TinyVit));
        var path = Path.Combine(folder, "tiny.safetensors");
        global::ModelDsl.Weights.Weights.SaveSafetensors(tiny, path);
        var header = SafetensorsHeader.Read(File.ReadAllBytes(path));

        var same = ParameterTable.Compare(ParameterTable.Of(Graph(nameof(TinyVit))), header);
        Assert.Empty(same);

        var differences = ParameterTable.Compare(ParameterTable.Of(Graph(nameof(MapPooledVit))), header);
        Assert.Contains("attn_pool.latent [1,1,48]: missing from the file", differences.Select(d => d.ToString()));
        Assert.Contains("patch_embed.proj.weight: expected [48,3,8,8], found [32,1,7,7]", differences.Select(d => d.ToString()));
        Assert.Contains("cls_token [1,1,32]: in the file, not in the model", differences.Select(d => d.ToString()));
        Assert.Equal(13, differences.Count(d => d.Kind == ParameterDifferenceKind.Missing));
        Assert.Equal(13, differences.Count(d => d.Kind == ParameterDifferenceKind.Unexpected));

        var five = ParameterTable.Compare(ParameterTable.Of(Graph(nameof(TinyVitFiveClasses))), header);
        Assert.Equal(["head.weight: expected [5,32], found [10,32]", "head.bias: expected [5], found [10]"], five.Select(d => d.ToString()));
    }

    private static nn.Module Create(string model)
    {
        manual_seed(1);
        return model switch
        {
            nameof(TinyVit) => new TinyVit(CPU),
            nameof(LanguageModel.TinyLm) => new LanguageModel.TinyLm(CPU),
            nameof(LanguageModel.UntiedLm) => new LanguageModel.UntiedLm(CPU),
            nameof(LanguageModel.PromptTunedLm) => new LanguageModel.PromptTunedLm(CPU),
            nameof(LanguageModel.PrefixTunedLm) => new LanguageModel.PrefixTunedLm(CPU),
            nameof(FrozenEncoderVit) => new FrozenEncoderVit(CPU),
            nameof(MapPooledVit) => new MapPooledVit(CPU),
            nameof(VptDeepVit) => new VptDeepVit(CPU),
            nameof(MergingVit) => new MergingVit(CPU),
            nameof(PruningVit) => new PruningVit(CPU),
            nameof(RoutingVit) => new RoutingVit(CPU),
            nameof(TokenFormerVit) => new TokenFormerVit(CPU),
            nameof(GrownTokenFormerVit) => new GrownTokenFormerVit(CPU),
            nameof(VqtVit) => new VqtVit(CPU),
            nameof(RangedTokensVit) => new RangedTokensVit(CPU),
            nameof(ReadoutVit) => new ReadoutVit(CPU),
            nameof(DomainTokensVit) => new DomainTokensVit(CPU),
            nameof(ResampledVit) => new ResampledVit(CPU),
            nameof(ChannelVit) => new ChannelVit(CPU),
            nameof(FourTaskVit) => new FourTaskVit(CPU),
            nameof(AngleOnlyVit) => new AngleOnlyVit(CPU),
            nameof(ExemplarMatcher) => new ExemplarMatcher(CPU),
            nameof(TinyTextEncoder) => new TinyTextEncoder(CPU),
            nameof(TinyCspText) => new TinyCspText(CPU),
            nameof(PatchTokenEncoder) => new PatchTokenEncoder(CPU),
            nameof(WordTokenEncoder) => new WordTokenEncoder(CPU),
            nameof(SharedCodebookClip) => new SharedCodebookClip(CPU),
            nameof(DenseCodebookClip) => new DenseCodebookClip(CPU),
            nameof(TeacherVit) => new TeacherVit(CPU),
            nameof(QueryDistilledStudent) => new QueryDistilledStudent(CPU),
            nameof(LogitDistilledStudent) => new LogitDistilledStudent(CPU),
            nameof(TwoSetVit) => new TwoSetVit(CPU),
            nameof(RegularizedCodebookClip) => new RegularizedCodebookClip(CPU),
            _ => new TinyVitFiveClasses(CPU),
        };
    }

    // The front end's graph of a test model, read from its source as the generator reads it.
    private static ModelGraph Graph(string model)
    {
        var compilation = Compilation.Value;
        var type = compilation.GetSymbolsWithName(model, SymbolFilter.Type).OfType<INamedTypeSymbol>().Single();
        var spec = DeclarationReader.Read(type, default);
        return ModelCompiler.Compile(spec, DeclarationReader.ReadTowers(type, default)).Graph;
    }

    private static readonly Lazy<CSharpCompilation> Compilation = new(() =>
    {
        var here = Path.GetDirectoryName(ThisFile())!;
        var sources = Directory.GetFiles(Path.Combine(here, "..", "Generated"), "*.cs").Append(Path.Combine(here, "WeightsTestModels.cs"))
            .Append(Path.Combine(here, "..", "LanguageModel", "LanguageModels.cs"))
            .Select(p => CSharpSyntaxTree.ParseText(File.ReadAllText(p), new CSharpParseOptions(LanguageVersion.Preview), p));
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat([typeof(ModelAttribute).Assembly.Location, typeof(TorchSharp.torch).Assembly.Location])
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        return CSharpCompilation.Create("ParameterTableTests", sources, references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
    });

    private static string ThisFile([CallerFilePath] string path = "") => path;
}

