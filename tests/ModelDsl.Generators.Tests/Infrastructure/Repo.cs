using System.IO;
using System.Runtime.CompilerServices;

namespace ModelDsl.Generators.Tests.Infrastructure;

/// <summary>Paths in the source tree (not the build output), found from this file's compile-time path.</summary>
internal static class Repo
{
    /// <summary>The folder of this test project's sources: <c>tests/ModelDsl.Generators.Tests</c>.</summary>
    public static string TestProjectDirectory { get; } = Path.GetDirectoryName(Path.GetDirectoryName(ThisFile())!)!;

    /// <summary>The repository root.</summary>
    public static string Root { get; } = Path.GetFullPath(Path.Combine(TestProjectDirectory, "..", ".."));

    public static string SnapshotDirectory => Path.Combine(TestProjectDirectory, "Snapshots");

    public static string ReadText(string relativePath) =>
        File.ReadAllText(Path.Combine(Root, relativePath)).Replace("\r\n", "\n");

    private static string ThisFile([CallerFilePath] string path = "") => path;
}
