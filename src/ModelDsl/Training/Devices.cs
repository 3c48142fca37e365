using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>Device choice.</summary>
public static class Devices
{
    /// <summary><c>cuda</c> when a CUDA device is available to TorchSharp, else <c>cpu</c>.</summary>
    public static Device Default => cuda.is_available() ? CUDA : CPU;

    /// <summary>
    /// Parses a device name such as <c>cpu</c>, <c>cuda</c> or <c>cuda:1</c>; null, empty or
    /// <c>auto</c> give <see cref="Default"/>.
    /// </summary>
    public static Device Parse(string? name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Equals("auto", StringComparison.OrdinalIgnoreCase))
            return Default;
        var device = torch.device(name.Trim());
        if (device.type == DeviceType.CUDA && !cuda.is_available())
            throw new ArgumentException($"Device '{name}' was requested but CUDA is not available to TorchSharp (is a TorchSharp-cuda backend package referenced?).", nameof(name));
        return device;
    }
}
