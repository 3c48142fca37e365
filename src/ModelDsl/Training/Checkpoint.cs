using System;
using System.IO;
using System.Text;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>Module checkpoints in TorchSharp's format (<c>Module.save</c>), written atomically.</summary>
public static class Checkpoint
{
    /// <summary>The file name of the checkpoint the trainer writes after each epoch.</summary>
    public const string LastFileName = "last.ckpt";

    /// <summary>
    /// Saves the parameters and buffers of <paramref name="module"/> to <paramref name="path"/>:
    /// written to <c>path.tmp</c>, flushed to disk, then moved over <paramref name="path"/>, so a
    /// reader sees either the previous checkpoint or the new one, never a partial file.
    /// </summary>
    public static void Save(nn.Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temporary = full + ".tmp";
        try
        {
            using (var scope = NewDisposeScope())
            using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                using (var writer = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true))
                {
                    module.save(writer);
                    writer.Flush();
                }
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temporary); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Loads a checkpoint written by <see cref="Save"/> into <paramref name="module"/>.</summary>
    /// <param name="module">A module of the same architecture.</param>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="strict">Whether every entry must match a parameter or buffer, and vice versa.</param>
    public static void Load(nn.Module module, string path, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Checkpoint '{path}' not found.", path);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        module.load(path, strict);
    }
}
