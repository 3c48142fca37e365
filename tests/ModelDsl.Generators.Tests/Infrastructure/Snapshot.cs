using System;
using System.IO;
using System.Linq;
using Xunit.Sdk;

namespace ModelDsl.Generators.Tests.Infrastructure;

/// <summary>
/// Approved baselines: <c>Snapshots/&lt;Name&gt;.verified.cs</c> in the source tree. On a mismatch the
/// actual text goes to <c>&lt;Name&gt;.received.cs</c> beside it (git-ignored) and the test fails with
/// the first differing line; <c>MODELDSL_ACCEPT=1</c> overwrites the verified file instead.
/// </summary>
internal static class Snapshot
{
    public const string AcceptVariable = "MODELDSL_ACCEPT";

    public static void Verify(string name, string actual)
    {
        actual = Normalize(actual);
        var verified = Path.Combine(Repo.SnapshotDirectory, name + ".verified.cs");
        var received = Path.Combine(Repo.SnapshotDirectory, name + ".received.cs");
        var accept = Environment.GetEnvironmentVariable(AcceptVariable) == "1";

        if (accept)
        {
            Directory.CreateDirectory(Repo.SnapshotDirectory);
            File.WriteAllText(verified, actual);
            if (File.Exists(received)) File.Delete(received);
            return;
        }

        var expected = File.Exists(verified) ? Normalize(File.ReadAllText(verified)) : null;
        if (expected == actual)
        {
            if (File.Exists(received)) File.Delete(received);
            return;
        }

        File.WriteAllText(received, actual);
        var hint = expected is null
            ? $"No baseline {verified}."
            : FirstDifference(expected, actual);
        throw new XunitException(
            $"Snapshot '{name}' does not match its baseline.\n{hint}\n" +
            $"Received: {received}\nCompare: diff -u {verified} {received}\n" +
            $"If the new output is right, accept it with {AcceptVariable}=1 dotnet test (and read the diff).");
    }

    public static string Normalize(string text) => text.Replace("\r\n", "\n").Replace("\r", "\n");

    private static string FirstDifference(string expected, string actual)
    {
        var e = expected.Split('\n');
        var a = actual.Split('\n');
        var line = Enumerable.Range(0, Math.Min(e.Length, a.Length)).FirstOrDefault(i => e[i] != a[i], -1);
        if (line < 0)
            return $"The texts agree up to line {Math.Min(e.Length, a.Length)}; the baseline has {e.Length} lines, the output {a.Length}.";
        return $"First difference at line {line + 1}:\n  verified: {e[line]}\n  received: {a[line]}";
    }
}
