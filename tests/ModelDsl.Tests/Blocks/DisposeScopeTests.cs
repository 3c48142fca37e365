using System;
using System.Collections.Generic;
using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Blocks;

public class DisposeScopeTests
{
    public DisposeScopeTests() => torch.manual_seed(5);

    private static long Live => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    public static IEnumerable<object[]> Calls()
    {
        yield return ["PatchEmbedding", 4];
        yield return ["Attention", 3];
        yield return ["Mlp", 3];
        yield return ["EncoderBlock", 3];
        yield return ["TransformerEncoder", 3];
        yield return ["ClassifierHead", 3];
        yield return ["AttentionPool", 3];
        yield return ["Prepend", 3];
        yield return ["Cls", 3];
        yield return ["AveragePatches", 3];
    }

    private static Func<Tensor, Tensor> Make(string name, List<IDisposable> owned)
    {
        T Own<T>(T m) where T : IDisposable { owned.Add(m); return m; }
        switch (name) {
            case "PatchEmbedding": { var m = Own(new PatchEmbedding(1, 4, 8)); return m.forward; }
            case "Attention": { var m = Own(new Attention(8, 2)); return m.forward; }
            case "Mlp": { var m = Own(new Mlp(8, 16)); return m.forward; }
            case "EncoderBlock": { var m = Own(new EncoderBlock(8, 2, 2.0)); return m.forward; }
            case "TransformerEncoder": { var m = Own(new TransformerEncoder(8, 2, 2, 2.0)); return m.forward; }
            case "ClassifierHead": { var m = Own(new ClassifierHead(8, 3)); return m.forward; }
            case "AttentionPool": { var m = Own(new AttentionPool(8, 2)); return m.forward; }
            case "Prepend": { var a = Own(Tokens.Create(1, 8)); var b = Own(Tokens.Create(2, 8)); return x => Tokens.Prepend(x, a, b); }
            case "Cls": return Pooling.Cls;
            case "AveragePatches": return x => Pooling.AveragePatches(x, 1);
            default: throw new ArgumentException(name);
        }
    }

    [Theory]
    [MemberData(nameof(Calls))]
    public void Forward_leaves_only_its_result_alive(string name, int rank)
    {
        var owned = new List<IDisposable>();
        try {
            var forward = Make(name, owned);
            using var x = rank == 4 ? randn(2, 1, 8, 8, requires_grad: true) : randn(2, 5, 8, requires_grad: true);

            var before = Live;
            var y = forward(x);
            Assert.Equal(before + 1, Live);   // intermediates were disposed, the result was not
            Assert.False(y.IsInvalid);
            y.Dispose();

            // Inside a caller's scope the result belongs to that scope.
            Tensor z;
            using (NewDisposeScope()) {
                z = forward(x);
                z.sum().backward();
                Assert.False(z.IsInvalid);
            }
            Assert.True(z.IsInvalid);
            Assert.Equal(before, Live);
        } finally {
            foreach (var d in owned) d.Dispose();
        }
    }

    [Fact]
    public void CrossEntropy_compute_leaves_only_its_result_alive()
    {
        using var logits = randn(4, 3);
        using var target = tensor(new long[] { 0, 1, 2, 1 });
        var before = Live;
        using (var loss = new CrossEntropyLoss(0.1).Compute(logits, target))
            Assert.Equal(before + 1, Live);
        Assert.Equal(before, Live);
    }
}
