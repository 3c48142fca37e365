namespace ModelDsl;

/// <summary>
/// The attributes' default argument values, written once. The attributes (Attributes.cs) initialise their properties
/// from these constants, and the generator, which compiles this same file, reads them when an argument is not written
/// (a declaration's AttributeData shows only what is written, never a property's initial value).
/// </summary>
internal static class AttributeDefaults
{
    /// <summary>MLP hidden width over model width: encoders, resamplers, task decoders (timm's 4.0).</summary>
    public const double MlpRatio = 4.0;

    /// <summary>Cross-attention layers of a resampler or a task decoder.</summary>
    public const int DecoderDepth = 1;

    /// <summary>A loss's weight in the objective.</summary>
    public const double LossWeight = 1.0;

    /// <summary>A regression head's outputs.</summary>
    public const int RegressionOutputs = 1;

    /// <summary>A mask head's per-pixel embedding width.</summary>
    public const int MaskPixelDim = 16;

    /// <summary>CLIP's initial logit scale (inverse temperature).</summary>
    public const double LogitScale = 1 / 0.07;

    /// <summary>Leading text tokens (the start token) kept in front of prompt tokens.</summary>
    public const int PromptsAfter = 1;

    /// <summary>Reparameterised prompts are vectors + encoder(vectors) (PRE).</summary>
    public const bool PromptResidual = true;
}
