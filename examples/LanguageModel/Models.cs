using ModelDsl;
using ModelDsl.Blocks;
using static TorchSharp.torch;

namespace LanguageModelExample;

/// <summary>A small GPT-2 over UTF-8 bytes (vocabulary 256 bytes + end-of-text), pretrained on the King James Version.</summary>
[Model]
public partial class KjvLm
{
    public partial KjvLmOutput Forward([Shape("B,T")] Tensor ids);

    [LanguageModel(Vocab = 257, Context = 96, Dim = 64, Depth = 2, Heads = 4, Dropout = 0.1)]
    public partial DecoderTransformer Lm { get; }

    [CausalLmLoss]
    public partial CausalLmLoss Loss { get; }
}

/// <summary>Prompt tuning: the pretrained LM frozen, 16 soft-prompt vectors initialised from words.</summary>
[Model]
public partial class KjvPromptTuned
{
    public partial KjvPromptTunedOutput Forward([Shape("B,T")] Tensor ids);

    [LanguageModel(Vocab = 257, Context = 96, Dim = 64, Depth = 2, Heads = 4, Dropout = 0.1, Frozen = true)]
    public partial DecoderTransformer Lm { get; }

    [SoftPrompt(Count = 16, InitFrom = "Which testament is this verse from? ")]
    public partial SoftPrompt Prompt { get; }

    [CausalLmLoss]
    public partial CausalLmLoss Loss { get; }
}

/// <summary>Prefix tuning: the pretrained LM frozen, 8 learned key/value positions in each block.</summary>
[Model]
public partial class KjvPrefixTuned
{
    public partial KjvPrefixTunedOutput Forward([Shape("B,T")] Tensor ids);

    [LanguageModel(Vocab = 257, Context = 96, Dim = 64, Depth = 2, Heads = 4, Dropout = 0.1, Frozen = true)]
    public partial DecoderTransformer Lm { get; }

    [PrefixTuning(Count = 8)]
    public partial PrefixTuning Prefix { get; }

    [CausalLmLoss]
    public partial CausalLmLoss Loss { get; }
}
