using System;
using System.Linq;
using ModelDsl.Text;

namespace ModelDsl.Tests.LanguageModel;

public sealed class TokenizerTests
{
    private static readonly string[] Texts =
    {
        "Hello world", "", " leading and  double  spaces\n\ttabs", "Ünïcödé: naïve café, 日本語, emoji 🙂!",
        "In the beginning God created the heaven and the earth.", "numbers 12345 and 3.14159", "<|endoftext|>",
    };

    [Fact]
    public void Gpt2_encodes_known_strings_to_gpt2s_ids()
    {
        var tokenizer = new Gpt2Tokenizer();
        Assert.Equal(new long[] { 15496, 995 }, tokenizer.Encode("Hello world"));
        Assert.Equal(new long[] { 50256 }, tokenizer.Encode("<|endoftext|>"));
        Assert.Equal(50257, tokenizer.VocabSize);
        Assert.Equal("Hello world", tokenizer.Decode(new long[] { 15496, 995 }));
    }

    [Fact]
    public void Gpt2_round_trips_every_text()
    {
        var tokenizer = new Gpt2Tokenizer();
        foreach (var text in Texts) {
            var ids = tokenizer.Encode(text);
            Assert.All(ids, id => Assert.InRange(id, 0, 50256));
            Assert.Equal(text, tokenizer.Decode(ids));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode(new long[] { 50257 }));
    }

    [Fact]
    public void Bytes_round_trip_and_are_utf8()
    {
        var tokenizer = new ByteTokenizer();
        foreach (var text in Texts)
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
        Assert.Equal(new long[] { 0xC3, 0xA9 }, tokenizer.Encode("é"));
        Assert.Equal("ab", tokenizer.Decode(new long[] { 97, ByteTokenizer.EndOfTextId, 98 }));
        Assert.Equal(257, tokenizer.VocabSize);
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode(new long[] { 300 }));
    }
}
