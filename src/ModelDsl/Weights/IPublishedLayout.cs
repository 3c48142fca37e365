namespace ModelDsl.Weights;

/// <summary>
/// Implemented by a module whose published weights files name some tensors differently from its registered names
/// in ways that are not a mismatch: a prefix the publisher's base model lacks, buffers that are not weights, a tied
/// tensor saved twice. <see cref="Weights.Load"/> asks the module being loaded for each file name (after
/// <see cref="LoadOptions.Prefix"/> is removed, before <see cref="LoadOptions.Exclude"/> applies).
/// </summary>
/// <remarks>
/// The registered names stay the published ones (GPT-2's <c>transformer.h.0.attn.c_attn.weight</c>, ...): this only
/// accepts the variants the publisher's own loader accepts, and saving writes the registered names.
/// </remarks>
public interface IPublishedLayout
{
    /// <summary>
    /// The registered name a file's tensor loads into, or null when the tensor is not a weight of this architecture
    /// (reported as ignored, never as unexpected). A name that the module does not register is reported as unexpected
    /// as usual.
    /// </summary>
    string? MapFileName(string fileName);
}
