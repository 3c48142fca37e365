using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using ModelDsl.Weights;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Weights;

/// <summary>
/// ModelDsl's loader and PyTorch agree about what a file holds: files written by <c>torch.save</c> (views at
/// storage offsets, shared and transposed storages, F16/BF16/I64/BOOL, a scalar, a wrapping checkpoint) load
/// here with exactly the values <c>torch.load(weights_only=True)</c> returns, and a file with a shadow
/// <c>data.pkl</c> that PyTorch reads as the genuine weights is refused here. This needs Debian's
/// <c>/usr/bin/python3</c> with <c>python3-torch</c>; without it only the checked-in torch.save fixture is
/// read (the Python half is then not run, and the test says so in its output).
/// </summary>
public sealed class HostileTorchAgreementTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "modeldsl-torch-agreement", Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }

    private const string Script = """
        import collections, json, shutil, sys, zipfile
        import torch
        out = sys.argv[1]
        base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8
        sd = collections.OrderedDict()
        sd['f32'] = torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4
        sd['f16'] = (torch.arange(5, dtype=torch.float32) / 8).half()
        sd['bf16'] = (torch.arange(5, dtype=torch.float32) / 8).bfloat16()
        sd['f64'] = torch.tensor([0.1, -2.5e300], dtype=torch.float64)
        sd['i64'] = torch.tensor([1, -2, 3 ** 30], dtype=torch.int64)
        sd['bool'] = torch.tensor([True, False, True])
        sd['scalar'] = torch.tensor(2.5)
        sd['base'] = base
        sd['view_offset'] = base[1:3]
        sd['transposed'] = base.t()
        sd['empty'] = torch.zeros(0, 3)
        torch.save({'state_dict': sd, 'epoch': 3}, out + '/fixture.pt')
        torch.save(sd, out + '/my model (v2).final.pt')   # the zip folder is named after the file, spaces and all
        loaded = torch.load(out + '/fixture.pt', weights_only=True)['state_dict']
        json.dump({k: {'dtype': str(v.dtype), 'shape': list(v.shape), 'values': v.double().flatten().tolist()} for k, v in loaded.items()},
                  open(out + '/expected.json', 'w'))
        shutil.copy(out + '/fixture.pt', out + '/shadow.pt')
        with zipfile.ZipFile(out + '/shadow.pt', 'a') as z:
            prefix = z.namelist()[0].split('/')[0]
            z.writestr(prefix + '/a_data.pkl', z.read(prefix + '/data.pkl'))
            for name in z.namelist():
                if name.startswith(prefix + '/data/'):
                    z.writestr(prefix + '/xdata/' + name.split('/')[-1], b'\x01' * z.getinfo(name).file_size)
        shadow = torch.load(out + '/shadow.pt', weights_only=True)['state_dict']
        assert all(torch.equal(shadow[k], sd[k]) for k in sd), 'PyTorch reads the genuine entries of the shadowed file'
        print('torch', torch.__version__)
        """;

    private static bool PythonWithTorch()
    {
        if (!File.Exists("/usr/bin/python3")) return false;
        var (code, _) = Run("/usr/bin/python3", "-c", "import torch");
        return code == 0;
    }

    private static (int Code, string Output) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3))) { process.Kill(true); return (-1, "timed out"); }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private sealed class Buffers : nn.Module
    {
        public Buffers(IEnumerable<TensorEntry> entries) : base("buffers")
        {
            foreach (var e in entries)
                register_buffer(e.Name, zeros(e.Shape, e.DType switch
                {
                    "F16" => ScalarType.Float16,
                    "BF16" => ScalarType.BFloat16,
                    "F64" => ScalarType.Float64,
                    "I64" => ScalarType.Int64,
                    "BOOL" => ScalarType.Bool,
                    _ => ScalarType.Float32,
                }), persistent: true);
        }
    }

    [Fact]
    public void Files_written_by_torch_save_load_with_the_values_torch_load_returns_and_a_shadowed_one_is_refused()
    {
        if (!PythonWithTorch())
        {
            output.WriteLine("/usr/bin/python3 with torch is absent: the torch.save/torch.load half is NOT run; reading the checked-in torch.save fixture only.");
            var fixture = Path.Combine(AppContext.BaseDirectory, "Weights", "Fixtures", "channelvit.torch.pt");
            if (!File.Exists(fixture)) fixture = Path.Combine(FindRepo(), "tests", "ModelDsl.Tests", "Weights", "Fixtures", "channelvit.torch.pt");
            var entries = global::ModelDsl.Weights.Weights.ReadEntries(fixture);
            Assert.Contains(entries, e => e.Name == "cls_token" && e.Shape.SequenceEqual(new long[] { 1, 1, 32 }));
            return;
        }

        var script = Path.Combine(folder, "make.py");
        File.WriteAllText(script, Script);
        var (code, text) = Run("/usr/bin/python3", script, folder);
        output.WriteLine(text);
        Assert.True(code == 0, text);

        var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "expected.json"))).RootElement;
        var path = Path.Combine(folder, "fixture.pt");
        var listed = global::ModelDsl.Weights.Weights.ReadEntries(path);
        Assert.Equal(expected.EnumerateObject().Select(p => p.Name).OrderBy(n => n, StringComparer.Ordinal), listed.Select(e => e.Name));

        using var module = new Buffers(listed);
        var report = module.Load(path);
        Assert.Empty(report.New);
        Assert.Contains("epoch", report.Ignored);
        var buffers = module.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        foreach (var property in expected.EnumerateObject())
        {
            var tensor = buffers[property.Name];
            Assert.Equal(property.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), tensor.shape);
            var want = property.Value.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var got = tensor.to_type(ScalarType.Float64).flatten().data<double>().ToArray();
            Assert.True(want.SequenceEqual(got), $"{property.Name}: torch.load {string.Join(",", want)}, ModelDsl {string.Join(",", got)}");
        }

        Assert.Equal(listed, global::ModelDsl.Weights.Weights.ReadEntries(Path.Combine(folder, "my model (v2).final.pt")));

        // PyTorch reads the shadowed file as the genuine weights (asserted in the script); ModelDsl refuses it.
        var error = Assert.Throws<InvalidDataException>(() => module.Load(Path.Combine(folder, "shadow.pt")));
        Assert.Contains("a_data.pkl", error.Message);
    }

    private static string FindRepo()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ModelDsl.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("repository root");
    }
}
