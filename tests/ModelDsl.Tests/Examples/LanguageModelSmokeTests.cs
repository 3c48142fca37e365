using System.Linq;
using LanguageModelExample;

namespace ModelDsl.Tests.Examples;

/// <summary>examples/LanguageModel end to end in smoke mode (two batches per run), and its corpus and task data.</summary>
public class LanguageModelSmokeTests
{
    [Fact]
    public void The_example_pretrains_samples_and_compares_the_four_methods()
    {
        var results = Experiment.Run(ExperimentOptions.Smoke);

        Assert.Equal(64, results.TrainWindows);
        Assert.True(results.BitsPerByteAfter < results.BitsPerByteBefore, $"{results.BitsPerByteBefore} -> {results.BitsPerByteAfter}");
        Assert.StartsWith("And God said", results.Sample);
        Assert.Equal(["zero-shot (pretrained LM)", "prompt tuning (16 vectors, LM frozen)", "prefix tuning (8 positions, LM frozen)", "full fine-tuning"],
            results.Task.Select(t => t.Method));
        // Trainable parameters: none, the prompt [16,64], the prefix [8, 2*2*64], the whole LM.
        Assert.Equal([0L, 16 * 64, 8 * 2 * 2 * 64, KjvLm.Summary.TotalParameters], results.Task.Select(t => t.TrainableParameters));
        Assert.All(results.Task, t => Assert.InRange(t.Accuracy, 0.0, 1.0));
    }

    [Fact]
    public void The_corpus_is_the_whole_king_james_version_and_the_task_is_balanced()
    {
        var verses = Corpus.Load();
        Assert.Equal(31_102, verses.Count);
        Assert.Equal("In the beginning God created the heaven and the earth.", verses[0].Text);
        Assert.Equal(23_145, verses.Count(v => v.OldTestament));   // Genesis..Malachi
        Assert.Equal("Revelation", verses[^1].Book);

        var (ids, labels) = Corpus.Task(verses, 10, new System.Random(1));
        Assert.Equal(new long[] { 20, Corpus.TaskTextBytes + 2 }, ids.shape);
        var label = labels.select(1, Corpus.TaskTextBytes + 1);
        Assert.Equal(10, label.eq(Corpus.Old).sum().item<long>());
        Assert.Equal(10, label.eq(Corpus.New).sum().item<long>());
        Assert.Equal(20 * (Corpus.TaskTextBytes + 1), labels.eq(-100).sum().item<long>());
        Assert.True(ids.select(1, Corpus.TaskTextBytes).eq('|').all().item<bool>());
    }
}
