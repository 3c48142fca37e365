using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ModelDsl.Weights;

/// <summary>Reads the tensors of a PyTorch <c>state_dict</c> file (zip format) through TorchSharp.PyBridge.</summary>
internal static class PyTorchStateDict
{
    // Training checkpoints often wrap the state_dict: {"state_dict": {...}, "epoch": 3, ...}.
    private static readonly string[] WrapperKeys = ["state_dict", "model", "module", "model_state_dict"];

    /// <summary>
    /// The tensors of the file by name (created in the caller's dispose scope). Entries that are not tensors
    /// are returned in <paramref name="nonTensors"/>.
    /// </summary>
    public static Dictionary<string, Tensor> Read(string path, out List<string> nonTensors)
    {
        Hashtable table;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            table = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: false);
        }
        catch (Exception e) when (e is not (IOException or UnauthorizedAccessException or OutOfMemoryException))
        {
            var reason = e is NotImplementedException ? e.Message : $"{e.GetType().Name}: {e.Message}";
            throw new InvalidDataException(
                $"'{path}' cannot be read as a PyTorch state_dict file: {reason} " +
                "Save it from PyTorch with torch.save(model.state_dict(), path) (the default zip format).", e);
        }

        var source = Unwrap(table);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        nonTensors = [];
        foreach (DictionaryEntry entry in source)
        {
            var name = entry.Key as string ?? Convert.ToString(entry.Key, System.Globalization.CultureInfo.InvariantCulture) ?? "";
            if (entry.Value is Tensor tensor)
                tensors[name] = tensor;
            else
                nonTensors.Add(name);
        }
        nonTensors.Sort(StringComparer.Ordinal);
        return tensors;
    }

    private static IDictionary Unwrap(IDictionary table)
    {
        foreach (DictionaryEntry entry in table)
        {
            if (entry.Value is Tensor) continue;
            // Not a plain state_dict: look for the wrapped one.
            foreach (var key in WrapperKeys)
            {
                if (table.Contains(key) && table[key] is IDictionary inner)
                    return Unwrap(inner);
            }
            break;
        }
        return table;
    }
}
