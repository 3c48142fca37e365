using System;
using System.IO;

namespace ModelDsl.Weights;

internal static class AtomicFile
{
    /// <summary>
    /// Writes through <paramref name="write"/> into a temporary file in the target's folder, flushes it to
    /// disk, then renames it over <paramref name="path"/>: a reader sees the old file or the new one, never a
    /// partial file. On failure the temporary file is removed and the target is untouched.
    /// </summary>
    /// <exception cref="IOException">A part of the path is a file, the target is a folder, or the disk refused the write; the message names the path and the reason.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder is not writable; the message names the folder.</exception>
    public static void Write(string path, Action<Stream> write, Func<Stream, Stream>? intercept = null)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        EnsureFolder(full, folder);
        if (Directory.Exists(full))
            throw new IOException($"Cannot save '{full}': a folder of that name exists. Name a file (for example '{Path.Combine(full, "weights.safetensors")}').");
        var temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            FileStream stream;
            try
            {
                stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new UnauthorizedAccessException(
                    $"Cannot save '{full}': the folder '{folder}' is not writable (permission denied). Save into a folder you can write to, or change its permissions.", e);
            }
            catch (IOException e) when (e is not FileNotFoundException)
            {
                throw new IOException($"Cannot save '{full}': creating a file in '{folder}' failed: {e.Message.Replace(temporary, folder, StringComparison.Ordinal)}", e);
            }
            using (stream)
            {
                var target = intercept?.Invoke(stream) ?? stream;
                write(target);
                target.Flush();
                stream.Flush(flushToDisk: true);
            }
            try
            {
                File.Move(temporary, full, overwrite: true);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new UnauthorizedAccessException($"Cannot save '{full}': the existing file cannot be replaced (permission denied). Remove it, or save under another name.", e);
            }
        }
        catch
        {
            try { File.Delete(temporary); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    // Creates the target's folder, naming the part of the path that is a regular file when there is one.
    private static void EnsureFolder(string full, string folder)
    {
        for (var ancestor = folder; !string.IsNullOrEmpty(ancestor); ancestor = Path.GetDirectoryName(ancestor))
        {
            if (Directory.Exists(ancestor)) break;
            if (File.Exists(ancestor))
                throw new IOException($"Cannot save '{full}': '{ancestor}' is a file, not a folder. Save somewhere else, or move that file away.");
        }
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"Cannot save '{full}': the folder '{folder}' cannot be created (permission denied). Save into a folder you can write to.", e);
        }
    }
}
