using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ModelDsl.Tests.Data;
using ModelDsl.Tests.Training;
using ModelDsl.Training;
using ModelDsl.Weights;
using TorchSharp.PyBridge;
using Xunit;
using Xunit.Abstractions;
using static ModelDsl.Tests.Weights.HostileFiles;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Weights;

/// <summary>
/// A corpus of hostile and broken files, made here, each loaded under a time and managed-memory budget:
/// no crash, the documented exception with a message that names the file, the problem and the fix, and
/// nothing changed in the model.
/// </summary>
public sealed class HostileFileTests : SingleThreadedTorch, IDisposable
{
    private const long MB = 1_000_000;
    private readonly string folder = Path.Combine(Path.GetTempPath(), "modeldsl-hostile", Guid.NewGuid().ToString("N"));
    private readonly ITestOutputHelper output;

    public HostileFileTests(ITestOutputHelper output)
    {
        this.output = output;
        Directory.CreateDirectory(folder);
    }

    public new void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        base.Dispose();
    }

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    // nn.Linear(10, 1): weight [1,10], bias [1].
    private static (string Name, long[] Shape)[] LinearNames => [("weight", [1, 10]), ("bias", [1])];

    private string GenuineLinearFile(string name = "genuine.pt") =>
        Write(name, PyTorchFile(StateDict(LinearNames), ("0", Floats(Enumerable.Range(0, 10).Select(i => (float)i).ToArray())), ("1", Floats(7))));

    private static nn.Module NewLinear()
    {
        var linear = nn.Linear(10, 1);
        using (no_grad()) foreach (var p in linear.parameters()) p.fill_(-3);
        return linear;
    }

    private static void Unchanged(nn.Module module) =>
        Assert.All(module.parameters(), p => Assert.True(p.eq(-3).all().item<bool>(), "the model was changed"));

    [Fact]
    public void The_genuine_file_of_this_corpus_loads()
    {
        using var model = NewLinear();
        var report = model.Load(GenuineLinearFile());
        Assert.True(report.IsComplete);
        Assert.Equal(7f, model.parameters().Last().item<float>());
        Assert.Equal(9f, model.parameters().First()[0, 9].item<float>());
    }

    // --- pickles -------------------------------------------------------------------------------------

    [Fact]
    public void A_state_dict_that_contains_itself_is_refused_not_a_stack_overflow()
    {
        // d = {}; d['state_dict'] = d: 142 bytes that used to abort the process.
        var pickle = new Pickle().EmptyDict().Put(0).Str("state_dict").Get(0).SetItem().Stop().ToArray();
        var path = Write("self.pt", PyTorchFile(pickle));
        using var model = NewLinear();

        var error = Refused<InvalidDataException>(5, 10 * MB, () => model.Load(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("contains itself", error.Message);
        Unchanged(model);
        Assert.Throws<InvalidDataException>(() => global::ModelDsl.Weights.Weights.ReadEntries(path));
    }

    [Fact]
    public void A_hundred_thousand_nested_wrappers_stop_at_the_depth_cap()
    {
        var pickle = new Pickle();
        const int depth = 100_000;
        for (var i = 0; i < depth; i++) pickle.EmptyDict().Str("state_dict");
        pickle.EmptyDict();
        for (var i = 0; i < depth; i++) pickle.SetItem();
        var path = Write("nested.pt", PyTorchFile(pickle.Stop().ToArray()));
        using var model = NewLinear();

        var error = Refused<InvalidDataException>(5, 100 * MB, () => model.Load(path));

        Assert.Contains($"wrapped more than {WeightsLimits.MaxWrapperDepth} levels", error.Message);
        Unchanged(model);
    }

    [Fact]
    public void A_pickle_larger_than_the_limit_is_refused_before_it_is_inflated()
    {
        // 80 MB of pickle deflated to about 80 KB: refused from the zip directory's declared size.
        var path = Write("big-pickle.pt", Zip([DeflatedZeros("archive/data.pkl", 80 * MB, 80 * MB), new("archive/version", "3\n"u8.ToArray())]));

        var error = Refused<InvalidDataException>(5, 5 * MB, () => global::ModelDsl.Weights.Weights.ReadEntries(path));

        Assert.Contains("above the limit", error.Message);
    }

    [Fact]
    public void A_pickle_that_creates_millions_of_objects_is_refused_at_the_object_cap()
    {
        // A 10-million-item list in a 10 MB pickle (deflated to a few KB), the shape of the issue's 1.36 MB file of 10^9 items.
        var pickle = new Pickle().EmptyList().Mark();
        pickle.Raw(Enumerable.Repeat((byte)'N', 10_000_000).ToArray());
        var bytes = pickle.Op((byte)'e').Stop().ToArray();
        var path = Write("many.pt", Zip([Deflated("archive/data.pkl", bytes), new("archive/version", "3\n"u8.ToArray())]));

        var error = Refused<InvalidDataException>(10, 400 * MB, () => global::ModelDsl.Weights.Weights.ReadEntries(path));

        Assert.Contains($"more than {WeightsLimits.MaxPickleObjects} objects", error.Message);
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("subprocess", "Popen")]
    public void Globals_are_never_imported_or_called(string module, string name)
    {
        // {'weight': os.system('touch PWNED')} : the call stays an inert object, reported as not a tensor.
        var marker = Path.Combine(folder, "PWNED");
        var pickle = new Pickle().EmptyDict().Str("weight").Global(module, name).Mark().Str("touch " + marker).Tuple().Reduce().SetItem().Stop().ToArray();
        var path = Write("evil.pt", PyTorchFile(pickle));
        using var model = NewLinear();

        Refused<WeightsMismatchException>(5, 10 * MB, () => model.Load(path));

        Assert.False(File.Exists(marker));
        Unchanged(model);
    }

    // --- zip layout ----------------------------------------------------------------------------------

    [Fact]
    public void A_shadow_data_pkl_and_lookalike_storages_are_refused()
    {
        // The issue's substitution: a second '.../a_data.pkl' and '.../xdata/*' entries holding all-1.0 weights.
        var genuine = StateDict(LinearNames);
        var path = Write("shadow.pt", Zip([
            new("archive/a_data.pkl", genuine),
            new("archive/xdata/0", Floats(Enumerable.Repeat(1f, 10).ToArray())),
            new("archive/xdata/1", Floats(1)),
            new("archive/data.pkl", genuine),
            new("archive/data/0", Floats(Enumerable.Range(0, 10).Select(i => (float)i).ToArray())),
            new("archive/data/1", Floats(7)),
            new("archive/version", "3\n"u8.ToArray())]));
        using var model = NewLinear();

        var error = Refused<InvalidDataException>(5, 10 * MB, () => model.Load(path));

        Assert.Contains("'archive/a_data.pkl'", error.Message);
        Assert.Contains("'archive/xdata/0'", error.Message);
        Assert.Contains("re-save", error.Message);
        Unchanged(model);
    }

    public static TheoryData<string, string[], string> Layouts => new()
    {
        { "two folders", ["a/data.pkl", "b/data.pkl"], "two folders" },
        { "path tricks", ["archive/data.pkl", "archive/data/../data/0"], "not part of a torch.save file" },
        { "absolute", ["archive/data.pkl", "/etc/passwd"], "not part of a torch.save file" },
        { "backslash", ["archive/data.pkl", "archive\\data\\0"], "not part of a torch.save file" },
        { "no pickle", ["archive/version"], "no '<folder>/data.pkl'" },
        { "duplicate", ["archive/data.pkl", "archive/data.pkl"], "appears twice" },
        { "torchscript", ["archive/data.pkl", "archive/constants.pkl", "archive/code/m.py"], "TorchScript" },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void Zip_layouts_torch_save_never_writes_are_refused(string name, string[] entries, string reason)
    {
        var pickle = new Pickle().EmptyDict().Stop().ToArray();
        var path = Write(name.Replace(' ', '-') + ".pt", Zip(entries.Select(e => new ZipEntry(e, e.EndsWith(".pkl") ? pickle : [1]))));

        var error = Refused<InvalidDataException>(5, 10 * MB, () => global::ModelDsl.Weights.Weights.ReadEntries(path));

        Assert.Contains(reason, error.Message);
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void A_storage_record_the_pickle_never_names_is_refused()
    {
        var path = Write("orphan.pt", PyTorchFile(StateDict(LinearNames), ("0", Floats(new float[10])), ("1", Floats(7)), ("99", Floats(1))));
        var error = Refused<InvalidDataException>(5, 10 * MB, () => global::ModelDsl.Weights.Weights.ReadEntries(path));
        Assert.Contains("'data/99'", error.Message);
    }

    // --- declared sizes against records ---------------------------------------------------------------

    [Fact]
    public void A_zip_bomb_is_refused_from_the_declared_sizes_before_anything_is_inflated()
    {
        // The storage declares 10 floats; its record declares 4 GB (the data is a few bytes).
        var path = Write("bomb.pt", Zip([
            new("archive/data.pkl", StateDict(LinearNames)),
            Deflated("archive/data/0", new byte[40], declaredSize: 4_000_000_000),
            new("archive/data/1", Floats(7)),
            new("archive/version", "3\n"u8.ToArray())]));
        using var model = NewLinear();

        var error = Refused<InvalidDataException>(5, 10 * MB, () => model.Load(path));

        Assert.Contains("holds 4000000000 bytes", error.Message);
        Unchanged(model);
    }

    [Fact]
    public void A_record_that_inflates_past_its_declared_size_is_cut_off()
    {
        // Declared as 40 bytes (right for 10 floats), it inflates to 64 MB.
        var path = Write("overflowing.pt", Zip([
            new("archive/data.pkl", StateDict(LinearNames)),
            DeflatedZeros("archive/data/0", 64 * MB, declaredSize: 40),
            new("archive/data/1", Floats(7)),
            new("archive/version", "3\n"u8.ToArray())]));
        using var model = NewLinear();

        var error = Refused<InvalidDataException>(5, 10 * MB, () => model.Load(path));

        Assert.Contains("holds more than the 40 bytes it declares", error.Message);
        Unchanged(model);
    }

    [Fact]
    public void A_gigabyte_tensor_the_model_does_not_take_is_never_read()
    {
        // weight declared [1, 2^28] (1 GB, and its record says so; the file holds a few bytes): a shape mismatch,
        // refused from the pickle alone, and listed without reading.
        const long huge = 1L << 28;
        var pickle = new Pickle().Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark()
            .Str("weight").Tensor("FloatStorage", "0", huge, 0, [1, huge], [huge, 1])
            .Str("bias").Tensor("FloatStorage", "1", 1, 0, [1], [1])
            .SetItems().Stop().ToArray();
        var path = Write("gigabyte.pt", Zip([
            new("archive/data.pkl", pickle),
            Deflated("archive/data/0", new byte[16], declaredSize: huge * 4),
            new("archive/data/1", Floats(7)),
            new("archive/version", "3\n"u8.ToArray())]));
        using var model = NewLinear();

        var error = Refused<WeightsMismatchException>(5, 10 * MB, () => model.Load(path));
        Assert.Contains("weight: expected [1,10], found [1,268435456]", error.Message);
        Unchanged(model);
        var entries = global::ModelDsl.Weights.Weights.ReadEntries(path);
        Assert.Equal([1, huge], entries.Single(e => e.Name == "weight").Shape);
    }

    [Fact]
    public void Storages_shorter_or_longer_than_declared_and_views_past_them_are_refused()
    {
        using var model = NewLinear();
        var shorter = Write("short.pt", PyTorchFile(StateDict(LinearNames), ("0", new byte[36]), ("1", Floats(7))));
        Assert.Contains("holds 36 bytes", Refused<InvalidDataException>(5, 10 * MB, () => model.Load(shorter)).Message);
        var longer = Write("long.pt", PyTorchFile(StateDict(LinearNames), ("0", new byte[44]), ("1", Floats(7))));
        Assert.Contains("holds 44 bytes", Refused<InvalidDataException>(5, 10 * MB, () => model.Load(longer)).Message);

        var past = new Pickle().Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark()
            .Str("weight").Tensor("FloatStorage", "0", 10, 5, [1, 10], [10, 1])
            .Str("bias").Tensor("FloatStorage", "1", 1, 0, [1], [1])
            .SetItems().Stop().ToArray();
        var view = Write("view.pt", PyTorchFile(past, ("0", new byte[40]), ("1", Floats(7))));
        Assert.Contains("reaches past its storage", Refused<InvalidDataException>(5, 10 * MB, () => model.Load(view)).Message);

        var overflow = new Pickle().EmptyDict().Str("w").Tensor("FloatStorage", "0", 1, 0, [1L << 40, 1L << 40], [0, 0]).SetItem().Stop().ToArray();
        var overflowing = Write("overflow.pt", PyTorchFile(overflow, ("0", new byte[4])));
        Assert.Contains("overflows 64 bits", Refused<InvalidDataException>(5, 10 * MB, () => global::ModelDsl.Weights.Weights.ReadEntries(overflowing)).Message);
        Unchanged(model);
    }

    [Fact]
    public void A_truncated_pt_file_is_called_truncated_not_blamed_on_its_format()
    {
        var bytes = File.ReadAllBytes(GenuineLinearFile());
        var path = Write("truncated.pt", bytes[..(bytes.Length / 2)]);
        using var model = NewLinear();

        var error = Refused<InvalidDataException>(5, 10 * MB, () => model.Load(path));

        Assert.Contains("truncated", error.Message);
        Assert.DoesNotContain("torch.save(model.state_dict()", error.Message);
        Unchanged(model);
    }

    // --- listing a big real-format file --------------------------------------------------------------

    [Fact]
    public void Listing_a_file_of_fifty_thousand_tensors_takes_seconds_not_minutes()
    {
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using (var scope = NewDisposeScope())
        {
            for (var i = 0; i < 50_000; i++) state[$"layers.{i}.weight"] = full(2, (float)i).DetachFromDisposeScope();
        }
        var path = Path.Combine(folder, "fifty-thousand.pt");
        using (var stream = File.Create(path)) PyTorchPickler.PickleStateDict(stream, state);
        foreach (var t in state.Values) t.Dispose();

        var watch = Stopwatch.StartNew();
        var entries = global::ModelDsl.Weights.Weights.ReadEntries(path);
        watch.Stop();
        output.WriteLine($"ReadEntries of 50,000 tensors: {watch.Elapsed.TotalSeconds:F2} s");

        Assert.Equal(50_000, entries.Count);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"{watch.Elapsed.TotalSeconds:F1} s");

        // A strict load of it into a small model: a bounded message, with a count of the rest.
        using var model = NewLinear();
        var error = Refused<WeightsMismatchException>(10, 400 * MB, () => model.Load(path));
        Assert.Equal(50_000, error.Unexpected.Count);
        Assert.Contains("... and 49960 more", error.Message);
    }

    // --- safetensors ---------------------------------------------------------------------------------

    public static TheoryData<string, string, int> BadSafetensors => new()
    {
        { "overlap", "{\"weight\":{\"dtype\":\"F32\",\"shape\":[1,10],\"data_offsets\":[0,40]},\"bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[36,40]}}", 40 },
        { "trailing", "{\"weight\":{\"dtype\":\"F32\",\"shape\":[1,10],\"data_offsets\":[0,40]},\"bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[40,44]}}", 48 },
        { "gap", "{\"weight\":{\"dtype\":\"F32\",\"shape\":[1,10],\"data_offsets\":[0,40]},\"bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[44,48]}}", 48 },
        { "duplicate inner key", "{\"weight\":{\"dtype\":\"F32\",\"shape\":[1,10],\"shape\":[1,10],\"data_offsets\":[0,40]},\"bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[40,44]}}", 44 },
        { "duplicate metadata key", "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"},\"bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4 },
        { "lone surrogate", "{\"w\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4 },
        { "shape overflow", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", 4 },
        { "unknown dtype", "{\"w\":{\"dtype\":\"Q3\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4 },
        { "truncated", "{\"weight\":{\"dtype\":\"F32\",\"shape\":[1,10],\"data_offsets\":[0,40]},\"bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[40,44]}}", 30 },
    };

    [Theory]
    [MemberData(nameof(BadSafetensors))]
    public void Safetensors_files_the_reference_implementation_refuses_are_refused(string name, string json, int dataBytes)
    {
        var path = Write(name.Replace(' ', '-') + ".safetensors", Safetensors(json, dataBytes));
        using var model = NewLinear();

        var error = Refused<InvalidDataException>(5, 10 * MB, () => model.Load(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("not a valid safetensors file", error.Message);
        Unchanged(model);
    }

    [Fact]
    public void A_header_past_the_100_MB_limit_is_refused_from_its_length_and_a_big_valid_one_lists_quickly()
    {
        var tooBig = Path.Combine(folder, "huge-header.safetensors");
        using (var stream = File.Create(tooBig))
        {
            stream.Write(BitConverter.GetBytes(100_000_001UL));
            stream.Write("{"u8);
            stream.SetLength(8 + 100_000_001L);   // sparse
        }
        Assert.Contains("above the limit", Refused<InvalidDataException>(5, 10 * MB, () => global::ModelDsl.Weights.Weights.ReadEntries(tooBig)).Message);

        var json = new StringBuilder("{");
        for (var i = 0; i < 200_000; i++)
            json.Append(i == 0 ? "" : ",").Append($"\"t.{i}\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[{i * 4},{i * 4 + 4}]}}");
        var big = Write("big-header.safetensors", Safetensors(json.Append('}').ToString(), 800_000));
        var watch = Stopwatch.StartNew();
        Assert.Equal(200_000, global::ModelDsl.Weights.Weights.ReadEntries(big).Count);
        output.WriteLine($"ReadEntries of a {json.Length / 1e6:F1} MB header (200,000 tensors): {watch.Elapsed.TotalSeconds:F2} s");
        // A hang guard, not a speed target (these machines are noisy: 12-20 s were seen at load 20 for ~1 s of work):
        // a parse that grew quadratically with the entries would take hours here.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(120), $"{watch.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void Names_in_messages_are_escaped_and_lists_are_bounded()
    {
        var json = new StringBuilder("{");
        for (var i = 0; i < 1000; i++)
            json.Append(i == 0 ? "" : ",").Append($"\"evil\\u001b[31m\\u202e{new string('x', 500)}{i}\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[{i * 4},{i * 4 + 4}]}}");
        var path = Write("names.safetensors", Safetensors(json.Append('}').ToString(), 4000));
        using var model = NewLinear();

        var error = Refused<WeightsMismatchException>(5, 50 * MB, () => model.Load(path));

        Assert.Equal(1000, error.Unexpected.Count);
        Assert.DoesNotContain('\u001b', error.Message);
        Assert.DoesNotContain('\u202e', error.Message);
        Assert.Contains("evil\\u001B[31m\\u202E", error.Message);
        Assert.Contains("... and 960 more", error.Message);
        Assert.Matches(@"\.\.\. \(51\d characters\)", error.Message);
        Assert.All(error.Message.Split('\n'), line => Assert.True(line.Length < 400, $"a line of {line.Length} characters"));
    }

    // --- the issue-16 file cases ---------------------------------------------------------------------

    [Fact]
    public void Loading_a_trainer_checkpoint_as_weights_points_at_Checkpoint_Load_and_resume()
    {
        using var model = NewLinear();
        var path = Path.Combine(folder, "last.ckpt");
        Checkpoint.Save(model, path);

        var error = Refused<InvalidDataException>(5, 10 * MB, () => model.Load(path));

        Assert.Contains("ModelDsl checkpoint", error.Message);
        Assert.Contains("Checkpoint.Load(model, path)", error.Message);
        Assert.Contains("ResumeFrom", error.Message);
    }

    [Fact]
    public void Saving_where_a_parent_is_a_file_or_the_folder_is_not_writable_names_the_real_cause()
    {
        using var model = NewLinear();
        var file = Write("plain-file", [1, 2, 3]);
        var error = Assert.Throws<IOException>(() => model.Save(Path.Combine(file, "sub", "w.safetensors")));
        Assert.Contains($"'{file}' is a file, not a folder", error.Message);
        Assert.DoesNotContain("already exists", error.Message);
        Assert.Throws<IOException>(() => Checkpoint.Save(model, Path.Combine(file, "last.ckpt")));

        // /sys refuses new files even to root: the message names the folder, never the temporary file.
        var unwritable = Assert.ThrowsAny<Exception>(() => model.Save("/sys/weights.safetensors"));
        Assert.True(unwritable is UnauthorizedAccessException or IOException, unwritable.GetType().Name);
        Assert.Contains("'/sys'", unwritable.Message);
        Assert.DoesNotContain(".tmp", unwritable.Message);
    }

    // --- checkpoints ---------------------------------------------------------------------------------

    private static TrainOptions Quick(string output) => new()
    {
        Epochs = 1,
        BatchSize = 50,
        LearningRate = 3e-3,
        Device = CPU,
        OutputDirectory = output,
        ShowProgress = false,
        Log = TextWriter.Null,
        WriteCurves = false,
    };

    /// <summary>A checkpoint rewritten: its header and tensors changed, the SHA-256 recomputed (a forgery, not damage).</summary>
    private static void Forge(string path, Action<JsonObject, List<byte[]>> change)
    {
        var bytes = File.ReadAllBytes(path);
        var jsonLength = BitConverter.ToInt64(bytes, 12);
        var header = JsonNode.Parse(bytes.AsSpan(20, (int)jsonLength))!.AsObject();
        var data = new List<byte[]>();
        long offset = 20 + jsonLength;
        foreach (var tensor in header["Tensors"]!.AsArray())
        {
            var n = tensor!["Bytes"]!.GetValue<long>();
            data.Add(bytes.AsSpan((int)offset, (int)n).ToArray());
            offset += n;
        }
        change(header, data);
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        using var file = new MemoryStream();
        file.Write(bytes.AsSpan(0, 12));
        file.Write(BitConverter.GetBytes((long)json.Length));
        file.Write(json);
        foreach (var d in data) file.Write(d);
        file.Write(SHA256.HashData(file.ToArray()));
        File.WriteAllBytes(path, file.ToArray());
    }

    private static JsonObject TensorNamed(JsonObject header, string name) =>
        header["Tensors"]!.AsArray().Single(t => t!["Name"]!.GetValue<string>() == name)!.AsObject();

    private static int IndexOf(JsonObject header, string name) =>
        header["Tensors"]!.AsArray().Select((t, i) => (t, i)).Single(x => x.t!["Name"]!.GetValue<string>() == name).i;

    [Fact]
    public void A_forged_rng_state_is_refused_before_resume_changes_anything()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(100);
        manual_seed(3);
        using (var first = new TinyMlp(hidden: 8)) first.Fit(train, null, Quick(dir.Path));
        var last = Path.Combine(dir.Path, Checkpoint.LastFileName);
        Forge(last, (header, data) =>
        {
            var rng = TensorNamed(header, "rng/cpu");
            var i = IndexOf(header, "rng/cpu");
            rng["Shape"] = new JsonArray(100);
            rng["Bytes"] = 100;
            data[i] = data[i][..100];
        });

        manual_seed(99);
        using var resumed = new TinyMlp(hidden: 8);
        var before = resumed.parameters().Select(p => p.clone()).ToList();
        var error = Assert.Throws<InvalidOperationException>(() => resumed.Fit(train, null, Quick(dir.Path) with { Epochs = 2, ResumeFrom = last }));

        Assert.Contains("RNG state 'rng/cpu' is Byte [100]", error.Message);
        Assert.Contains("Nothing was changed", error.Message);
        Assert.All(resumed.parameters().Zip(before), p => Assert.True(p.First.allclose(p.Second, 0, 0), "the model was changed"));
        foreach (var t in before) t.Dispose();
    }

    [Fact]
    public void An_optimizer_state_that_does_not_fit_is_refused_before_the_model_is_overwritten()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(100);
        manual_seed(3);
        using (var first = new TinyMlp(hidden: 8)) first.Fit(train, null, Quick(dir.Path));
        var last = Path.Combine(dir.Path, Checkpoint.LastFileName);
        Forge(last, (header, data) =>
        {
            var name = header["Tensors"]!.AsArray().Select(t => t!["Name"]!.GetValue<string>()).First(n => n.StartsWith("optimizer/exp_avg/", StringComparison.Ordinal));
            var entry = TensorNamed(header, name);
            entry["DType"] = "Float64";
            entry["Bytes"] = entry["Bytes"]!.GetValue<long>() * 2;
            var i = IndexOf(header, name);
            data[i] = [.. data[i], .. data[i]];
        });

        manual_seed(99);
        using var resumed = new TinyMlp(hidden: 8);
        var before = resumed.parameters().Select(p => p.clone()).ToList();
        var error = Assert.Throws<InvalidOperationException>(() => resumed.Fit(train, null, Quick(dir.Path) with { Epochs = 2, ResumeFrom = last }));

        Assert.Contains("is Float64", error.Message);
        Assert.All(resumed.parameters().Zip(before), p => Assert.True(p.First.allclose(p.Second, 0, 0), "the model was changed"));
        foreach (var t in before) t.Dispose();
    }

    [Fact]
    public void Forged_checkpoint_lengths_and_shapes_are_refused_without_overflow_or_native_errors()
    {
        using var model = NewLinear();
        var path = Path.Combine(folder, "model.ckpt");

        Checkpoint.Save(model, path);
        Forge(path, (header, _) => TensorNamed(header, "model/weight")["Shape"] = new JsonArray(1L << 40, 1L << 40));
        Assert.Contains("overflows 64 bits", Refused<InvalidDataException>(5, 10 * MB, () => Checkpoint.Load(model, path)).Message);

        Checkpoint.Save(model, path);
        Forge(path, (header, _) => TensorNamed(header, "model/weight")["Shape"] = new JsonArray(-1, -40));
        Assert.Contains("negative size", Refused<InvalidDataException>(5, 10 * MB, () => Checkpoint.Load(model, path)).Message);

        Checkpoint.Save(model, path);
        Forge(path, (header, _) => TensorNamed(header, "model/weight")["DType"] = "QUInt8");
        Assert.Contains("unknown dtype", Refused<InvalidDataException>(5, 10 * MB, () => Checkpoint.Load(model, path)).Message);

        // A JSON length near 2^63, the hash recomputed.
        Checkpoint.Save(model, path);
        var bytes = File.ReadAllBytes(path);
        BitConverter.GetBytes(long.MaxValue - 7).CopyTo(bytes, 12);
        SHA256.HashData(bytes.AsSpan(0, bytes.Length - 32)).CopyTo(bytes, bytes.Length - 32);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("header length", Refused<InvalidDataException>(5, 10 * MB, () => Checkpoint.Load(model, path)).Message);
        Unchanged(model);
    }

    [Fact]
    public void Resuming_from_a_weights_file_says_it_is_one_and_what_to_do()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(100);
        using var model = new TinyMlp(hidden: 8);
        var weights = Path.Combine(dir.Path, "w.safetensors");
        model.SaveSafetensors(weights);

        var error = Assert.Throws<InvalidDataException>(() => model.Fit(train, null, Quick(dir.Path) with { ResumeFrom = weights }));

        Assert.Contains("is a safetensors file, a weights file rather than a checkpoint", error.Message);
        Assert.Contains("model.Load(path)", error.Message);
    }
}
