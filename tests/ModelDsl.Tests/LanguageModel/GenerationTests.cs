using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Blocks;
using static TorchSharp.torch;

namespace ModelDsl.Tests.LanguageModel;

/// <summary>Generation with a KV cache against the uncached forward pass, batching, sampling and limits.</summary>
public sealed class GenerationTests
{
    private static readonly long[] PromptA = { 5, 17, 42, 3, 99, 60, 11 };
    private static readonly long[] PromptB = { 8, 1 };
    private static readonly long[] PromptC = { 70, 71, 72, 73 };

    // Greedy decoding without a cache: the whole sequence through the model every step.
    private static List<long> UncachedGreedy(DecoderLanguageModel model, IReadOnlyList<long> prompt, int steps)
    {
        var sequence = prompt.ToList();
        var generated = new List<long>();
        using var _ = no_grad();
        for (var i = 0; i < steps; i++) {
            using var scope = NewDisposeScope();
            var logits = model.forward(tensor(sequence.ToArray()).unsqueeze(0));
            var next = logits[0, -1].argmax().item<long>();
            generated.Add(next);
            sequence.Add(next);
        }
        return generated;
    }

    [Fact]
    public void Cached_greedy_generation_equals_the_uncached_forward_token_by_token()
    {
        using var model = DecoderLanguageModelTests.LoadTiny();
        var steps = 32 - PromptA.Length;   // up to the end of the position table
        var cached = model.Generate(PromptA, GenerationOptions.Greedy with { MaxNewTokens = steps });
        Assert.Equal(UncachedGreedy(model, PromptA, steps), cached);
        Assert.Equal(steps, cached.Count);
    }

    [Fact]
    public void Cached_logits_equal_the_uncached_logits_at_every_step()
    {
        using var model = DecoderLanguageModelTests.LoadTiny();
        using var _ = no_grad();
        var ids = tensor(PromptA.Concat(PromptC).ToArray()).unsqueeze(0);
        var full = model.forward(ids);
        using var cache = model.NewCache();
        var first = model.Forward(model.Transformer.Embed(ids[.., ..PromptA.Length]), cache: cache);
        var parts = new List<Tensor> { first };
        for (var t = PromptA.Length; t < ids.shape[1]; t++)
            parts.Add(model.Forward(model.Transformer.Embed(ids[.., t..(t + 1)]), cache: cache));
        var stepwise = cat(parts, 1);
        var diff = (stepwise - full).abs().max().item<float>();
        Assert.True(diff < 1e-4f, $"max |cached - uncached| = {diff}");
        Assert.Equal(ids.shape[1], cache.Length);
    }

    [Fact]
    public void A_left_padded_batch_gives_each_prompt_the_tokens_it_gets_alone()
    {
        using var model = DecoderLanguageModelTests.LoadTiny();
        var options = GenerationOptions.Greedy with { MaxNewTokens = 12 };
        var batch = model.Generate(new IReadOnlyList<long>[] { PromptA, PromptB, PromptC }, options);
        Assert.Equal(model.Generate(PromptA, options), batch.Tokens[0]);
        Assert.Equal(model.Generate(PromptB, options), batch.Tokens[1]);
        Assert.Equal(model.Generate(PromptC, options), batch.Tokens[2]);
        Assert.All(batch.Finish, f => Assert.Equal(FinishReason.Length, f));
    }

    [Fact]
    public void Seeded_sampling_is_reproducible_and_seeds_differ()
    {
        using var model = DecoderLanguageModelTests.LoadTiny();
        var options = new GenerationOptions { Sample = true, Temperature = 1.5, MaxNewTokens = 20, Seed = 7 };
        var first = model.Generate(PromptA, options);
        var second = model.Generate(PromptA, options);
        Assert.Equal(first, second);
        var other = model.Generate(PromptA, options with { Seed = 8 });
        Assert.NotEqual(first, other);
        Assert.NotEqual(UncachedGreedy(model, PromptA, 20), first);   // it does sample
    }

    [Fact]
    public void Top_k_of_one_equals_greedy_and_a_tiny_top_p_too()
    {
        using var model = DecoderLanguageModelTests.LoadTiny();
        var greedy = model.Generate(PromptC, GenerationOptions.Greedy with { MaxNewTokens = 16 });
        Assert.Equal(greedy, model.Generate(PromptC, new GenerationOptions { Sample = true, TopK = 1, MaxNewTokens = 16, Seed = 3 }));
        Assert.Equal(greedy, model.Generate(PromptC, new GenerationOptions { Sample = true, TopP = 1e-6, MaxNewTokens = 16, Seed = 3 }));
    }

    [Fact]
    public void Top_k_and_top_p_sample_only_inside_their_sets()
    {
        var logits = tensor(new float[] { 0f, 3f, 2f, 1f, -1f, 2.5f }).unsqueeze(0).expand(4000, -1).contiguous();
        var topK = Generation.Choose(logits, new GenerationOptions { Sample = true, TopK = 3, Seed = 1 }, new Generator(1, CPU));
        var kSet = topK.data<long>().Distinct().OrderBy(x => x).ToArray();
        Assert.Equal(new long[] { 1, 2, 5 }, kSet);

        // softmax of the logits: 3 -> 0.43, 2.5 -> 0.26, 2 -> 0.16, 1 -> 0.06 ...; p = 0.6 keeps {1, 5} (0.69 >= 0.6).
        var topP = Generation.Choose(logits, new GenerationOptions { Sample = true, TopP = 0.6 }, new Generator(2, CPU));
        Assert.Equal(new long[] { 1, 5 }, topP.data<long>().Distinct().OrderBy(x => x).ToArray());
    }

    [Fact]
    public void Stop_tokens_end_a_sequence_and_are_part_of_its_output()
    {
        using var model = DecoderLanguageModelTests.LoadTiny();
        var free = model.Generate(PromptA, GenerationOptions.Greedy with { MaxNewTokens = 10 });
        var stop = free[3];
        var firstStop = free.ToList().IndexOf(stop);
        var stopped = model.Generate(new IReadOnlyList<long>[] { PromptA, PromptB },
            GenerationOptions.Greedy with { MaxNewTokens = 10, StopTokens = new[] { stop } });
        Assert.Equal(free.Take(firstStop + 1), stopped.Tokens[0]);
        Assert.Equal(FinishReason.Stop, stopped.Finish[0]);
    }

    [Fact]
    public void Streaming_yields_each_step_as_it_is_computed()
    {
        using var model = DecoderLanguageModelTests.LoadTiny();
        var options = GenerationOptions.Greedy with { MaxNewTokens = 6 };
        var seen = new List<long>();
        using var enumerator = model.GenerateStream(new IReadOnlyList<long>[] { PromptA }, options).GetEnumerator();
        Assert.True(enumerator.MoveNext());
        Assert.Equal(0, enumerator.Current.Step);
        seen.Add(enumerator.Current.Tokens[0]!.Value);
        while (enumerator.MoveNext()) seen.Add(enumerator.Current.Tokens[0]!.Value);
        Assert.Equal(model.Generate(PromptA, options), seen);
    }

    [Fact]
    public void Generation_restores_training_mode()
    {
        using var model = DecoderLanguageModelTests.LoadTiny();
        model.train();
        model.Generate(PromptB, GenerationOptions.Greedy with { MaxNewTokens = 2 });
        Assert.True(model.training);
    }

    [Fact]
    public void Too_long_a_request_is_refused_before_any_step()
    {
        using var model = DecoderLanguageModelTests.LoadTiny();
        var error = Assert.Throws<ArgumentException>(() =>
            model.GenerateStream(new IReadOnlyList<long>[] { PromptA }, GenerationOptions.Greedy with { MaxNewTokens = 26 }));
        Assert.Contains("The longest prompt (7 tokens) plus MaxNewTokens (26) is 33 positions, more than the position table's 32", error.Message);
        Assert.Contains("at most 25", error.Message);
        Assert.Throws<ArgumentException>(() => model.Generate(new long[] { 5, 100 }));
        Assert.Throws<ArgumentException>(() => model.Generate(Array.Empty<long>()));
    }
}
