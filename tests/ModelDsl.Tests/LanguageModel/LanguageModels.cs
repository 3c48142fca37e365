using ModelDsl.Blocks;
using static TorchSharp.torch;

namespace ModelDsl.Tests.LanguageModel;

/// <summary>A tiny GPT-2 trained with the causal LM loss: the parity fixture's configuration.</summary>
[Model]
public partial class TinyLm
{
    public partial TinyLmOutput Forward([Shape("B,T")] Tensor ids);

    [LanguageModel(Vocab = 100, Context = 32, Dim = 64, Depth = 2, Heads = 4, Dropout = 0)]
    public partial DecoderTransformer Lm { get; }

    [CausalLmLoss]
    public partial CausalLmLoss Loss { get; }
}

/// <summary>GPT-2 124M as published (gpt2 on the Hugging Face hub), forward only.</summary>
[Model(MaxParameters = 200_000_000)]
public partial class Gpt2Small
{
    public partial Gpt2SmallOutput Forward([Shape("B,T")] Tensor ids);

    [LanguageModel(Vocab = 50257, Context = 1024, Dim = 768, Depth = 12, Heads = 12)]
    public partial DecoderTransformer Gpt2 { get; }
}

/// <summary>An untied head (lm_head.weight of its own), a fixed length, the labels under another name.</summary>
[Model]
public partial class UntiedLm
{
    public partial UntiedLmOutput Forward([Shape("B,16")] Tensor tokens);

    [LanguageModel(Vocab = 50, Context = 16, Dim = 32, Depth = 1, Heads = 2, TiedHead = false)]
    public partial DecoderTransformer Lm { get; }

    [CausalLmLoss(Target = "next")]
    public partial CausalLmLoss Loss { get; }
}

/// <summary>Prompt tuning: the tiny GPT-2 frozen, 4 soft-prompt vectors initialised from words.</summary>
[Model]
public partial class PromptTunedLm
{
    public partial PromptTunedLmOutput Forward([Shape("B,T")] Tensor ids);

    [LanguageModel(Vocab = 100, Context = 32, Dim = 64, Depth = 2, Heads = 4, Dropout = 0, Frozen = true)]
    public partial DecoderTransformer Lm { get; }

    [SoftPrompt(Count = 4, InitFrom = "Count up:")]
    public partial SoftPrompt Prompt { get; }

    [CausalLmLoss]
    public partial CausalLmLoss Loss { get; }
}

/// <summary>Prefix tuning: the tiny GPT-2 frozen, 4 learned key/value positions in each of its 2 blocks.</summary>
[Model]
public partial class PrefixTunedLm
{
    public partial PrefixTunedLmOutput Forward([Shape("B,T")] Tensor ids);

    [LanguageModel(Vocab = 100, Context = 32, Dim = 64, Depth = 2, Heads = 4, Dropout = 0, Frozen = true)]
    public partial DecoderTransformer Lm { get; }

    [PrefixTuning(Count = 4)]
    public partial PrefixTuning Prefix { get; }

    [CausalLmLoss]
    public partial CausalLmLoss Loss { get; }
}
