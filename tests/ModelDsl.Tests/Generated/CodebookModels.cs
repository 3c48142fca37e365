using ModelDsl.Blocks;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace ModelDsl.Tests.Generated;

/// <summary>An image tower that gives its patch tokens [B,16,48] (no head): what a codebook query reads.</summary>
[Model]
public partial class PatchTokenEncoder
{
    public partial PatchTokenEncoderOutput Forward([Shape("B,1,28,28")] Tensor image);

    [PatchEmbedding(PatchSize = 7, Dim = 48)]
    public partial PatchEmbedding Patches { get; }

    [PositionEmbedding]
    public partial Parameter Positions { get; }

    [TransformerEncoder(Depth = 1, Heads = 2)]
    public partial TransformerEncoder Encoder { get; }
}

/// <summary>A causal text tower that gives its word tokens [B,8,32] (no projection).</summary>
[Model]
public partial class WordTokenEncoder
{
    public partial WordTokenEncoderOutput Forward([Shape("B,8")] Tensor text);

    [TokenEmbedding(Vocab = 40, Dim = 32, MaxLength = 8)]
    public partial TokenEmbedding Embed { get; }

    [TransformerEncoder(Depth = 1, Heads = 2, Causal = true)]
    public partial TransformerEncoder Encoder { get; }
}

/// <summary>FDT in small: both towers read one shared codebook of 64 codes of width 24; CLIP's loss on the code features.</summary>
[Model]
public partial class SharedCodebookClip
{
    public partial SharedCodebookClipOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("B,8")] Tensor text);

    [Tower]
    public partial PatchTokenEncoder Image { get; }

    [Tower]
    public partial WordTokenEncoder Text { get; }

    [Codebook(Codes = 64, Dim = 24)]
    public partial Parameter SpaceDict { get; }

    [CodebookQuery(nameof(SpaceDict), nameof(Image))]
    public partial CodebookQuery ImageQuery { get; }

    [CodebookQuery(nameof(SpaceDict), nameof(Text), Padding = "text", PadToken = 0)]
    public partial CodebookQuery TextQuery { get; }

    [CosineLogits(nameof(ImageQuery), nameof(TextQuery), LearnScale = true)]
    public partial CosineLogits Logits { get; }

    [ContrastiveLoss]
    public partial ContrastiveLoss Loss { get; }
}

/// <summary>The other weightings: softmax for the image, top-8 softmax for the text, mean pooling, a temperature.</summary>
[Model]
public partial class DenseCodebookClip
{
    public partial DenseCodebookClipOutput Forward([Shape("B,1,28,28")] Tensor image, [Shape("B,8")] Tensor text);

    [Tower]
    public partial PatchTokenEncoder Image { get; }

    [Tower]
    public partial WordTokenEncoder Text { get; }

    [Codebook(Codes = 16, Dim = 32)]
    public partial Parameter Codes { get; }

    [CodebookQuery(nameof(Codes), nameof(Image), Weighting = CodeWeighting.Softmax, Pool = CodePool.Mean, Temperature = 0.5)]
    public partial CodebookQuery ImageQuery { get; }

    [CodebookQuery(nameof(Codes), nameof(Text), Weighting = CodeWeighting.TopK, TopK = 8, Project = false)]
    public partial CodebookQuery TextQuery { get; }

    [CosineLogits(nameof(ImageQuery), nameof(TextQuery), LearnScale = true)]
    public partial CosineLogits Logits { get; }

    [ContrastiveLoss]
    public partial ContrastiveLoss Loss { get; }
}
