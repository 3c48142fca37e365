using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ModelDsl.Weights;

/// <summary>
/// Saves and loads a module's weights as safetensors or as a PyTorch <c>state_dict</c>, under the module's
/// registered names. For generated models those are timm's <c>VisionTransformer</c> names
/// (<c>cls_token</c>, <c>pos_embed</c>, <c>patch_embed.proj.weight</c>, <c>blocks.0.attn.qkv.weight</c>, ...),
/// so a timm checkpoint of the same architecture loads as is, and a saved file loads into timm.
/// </summary>
/// <remarks>
/// All methods are extension methods: <c>model.SaveSafetensors(path)</c>, <c>model.Load(path, options)</c>.
/// Writes are atomic (a temporary file in the same folder, flushed, then renamed). Loads copy in place under
/// <c>no_grad</c> into the existing parameters and buffers, converting dtype and device, so optimizer references
/// and the module's device stay valid.
/// </remarks>
public static class Weights
{
    /// <summary>Writes the parameters and persistent buffers of <paramref name="module"/> as safetensors.</summary>
    public static void SaveSafetensors(this nn.Module module, string path) =>
        Save(module, path, WeightsFormat.Safetensors);

    /// <summary>
    /// Writes the parameters and persistent buffers of <paramref name="module"/> as a PyTorch <c>state_dict</c>
    /// (zip format) that <c>torch.load(path)</c> reads and <c>model.load_state_dict</c> accepts.
    /// </summary>
    public static void SavePyTorch(this nn.Module module, string path) =>
        Save(module, path, WeightsFormat.PyTorch);

    /// <summary>
    /// Writes the weights in the format the extension names: <c>.safetensors</c> → safetensors;
    /// <c>.pt</c>, <c>.pth</c>, <c>.bin</c> → PyTorch <c>state_dict</c>.
    /// </summary>
    public static void Save(this nn.Module module, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Save(module, path, FormatFromExtension(path) ?? throw new ArgumentException(
            $"Cannot tell the weights format from the extension of '{path}': use .safetensors, or .pt / .pth / .bin for a PyTorch state_dict " +
            "(or call SaveSafetensors / SavePyTorch).", nameof(path)));
    }

    /// <summary>Writes the weights in <paramref name="format"/>.</summary>
    public static void Save(this nn.Module module, string path, WeightsFormat format)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var scope = NewDisposeScope();
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var target in Targets(module))
            state[target.Name] = target.Tensor.detach().cpu().contiguous();
        AtomicFile.Write(path, stream =>
        {
            if (format == WeightsFormat.Safetensors)
                Safetensors.SaveStateDict(stream, state, leaveOpen: true);
            else
                PyTorchPickler.PickleStateDict(stream, state, leaveOpen: true);
        });
    }

    /// <summary>
    /// Loads weights from <paramref name="path"/> (safetensors or PyTorch <c>state_dict</c>, detected from the
    /// file's first bytes) into <paramref name="module"/>, as <paramref name="options"/> say (default: strict).
    /// </summary>
    /// <returns>What was loaded, new, ignored, of another shape, converted and frozen.</returns>
    /// <exception cref="WeightsMismatchException">
    /// Strict mode and any difference in names or shapes, or no tensor at all matched; nothing was copied.
    /// The message lists every missing, unexpected and mis-shaped tensor.
    /// </exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">
    /// The file is not a readable safetensors or PyTorch zip file, breaks a rule or a limit of the format (see
    /// docs/weights.md, "Loading untrusted files"), or stores a matched tensor in an element type TorchSharp cannot
    /// read. Nothing was copied.
    /// </exception>
    public static LoadReport Load(this nn.Module module, string path, LoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= LoadOptions.Strict;
        if (!File.Exists(path))
            throw new FileNotFoundException($"Weights file '{path}' not found.", path);
        var format = options.Format ?? DetectFormat(path);
        var targets = Targets(module);

        using var scope = NewDisposeScope();
        IReadOnlyList<TensorEntry> fileEntries;
        SafetensorsIndex? index = null;
        using var pyTorch = format == WeightsFormat.PyTorch ? PyTorchStateDict.Open(path) : null;
        var nonTensors = new List<string>();
        if (pyTorch is not null)
        {
            fileEntries = pyTorch.Entries;
            nonTensors = pyTorch.NonTensors;
        }
        else
        {
            index = SafetensorsIndex.Read(path);
            fileEntries = index.Entries;
        }

        var plan = Plan(targets, fileEntries, options, module as IPublishedLayout);
        var modelName = module.GetType().Name;
        if (options.Mode == LoadMode.Strict && (plan.Missing.Count > 0 || plan.Unexpected.Count > 0 || plan.Mismatches.Count > 0))
        {
            throw new WeightsMismatchException(path, modelName, "Nothing was loaded.",
                plan.Missing, plan.Unexpected, plan.Mismatches, SuggestPrefix(plan));
        }
        if (plan.Matches.Count == 0 && targets.Count > 0)
        {
            throw new WeightsMismatchException(path, modelName, "No tensor of the file matches one of the model by name and shape, so nothing was loaded.",
                plan.Missing, plan.Unexpected, plan.Mismatches, SuggestPrefix(plan));
        }
        var unreadable = plan.Matches.Where(m => DTypes.FromName(m.File.DType) is null).ToList();
        if (unreadable.Count > 0)
        {
            throw new InvalidDataException(
                $"'{path}' stores tensors in element types TorchSharp cannot read: {Names.Join(unreadable, m => $"{Names.Escape(m.File.Name)} ({Names.Escape(m.File.DType)})")}. " +
                "Nothing was loaded; convert them in Python (for example to float32) and save again, or leave them out with LoadOptions.Exclude.");
        }

        // Only now is tensor data read: only the matched tensors, one at a time, each checked against its record.
        var conversions = new List<DTypeConversion>();
        using var dataStream = index is not null ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16) : null;
        var sources = new List<Tensor>(plan.Matches.Count);
        foreach (var match in plan.Matches)
        {
            var source = pyTorch is not null
                ? pyTorch.ReadTensor(match.File.Name)
                : index!.ReadTensor(dataStream!, match.File, path);
            if (!Shapes.Equal(source.shape, match.Target.Tensor.shape))
                throw new InvalidDataException($"'{path}': the tensor '{Names.Escape(match.File.Name)}' read as {Shapes.Format(source.shape)}, not the {Shapes.Format(match.File.Shape)} its header declares.");
            sources.Add(source);
        }
        using (no_grad())
        {
            for (var i = 0; i < plan.Matches.Count; i++)
            {
                var match = plan.Matches[i];
                var source = sources[i];
                if (source.dtype != match.Target.Tensor.dtype)
                    conversions.Add(new(match.Target.Name, DTypes.Name(source.dtype), DTypes.Name(match.Target.Tensor.dtype)));
                match.Target.Tensor.copy_(source);
                source.Dispose();
            }
        }

        var frozen = new List<string>();
        if (options.Freeze)
        {
            foreach (var match in plan.Matches)
            {
                if (match.Target.IsParameter)
                {
                    match.Target.Tensor.requires_grad = false;
                    frozen.Add(match.Target.Name);
                }
            }
        }

        var ignored = plan.Ignored.Concat(nonTensors).ToList();
        return new LoadReport(path, format, options,
            plan.Matches.Select(m => m.Target.Name).ToList(),
            plan.New,
            ignored,
            plan.Mismatches,
            conversions,
            frozen,
            targets.Select(t => t.Name).ToList(),
            targets.ToDictionary(t => t.Name, t => t.Tensor.shape, StringComparer.Ordinal),
            fileEntries.GroupBy(e => e.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Shape, StringComparer.Ordinal));
    }

    /// <summary>
    /// The format of a weights file from its first bytes: a zip archive is a PyTorch <c>state_dict</c>; an
    /// 8-byte length followed by <c>{</c> is safetensors.
    /// </summary>
    /// <exception cref="InvalidDataException">Neither (a legacy, non-zip PyTorch file is named as such).</exception>
    public static WeightsFormat DetectFormat(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Span<byte> head = stackalloc byte[9];
        var read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..read];
        if (read >= 4 && head[0] == 0x50 && head[1] == 0x4B && head[2] == 0x03 && head[3] == 0x04)
            return WeightsFormat.PyTorch;
        if (read == 9 && head[8] == (byte)'{')
        {
            var length = BitConverter.ToUInt64(head[..8]);
            if (length >= 2 && length <= (ulong)(stream.Length - 8))
                return WeightsFormat.Safetensors;
        }
        if (read >= 8 && head[..8].SequenceEqual("MDSLCKPT"u8))
            throw new InvalidDataException(
                $"'{path}' is a ModelDsl checkpoint (written by the trainer or Checkpoint.Save), not a weights file: load its model part with " +
                "Checkpoint.Load(model, path), or continue its run with TrainOptions.ResumeFrom = path.");
        if (read >= 1 && head[0] == 0x80)
            throw new InvalidDataException(
                $"'{path}' is a PyTorch file in the legacy (pre-1.6, non-zip) format, which cannot be read here; re-save it with torch.save(state_dict, path).");
        if (read == 0)
            throw new InvalidDataException($"'{path}' is empty (0 bytes): an interrupted download or save? Download or save it again.");
        if (read == 9 && head[8] == (byte)'{')
            throw new InvalidDataException(
                $"'{path}' starts like a safetensors file, but its header length ({BitConverter.ToUInt64(head[..8])} bytes) runs past the end of the file " +
                $"({stream.Length} bytes): the file is truncated (an interrupted download or copy?). Download or save it again.");
        throw new InvalidDataException($"'{path}' is neither a safetensors file nor a PyTorch state_dict (zip) file (its first bytes are {Convert.ToHexString(head)}).");
    }

    /// <summary>
    /// The tensors a weights file holds (name, dtype, shape), in file order for safetensors (read from the header
    /// only) and by name for PyTorch files.
    /// </summary>
    public static IReadOnlyList<TensorEntry> ReadEntries(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (DetectFormat(path) == WeightsFormat.Safetensors)
            return SafetensorsIndex.Read(path).Entries;
        using var file = PyTorchStateDict.Open(path);     // the zip directory and the pickle; no tensor data
        return file.Entries;
    }

    /// <summary>The JSON header of a safetensors file, as written (checked, but not reformatted).</summary>
    public static string ReadSafetensorsHeader(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return SafetensorsIndex.Read(path).Json;
    }

    /// <summary>The tensors <see cref="Save(nn.Module, string)"/> writes: the parameters, then the persistent buffers.</summary>
    public static IReadOnlyList<TensorEntry> EntriesOf(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        return Targets(module).Select(t => new TensorEntry(t.Name, DTypes.Name(t.Tensor.dtype), t.Tensor.shape)).ToList();
    }

    private static WeightsFormat? FormatFromExtension(string path) =>
        Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".safetensors" => WeightsFormat.Safetensors,
            ".pt" or ".pth" or ".bin" => WeightsFormat.PyTorch,
            _ => null,
        };

    private sealed record Target(string Name, Tensor Tensor, bool IsParameter);

    private sealed record Match(Target Target, TensorEntry File);

    private sealed record LoadPlan(
        List<Match> Matches, List<string> New, List<TensorEntry> Missing, List<string> Ignored,
        List<TensorEntry> Unexpected, List<ShapeMismatch> Mismatches, List<TensorEntry> FileEntries, List<Target> Targets);

    private static List<Target> Targets(nn.Module module)
    {
        var targets = new List<Target>();
        foreach (var (name, parameter) in module.named_parameters())
            targets.Add(new(name, parameter, true));
        foreach (var (name, buffer) in module.named_buffers(recurse: true, include_nonpersistent: false))
            targets.Add(new(name, buffer, false));
        return targets;
    }

    private static LoadPlan Plan(List<Target> targets, IReadOnlyList<TensorEntry> fileEntries, LoadOptions options, IPublishedLayout? layout)
    {
        var prefix = options.Prefix ?? "";
        var exclude = options.Exclude ?? Array.Empty<string>();
        bool Excluded(string name) => exclude.Any(e =>
            e.Length > 0 && (name == e || name.StartsWith(e.EndsWith('.') ? e : e + ".", StringComparison.Ordinal)));

        // The file's tensors under the prefix, by model name.
        var candidates = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        var ignored = new List<string>();
        var unexpected = new List<TensorEntry>();
        var modelNames = new HashSet<string>(targets.Select(t => t.Name), StringComparer.Ordinal);
        foreach (var entry in fileEntries)
        {
            if (!entry.Name.StartsWith(prefix, StringComparison.Ordinal))
            {
                ignored.Add(entry.Name);      // outside the requested sub-model: never an error
                continue;
            }
            var fileName = entry.Name[prefix.Length..];
            var name = layout is null ? fileName : layout.MapFileName(fileName);
            if (name is null || Excluded(name))
            {
                ignored.Add(entry.Name);
                continue;
            }
            if (!modelNames.Contains(name))
            {
                ignored.Add(entry.Name);
                unexpected.Add(entry);
                continue;
            }
            candidates[name] = entry;
        }

        var matches = new List<Match>();
        var @new = new List<string>();
        var missing = new List<TensorEntry>();
        var mismatches = new List<ShapeMismatch>();
        foreach (var target in targets)
        {
            if (Excluded(target.Name) || !candidates.TryGetValue(target.Name, out var entry))
            {
                @new.Add(target.Name);
                if (!Excluded(target.Name))
                    missing.Add(new TensorEntry(target.Name, DTypes.Name(target.Tensor.dtype), target.Tensor.shape));
                continue;
            }
            var shape = target.Tensor.shape;
            if (!Shapes.Equal(shape, entry.Shape))
            {
                mismatches.Add(new ShapeMismatch(target.Name, shape, entry.Shape));
                ignored.Add(entry.Name);
                continue;
            }
            matches.Add(new Match(target, entry));
        }
        // Ignored in the file's order.
        var ignoredSet = new HashSet<string>(ignored, StringComparer.Ordinal);
        ignored = fileEntries.Select(e => e.Name).Where(ignoredSet.Contains).Distinct(StringComparer.Ordinal).ToList();
        return new LoadPlan(matches, @new, missing, ignored, unexpected, mismatches, fileEntries.ToList(), targets);
    }

    // When the names differ by a common prefix (the file's "backbone.blocks.0..." vs the model's "blocks.0..."),
    // the prefix that explains most of the missing names.
    private static string? SuggestPrefix(LoadPlan plan)
    {
        if (plan.Missing.Count == 0) return null;
        var votes = new Dictionary<string, int>(StringComparer.Ordinal);
        var missing = plan.Missing.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var entry in plan.FileEntries)
        {
            // Every suffix after a '.' that names a missing tensor (linear in the name, not in the model).
            for (var dot = entry.Name.IndexOf('.', StringComparison.Ordinal); dot >= 0 && dot + 1 < entry.Name.Length;
                 dot = entry.Name.IndexOf('.', dot + 1))
            {
                if (missing.Contains(entry.Name[(dot + 1)..]))
                {
                    var candidate = entry.Name[..(dot + 1)];
                    votes[candidate] = votes.GetValueOrDefault(candidate) + 1;
                }
            }
        }
        if (votes.Count == 0) return null;
        var best = votes.OrderByDescending(v => v.Value).ThenBy(v => v.Key.Length).First();
        return best.Value * 2 >= missing.Count ? best.Key : null;
    }
}
