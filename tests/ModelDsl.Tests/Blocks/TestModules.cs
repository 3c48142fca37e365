using ModelDsl.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Tests.Blocks;

/// <summary>A parent that registers blocks under timm's names, as a generated model does.</summary>
internal sealed class TimmLikeHost : nn.Module<Tensor, Tensor>
{
    private readonly TransformerEncoder blocks;
    private readonly ClassifierHead head;

    public TimmLikeHost(int dim, int depth, int heads, int classes) : base(nameof(TimmLikeHost))
    {
        blocks = new TransformerEncoder(dim, depth, heads, 4.0);
        head = new ClassifierHead(dim, classes);
        register_module(nameof(blocks), blocks);
        register_module(nameof(head), head);
    }

    public TransformerEncoder Blocks => blocks;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return head.forward(Pooling.Cls(blocks.forward(x))).MoveToOuterDisposeScope();
    }
}
