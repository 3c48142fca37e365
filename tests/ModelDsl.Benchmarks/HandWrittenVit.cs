using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ModelDsl.Benchmarks;

/// <summary>
/// The same ViT written by hand in plain TorchSharp, the way a careful user would: the same layers
/// (Conv2d patch projection, CLS + 4 register tokens, a position table, 4 pre-norm blocks with fused
/// scaled-dot-product attention and a GELU MLP, a final LayerNorm, a linear head), the same shapes and
/// parameter count, a dispose scope per forward. No ModelDsl type is used.
/// </summary>
public sealed class HandWrittenVit : Module<Tensor, Tensor>
{
    public const int Dim = 64, Depth = 4, Heads = 4, Patch = 7, Registers = 4, Classes = 10;

#pragma warning disable IDE1006 // field names are the registered (timm) names
    private readonly Conv2d patch_embed;
    private Parameter cls_token;
    private Parameter reg_token;
    private Parameter pos_embed;
    private readonly ModuleList<Block> blocks = new();
    private readonly LayerNorm norm;
    private readonly Linear head;
#pragma warning restore IDE1006

    public HandWrittenVit() : base(nameof(HandWrittenVit))
    {
        patch_embed = Conv2d(1, Dim, kernel_size: Patch, stride: Patch);
        cls_token = Parameter(randn(1, 1, Dim) * 1e-6);
        reg_token = Parameter(randn(1, Registers, Dim) * 1e-6);
        pos_embed = Parameter(randn(1, 1 + Registers + 16, Dim) * 0.02);
        for (int i = 0; i < Depth; i++) blocks.Add(new Block());
        norm = LayerNorm(Dim, eps: 1e-6);
        head = Linear(Dim, Classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor image)
    {
        using var scope = NewDisposeScope();
        var b = image.shape[0];
        var x = patch_embed.forward(image).flatten(2).transpose(1, 2);                       // [B,16,D]
        x = cat(new[] { cls_token.expand(b, -1, -1), reg_token.expand(b, -1, -1), x }, 1);   // [B,21,D]
        x = x + pos_embed;
        foreach (var block in blocks) x = block.forward(x);
        x = norm.forward(x);
        return head.forward(x.select(1, 0)).MoveToOuterDisposeScope();                       // [B,10]
    }

    private sealed class Block : Module<Tensor, Tensor>
    {
#pragma warning disable IDE1006
        private readonly LayerNorm norm1 = LayerNorm(Dim, eps: 1e-6);
        private readonly Linear qkv = Linear(Dim, 3 * Dim);
        private readonly Linear proj = Linear(Dim, Dim);
        private readonly LayerNorm norm2 = LayerNorm(Dim, eps: 1e-6);
        private readonly Linear fc1 = Linear(Dim, 4 * Dim);
        private readonly GELU act = GELU();
        private readonly Linear fc2 = Linear(4 * Dim, Dim);
#pragma warning restore IDE1006

        public Block() : base(nameof(Block)) => RegisterComponents();

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var (b, n) = (x.shape[0], x.shape[1]);
            var parts = qkv.forward(norm1.forward(x)).reshape(b, n, 3, Heads, Dim / Heads).permute(2, 0, 3, 1, 4).unbind(0);
            var o = functional.scaled_dot_product_attention(parts[0], parts[1], parts[2]).transpose(1, 2).reshape(b, n, Dim);
            var h = x + proj.forward(o);
            var y = h + fc2.forward(act.forward(fc1.forward(norm2.forward(h))));
            return y.MoveToOuterDisposeScope();
        }
    }
}
