using System;
using System.Linq;
using ModelDsl.Blocks;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Blocks;

public class PromptBlockTests
{
    [Fact]
    public void Prompts_go_after_the_given_position_and_the_rest_shifts()
    {
        manual_seed(1);
        using var prompts = new PromptTokens(count: 3, dim: 4);
        using var x = randn(2, 5, 4);

        using var y = prompts.Insert(x, after: 1);

        Assert.Equal([2L, 8, 4], y.shape);
        Assert.True(y.narrow(1, 0, 1).equal(x.narrow(1, 0, 1)).all().item<bool>());
        Assert.True(y.narrow(1, 4, 4).equal(x.narrow(1, 1, 4)).all().item<bool>());
        using var expected = prompts.Prompts();
        Assert.True(y[0].narrow(0, 1, 3).equal(expected).all().item<bool>());
        Assert.True(y[1].narrow(0, 1, 3).equal(expected).all().item<bool>());
    }

    [Fact]
    public void Vocabulary_tokens_replace_the_vectors_of_their_ids_only()
    {
        manual_seed(5);
        using var vocabulary = new VocabularyTokens(first: 3, count: 2, dim: 4);
        using var ids = tensor(new long[] { 0, 3, 4, 5, 2, 3 }, new long[] { 2, 3 });
        using var embedded = randn(2, 3, 4);

        using var y = vocabulary.forward(ids, embedded);

        Assert.True(y[0, 0].equal(embedded[0, 0]).all().item<bool>());
        Assert.True(y[0, 1].equal(vocabulary.Weight[0]).all().item<bool>());
        Assert.True(y[0, 2].equal(vocabulary.Weight[1]).all().item<bool>());
        // Id 5 is past the range (3, 4): it keeps its embedding.
        Assert.True(y[1, 0].equal(embedded[1, 0]).all().item<bool>());
        Assert.True(y[1, 2].equal(vocabulary.Weight[0]).all().item<bool>());
        var error = Assert.Throws<ArgumentException>(() => vocabulary.forward(ids, randn(2, 3, 5)));
        Assert.Contains("[B,T,4]", error.Message);
        Assert.Contains("[2,3,5]", error.Message);
    }

    [Fact]
    public void Vocabulary_tokens_start_from_given_vectors()
    {
        using var vocabulary = new VocabularyTokens(first: 0, count: 2, dim: 3);
        using var words = tensor(new float[] { 1, 2, 3, 4, 5, 6 }, new long[] { 2, 3 });

        vocabulary.InitializeFrom(words);

        Assert.True(vocabulary.Weight.equal(words).all().item<bool>());
        Assert.True(vocabulary.Weight.requires_grad);
        var error = Assert.Throws<ArgumentException>(() => vocabulary.InitializeFrom(zeros(3, 3)));
        Assert.Contains("[2,3]", error.Message);
    }

    [Fact]
    public void Vocabulary_tokens_started_from_the_embedding_change_nothing_until_trained()
    {
        manual_seed(7);
        using var embedding = new TokenEmbedding(vocab: 10, dim: 4, maxLength: 8);
        using var vocabulary = new VocabularyTokens(first: 6, count: 3, dim: 4);
        using var ids = tensor(new long[] { 1, 6, 7, 8, 9, 2 }, new long[] { 1, 6 });

        vocabulary.InitializeFrom(embedding);

        using var plain = embedding.forward(ids);
        using var replaced = vocabulary.forward(ids, plain);
        Assert.True(replaced.equal(plain).all().item<bool>());
        var error = Assert.Throws<ArgumentException>(() => new VocabularyTokens(first: 8, count: 3, dim: 4).InitializeFrom(embedding));
        Assert.Contains("at least 11 ids", error.Message);
    }

    [Fact]
    public void Per_class_prompts_need_one_row_per_class()
    {
        using var prompts = new PromptTokens(count: 2, dim: 4, classes: 3);

        Assert.Equal([3L, 6, 4], prompts.Insert(zeros(3, 4, 4), after: 1).shape);
        var error = Assert.Throws<ArgumentException>(() => prompts.Insert(zeros(5, 4, 4), after: 1));
        Assert.Contains("(3)", error.Message);
        Assert.Contains("rows are 5", error.Message);
    }

    [Theory]
    [InlineData(Reparam.Mlp)]
    [InlineData(Reparam.BiLstm)]
    public void Folding_keeps_the_prompts_and_drops_the_encoder(Reparam reparam)
    {
        manual_seed(2);
        using var prompts = new PromptTokens(count: 4, dim: 8, reparameterize: reparam, hidden: 6);
        Assert.Contains(prompts.state_dict().Keys, k => k.StartsWith("encoder.", StringComparison.Ordinal));
        using var before = prompts.Prompts().detach().clone();

        prompts.Fold();

        using var after = prompts.Prompts();
        Assert.True((before - after).abs().max().item<float>() < 1e-6);
        Assert.Equal(["ctx"], prompts.state_dict().Keys);
        Assert.Equal(Reparam.None, prompts.Reparameterization);
    }

    [Fact]
    public void The_reparameterised_prompts_train_through_the_encoder()
    {
        using var prompts = new PromptTokens(count: 2, dim: 4, reparameterize: Reparam.BiLstm);
        prompts.Prompts().sum().backward();

        Assert.All(prompts.parameters(), p => Assert.NotNull(p.grad));
    }

    [Fact]
    public void End_token_pooling_reads_the_first_end_token_shifted_by_the_prompts()
    {
        using var x = arange(2 * 6 * 1, dtype: float32).reshape(2, 6, 1);
        using var ids = tensor(new long[] { 1, 5, 2, 0, 1, 7, 7, 2 }, new long[] { 2, 4 });

        using var pooled = FeatureProjection.AtEndToken(x, ids, endToken: 2, offset: 2);

        // Row 0: end at 2 -> position 4; row 1: end at 3 -> position 5.
        Assert.Equal(new[] { 4f, 11f }, pooled.squeeze(1).data<float>().ToArray());
        var error = Assert.Throws<ArgumentException>(() => FeatureProjection.AtEndToken(x, tensor(new long[] { 1, 5, 0, 0, 1, 7, 7, 2 }, new long[] { 2, 4 }), 2, 2));
        Assert.Contains("Row 0", error.Message);
    }

    [Fact]
    public void A_causal_encoder_does_not_let_a_token_see_later_tokens()
    {
        manual_seed(3);
        using var encoder = new TransformerEncoder(dim: 8, depth: 2, heads: 2, mlpRatio: 2, causal: true);
        using var x = randn(1, 5, 8);
        using var changed = x.clone();
        changed[0, 4] = randn(8);

        using var a = encoder.forward(x);
        using var b = encoder.forward(changed);

        Assert.True((a.narrow(1, 0, 4) - b.narrow(1, 0, 4)).abs().max().item<float>() < 1e-6);
        Assert.True((a.narrow(1, 4, 1) - b.narrow(1, 4, 1)).abs().max().item<float>() > 1e-4);
    }

    [Fact]
    public void Contrastive_loss_is_low_for_matching_pairs_and_needs_square_logits()
    {
        var loss = new ContrastiveLoss();
        using var matched = eye(4) * 20;
        using var shuffled = matched.roll(1, 1);

        Assert.True(loss.Compute(matched).item<float>() < 1e-3);
        Assert.True(loss.Compute(shuffled).item<float>() > 10);
        Assert.Throws<ArgumentException>(() => loss.Compute(zeros(4, 3)));
    }

    [Fact]
    public void Cosine_logits_are_scaled_cosines()
    {
        using var logits = new CosineLogits(scale: 10, learnScale: false);
        using var a = tensor(new float[] { 1, 0, 0, 2 }, new long[] { 2, 2 });
        using var b = tensor(new float[] { 3, 0 }, new long[] { 1, 2 });

        Assert.Equal(new[] { 10f, 0f }, logits.forward(a, b).squeeze(1).data<float>().ToArray());
        var error = Assert.Throws<ArgumentException>(() => logits.forward(zeros(2, 3), zeros(2, 4)));
        Assert.Contains("[2,3]", error.Message);
    }
}
