using System;
using System.IO;
using System.Linq;
using ModelDsl.Tests.Training;
using ModelDsl.Training;
using ModelDsl.Weights;
using Xunit;
using Xunit.Abstractions;
using static ModelDsl.Tests.Weights.HostileFiles;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Weights;

/// <summary>
/// Mutants of valid files (bytes flipped, runs overwritten, cut short) in each format: every load either
/// succeeds or throws one of the documented exception types, never anything else and never a crash.
/// </summary>
public sealed class HostileMutationTests(ITestOutputHelper output) : SingleThreadedTorch, IDisposable
{
    private readonly string folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "modeldsl-mutants", Guid.NewGuid().ToString("N"))).FullName;

    public new void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        base.Dispose();
    }

    [Theory]
    [InlineData("pt", 4000)]
    [InlineData("safetensors", 4000)]
    [InlineData("ckpt", 300)]
    [InlineData("torch-pickle", 4000)]
    public void Every_mutant_loads_or_is_refused_with_a_documented_exception(string kind, int count)
    {
        using var model = nn.Linear(10, 1);
        var original = Path.Combine(folder, "original." + kind);
        if (kind == "pt")
            File.WriteAllBytes(original, PyTorchFile(StateDict([("weight", [1, 10]), ("bias", [1])]), ("0", Floats(new float[10])), ("1", Floats(7))));
        else if (kind == "safetensors") model.SaveSafetensors(original);
        else if (kind == "torch-pickle")
            File.Copy(Fixture(), original);
        else Checkpoint.Save(model, original);
        var bytes = File.ReadAllBytes(original);
        // For torch.save's own file, mutate only its pickle (the first record, about 2,200 bytes from byte 50).
        var span = kind == "torch-pickle" ? 2300 : bytes.Length;

        var random = new Random(1234 + kind.Length);
        int loaded = 0, refused = 0;
        for (var i = 0; i < count; i++)
        {
            var mutant = (byte[])bytes.Clone();
            switch (i % 4)
            {
                case 0: mutant[random.Next(span)] ^= (byte)(1 << random.Next(8)); break;
                case 1:
                    var at = random.Next(span);
                    var run = random.Next(1, 9);
                    var value = (byte)random.Next(256);
                    for (var k = at; k < Math.Min(mutant.Length, at + run); k++) mutant[k] = value;
                    break;
                case 2: mutant = mutant[..random.Next(mutant.Length)]; break;
                default:
                    for (var n = 0; n < 4; n++) mutant[random.Next(span)] = (byte)random.Next(256);
                    break;
            }
            var path = Path.Combine(folder, $"m{i}.{kind}");
            File.WriteAllBytes(path, mutant);
            try
            {
                if (kind == "ckpt") Checkpoint.Load(model, path);
                else if (kind == "torch-pickle") _ = global::ModelDsl.Weights.Weights.ReadEntries(path);
                else
                {
                    model.Load(path, LoadOptions.Partial);
                    _ = global::ModelDsl.Weights.Weights.ReadEntries(path);
                }
                loaded++;
            }
            catch (Exception e) when (e is InvalidDataException or WeightsMismatchException or CheckpointMismatchException)
            {
                Assert.DoesNotContain("   at ", e.Message);
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"mutant {i} ({i % 4}) threw {e}");
            }
            File.Delete(path);
        }
        output.WriteLine($"{kind}: {loaded} loaded, {refused} refused");
        Assert.Equal(count, loaded + refused);
        Assert.True(refused > count / 10, $"only {refused} of {count} mutants were refused");
    }

    // The torch.save fixture, where it is checked in (next to this file).
    private static string Fixture([System.Runtime.CompilerServices.CallerFilePath] string source = "") =>
        Path.Combine(Path.GetDirectoryName(source)!, "Fixtures", "channelvit.torch.pt");
}
