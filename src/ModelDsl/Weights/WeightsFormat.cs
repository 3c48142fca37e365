namespace ModelDsl.Weights;

/// <summary>The file formats <see cref="Weights"/> reads and writes.</summary>
public enum WeightsFormat
{
    /// <summary>
    /// Hugging Face safetensors: an 8-byte little-endian header length, a JSON header (name → dtype, shape,
    /// data offsets) and the raw little-endian tensor bytes. Read by <c>safetensors.torch.load_file</c> and timm.
    /// </summary>
    Safetensors,

    /// <summary>
    /// A PyTorch <c>state_dict</c> pickled in PyTorch's zip format, as <c>torch.save(model.state_dict(), path)</c>
    /// writes it; read by <c>torch.load(path)</c>. Legacy (pre-1.6, non-zip) files are not supported.
    /// </summary>
    PyTorch,
}
