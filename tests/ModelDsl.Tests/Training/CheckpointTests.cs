using System;
using System.IO;
using System.Linq;
using ModelDsl.Data;
using ModelDsl.Tests.Data;
using ModelDsl.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Training;

public class CheckpointTests : SingleThreadedTorch
{
    private static TrainOptions Quick(string output) => new()
    {
        Epochs = 3,
        BatchSize = 50,
        LearningRate = 3e-3,
        Device = CPU,
        OutputDirectory = output,
        ShowProgress = false,
        Log = TextWriter.Null,
        WriteCurves = false,
    };

    /// <summary>Passes the first <c>limit</c> bytes through, then fails like a full disk or a killed process.</summary>
    private sealed class FailingStream(Stream inner, long limit) : Stream
    {
        private long written;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            long room = limit - written;
            if (buffer.Length > room)
            {
                inner.Write(buffer[..(int)Math.Max(0, room)]);
                inner.Flush();
                written = limit;
                throw new IOException($"Injected fault: the write stopped after {limit} bytes.");
            }
            inner.Write(buffer);
            written += buffer.Length;
        }
    }

    private static void WithInterceptor(Func<Stream, Stream> interceptor, Action action)
    {
        Checkpoint.WriteInterceptor = interceptor;
        try { action(); }
        finally { Checkpoint.WriteInterceptor = null; }
    }

    [Fact]
    public void A_checkpoint_write_interrupted_midway_leaves_the_previous_checkpoint_loadable()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(200);
        torch.manual_seed(21);
        using var model = new TinyMlp(hidden: 8);
        var path = Path.Combine(dir.Path, "last.ckpt");

        // Epoch 1 writes last.ckpt and best.ckpt; epoch 2's last.ckpt write fails partway through the file.
        int writes = 0;
        var error = Assert.Throws<IOException>(() => WithInterceptor(
            stream => ++writes <= 2 ? stream : new FailingStream(stream, 3000),
            () => model.Fit(train, null, Quick(dir.Path))));

        Assert.Contains("Injected fault", error.Message);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories));   // the partial file was removed
        var info = Checkpoint.ReadInfo(path);                                                // hash verified
        Assert.Equal(4, info.Step);                                                          // epoch 1's state
        Assert.Single(info.Records);
        using var restored = new TinyMlp(hidden: 8);
        Checkpoint.Load(restored, path);
        Assert.All(restored.parameters(), p => Assert.False(p.isnan().any().item<bool>()));
        Assert.False(restored.parameters().Zip(model.parameters()).All(pq => pq.First.equal(pq.Second).all().item<bool>()),
            "the model trained on after epoch 1, the checkpoint did not change");
    }

    [Fact]
    public void A_model_checkpoint_write_that_fails_keeps_the_old_file_byte_for_byte()
    {
        using var dir = new TempDir();
        var path = dir.File("model.ckpt");
        torch.manual_seed(22);
        using var model = new TinyMlp(hidden: 4);
        Checkpoint.Save(model, path);
        var before = File.ReadAllBytes(path);
        using (no_grad()) foreach (var p in model.parameters()) p.add_(1.0);

        Assert.Throws<IOException>(() => WithInterceptor(s => new FailingStream(s, 100), () => Checkpoint.Save(model, path)));

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void A_damaged_or_truncated_checkpoint_is_refused_before_anything_is_loaded()
    {
        using var dir = new TempDir();
        var path = dir.File("model.ckpt");
        torch.manual_seed(23);
        using var model = new TinyMlp(hidden: 4);
        Checkpoint.Save(model, path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        using var other = new TinyMlp(hidden: 4);
        var before = other.parameters().Select(p => p.detach().clone()).ToList();

        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(other, path));

        Assert.Contains("SHA-256", e.Message);
        Assert.All(other.parameters().Zip(before), pair => Assert.True(pair.First.equal(pair.Second).all().item<bool>()));

        bytes[bytes.Length / 2] ^= 0xFF;   // one flipped bit in the tensors
        File.WriteAllBytes(path, bytes);
        Assert.Contains("SHA-256", Assert.Throws<InvalidDataException>(() => Checkpoint.Load(other, path)).Message);
    }

    [Fact]
    public void A_checkpoint_from_a_different_model_is_refused_with_the_names_and_shapes_that_differ()
    {
        using var dir = new TempDir();
        var path = dir.File("wide.ckpt");
        torch.manual_seed(24);
        using var wide = new TinyMlp(hidden: 32);
        Checkpoint.Save(wide, path);
        using var narrow = new TinyMlp(hidden: 16);
        var before = narrow.parameters().Select(p => p.detach().clone()).ToList();

        var e = Assert.Throws<CheckpointMismatchException>(() => Checkpoint.Load(narrow, path));

        Assert.Contains("body.fc1.weight: model [16,784], checkpoint [32,784]", e.Message);
        Assert.Contains("body.fc2.weight: model [10,16], checkpoint [10,32]", e.Message);
        Assert.Equal(3, e.ShapeMismatches.Count);   // fc1.weight, fc1.bias, fc2.weight (fc2.bias [10] fits)
        Assert.Empty(e.Missing);
        Assert.All(narrow.parameters().Zip(before), pair => Assert.True(pair.First.equal(pair.Second).all().item<bool>()));

        // A model of another architecture: the names that are missing and unexpected.
        using var vit = new ModelDsl.Tests.Generated.TinyVit(CPU);
        var other = Assert.Throws<CheckpointMismatchException>(() => Checkpoint.Load(vit, path));
        Assert.Contains("was written by TinyMlp", other.Message);
        Assert.Contains("In the model but not in the checkpoint", other.Message);
        Assert.Contains("  cls_token [1,1,32]", other.Message);
        Assert.Contains("In the checkpoint but not in the model", other.Message);
        Assert.Contains("  body.fc1.weight [32,784]", other.Message);
    }

    [Fact]
    public void Resuming_with_a_checkpoint_of_another_model_is_refused_before_training()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(100);
        torch.manual_seed(25);
        using (var wide = new TinyMlp(hidden: 12))
            wide.Fit(train, null, Quick(dir.Path) with { Epochs = 1 });
        using var narrow = new TinyMlp(hidden: 6);

        var e = Assert.Throws<CheckpointMismatchException>(() =>
            narrow.Fit(train, null, Quick(dir.Path) with { Epochs = 1, ResumeFrom = dir.Path }));

        Assert.Contains("body.fc1.weight: model [6,784], checkpoint [12,784]", e.Message);
    }

    [Fact]
    public void Checkpoint_info_reports_the_position_and_the_metrics_so_far()
    {
        using var dir = new TempDir();
        using var train = TestData.EmbeddedTrain.Take(150);
        torch.manual_seed(26);
        using var model = new TinyMlp(hidden: 4);

        var report = model.Fit(train, null, Quick(dir.Path) with { Epochs = 2 });

        var info = Checkpoint.ReadInfo(report.CheckpointPath!);
        Assert.Equal("training", info.Kind);
        Assert.Equal("TinyMlp", info.ModelType);
        Assert.Equal(6, info.Step);
        Assert.Equal(3, info.Epoch);          // the next epoch to run
        Assert.Equal(0, info.BatchInEpoch);
        Assert.True(info.Finished);
        Assert.Equal(report.Epochs.Select(r => r.TrainLoss), info.Records.Select(r => r.TrainLoss));
        Assert.Contains(info.ModelTensors, t => t.Name == "body.fc1.weight" && t.Shape.SequenceEqual(new long[] { 4, 784 }));
    }
}
