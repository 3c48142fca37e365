using System;
using ModelDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace UserStageExample;

/// <summary>
/// ChannelViT's patch embedding, written as a user's own stage: each channel of <c>[B,C,H,W]</c> is cut into its own
/// <c>(H/P)*(W/P)</c> patches by one shared single-channel projection, tagged with a learned per-channel embedding and
/// a position embedding shared across channels, giving <c>[B,C*(H/P)*(W/P),D]</c>. The library ships the same block
/// (<c>[ChannelPatchEmbedding]</c>); this one lives outside it and gets the same compile-time checks.
/// </summary>
/// <remarks>
/// The contract's left side binds C, H and W to the image the stage reads; P and D come from the member's
/// <c>Sizes</c>; the constructor receives all five by name. The parameters are declared in the order TorchSharp
/// lists them (the module's own first, then its submodules'), under the member's registered name
/// (<c>patch_embed</c>): the names the built-in uses.
/// </remarks>
[Stage("B,C,H,W -> B,C*(H/P)*(W/P),D")]
[StageParameter("channel_embed", "1,C,D", NoWeightDecay = true)]
[StageParameter("pos_embed", "1,(H/P)*(W/P),D", NoWeightDecay = true)]
[StageParameter("proj.weight", "D,1,P,P")]
[StageParameter("proj.bias", "D")]
public sealed class ChannelPatches : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d proj;
    // Not readonly: Module.to() replaces parameters and assigns the field of the registered name.
    private Parameter channel_embed;
    private Parameter pos_embed;
    private readonly int channels, dim, patches;

    public ChannelPatches(int C, int H, int W, int P, int D) : base(nameof(ChannelPatches))
    {
        (channels, dim, patches) = (C, D, H / P * (W / P));
        proj = nn.Conv2d(1, D, kernel_size: P, stride: P, bias: true);
        channel_embed = new Parameter(empty(1, C, D));
        pos_embed = new Parameter(empty(1, patches, D));
        using (no_grad())
        {
            nn.init.trunc_normal_(channel_embed, std: 0.02);
            nn.init.trunc_normal_(pos_embed, std: 0.02);
        }
        register_module(nameof(proj), proj);
        register_parameter(nameof(channel_embed), channel_embed);
        register_parameter(nameof(pos_embed), pos_embed);
    }

    public override Tensor forward(Tensor image)
    {
        var (b, c, h, w) = (image.shape[0], image.shape[1], image.shape[2], image.shape[3]);
        using var scope = NewDisposeScope();
        var x = proj.forward(image.reshape(b * c, 1, h, w));          // every channel its own image: [B*C,D,H/P,W/P]
        x = x.flatten(2).transpose(1, 2).reshape(b, c, patches, dim);  // [B,C,N,D]
        x = x + pos_embed.unsqueeze(1)                                 // positions shared across channels
              + channel_embed.unsqueeze(2);                            // one embedding per channel, shared across patches
        return x.reshape(b, c * patches, dim).MoveToOuterDisposeScope();
    }
}
