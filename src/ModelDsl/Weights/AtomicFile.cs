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
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temporary); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
