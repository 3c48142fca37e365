using System;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// ChannelViT's patch embedding: every input channel is cut into <c>P×P</c> patches by one projection
/// shared by all channels, tagged with a learnable embedding of its channel, and given a position
/// embedding shared across channels: <c>[B,C,H,W] -> [B,C'*N,D]</c> with <c>N = (H/P)*(W/P)</c>, tokens
/// channel-major (all patches of the first embedded channel, then the next, ...), patches row-major.
/// The token of channel <c>c</c>, patch <c>n</c> is <c>proj(x[:,c])_n + pos_embed[n] + channel_embed[c]</c>.
/// </summary>
/// <remarks>
/// Registered: <c>proj</c> (a <c>Conv2d(1, D)</c> with kernel = stride = <c>P</c> and a bias),
/// <c>channel_embed</c> <c>[1,C,D]</c> and <c>pos_embed</c> <c>[1,N,D]</c> (both truncated normal, std 0.02).
/// Which channels are embedded (<c>C'</c> of them): <see cref="ActiveChannels"/> (all when null); in training
/// mode with <see cref="SampleChannels"/>, a random subset of those per call (hierarchical channel sampling).
/// </remarks>
public sealed class ChannelPatchEmbedding : nn.Module<Tensor, Tensor>
{
    /// <summary>Standard deviation of the truncated-normal initialisation of both tables.</summary>
    public const double EmbedInitStd = 0.02;

    // Field names equal registered names; the parameters are not readonly because Module.to()
    // replaces parameters and assigns the field with the registered name.
    private readonly Conv2d proj;
    private Parameter channel_embed;
    private Parameter pos_embed;
    private int[]? activeChannels;

    public ChannelPatchEmbedding(int channels, int patchSize, int dim, int patchesPerChannel, bool sampleChannels) : base(nameof(ChannelPatchEmbedding))
    {
        if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels), channels, "ChannelPatchEmbedding: the number of channels must be positive.");
        if (patchSize <= 0) throw new ArgumentOutOfRangeException(nameof(patchSize), patchSize, "ChannelPatchEmbedding: the patch size must be positive.");
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "ChannelPatchEmbedding: the embedding dimension must be positive.");
        if (patchesPerChannel <= 0) throw new ArgumentOutOfRangeException(nameof(patchesPerChannel), patchesPerChannel, "ChannelPatchEmbedding: the number of patches per channel must be positive.");

        Channels = channels;
        PatchSize = patchSize;
        Dim = dim;
        PatchesPerChannel = patchesPerChannel;
        SampleChannels = sampleChannels;

        proj = nn.Conv2d(1, dim, kernel_size: patchSize, stride: patchSize, bias: true);
        channel_embed = new Parameter(empty(1, channels, dim));
        pos_embed = new Parameter(empty(1, patchesPerChannel, dim));
        using (no_grad()) {
            Initialization.TruncatedNormal_(channel_embed, std: EmbedInitStd);
            Initialization.TruncatedNormal_(pos_embed, std: EmbedInitStd);
        }
        channel_embed = (Parameter)channel_embed.DetachFromDisposeScope();
        pos_embed = (Parameter)pos_embed.DetachFromDisposeScope();

        register_module(nameof(proj), proj);
        register_parameter(nameof(channel_embed), channel_embed);
        register_parameter(nameof(pos_embed), pos_embed);
    }

    public int Channels { get; }
    public int PatchSize { get; }
    public int Dim { get; }
    public int PatchesPerChannel { get; }
    public bool SampleChannels { get; }

    /// <summary>
    /// The channels that are embedded, in this order (null: all, in order). The input keeps all
    /// <see cref="Channels"/> channels; the others are ignored (evaluation with missing channels).
    /// With <see cref="SampleChannels"/> in training mode, the random subset is drawn from these.
    /// </summary>
    public int[]? ActiveChannels {
        get => activeChannels is null ? null : (int[])activeChannels.Clone();
        set {
            if (value is null) { activeChannels = null; return; }
            if (value.Length == 0)
                throw new ArgumentException("ChannelPatchEmbedding: ActiveChannels must name at least one channel (null means all).", nameof(value));
            foreach (var c in value)
                if (c < 0 || c >= Channels)
                    throw new ArgumentOutOfRangeException(nameof(value), c, $"ChannelPatchEmbedding: channel {c} is outside 0..{Channels - 1}.");
            if (value.Distinct().Count() != value.Length)
                throw new ArgumentException($"ChannelPatchEmbedding: ActiveChannels [{string.Join(",", value)}] names a channel twice.", nameof(value));
            activeChannels = (int[])value.Clone();
        }
    }

    /// <summary><c>[B,C,H,W] -> [B,C'*N,D]</c>, <c>C'</c> the number of embedded channels.</summary>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.ndim != 4)
            throw new ArgumentException($"ChannelPatchEmbedding expects an image [B,C,H,W] (rank 4); got rank {input.ndim} [{string.Join(",", input.shape)}].", nameof(input));
        var (b, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3]);
        if (c != Channels)
            throw new ArgumentException($"ChannelPatchEmbedding expects {Channels} channels; got {c} (input [{string.Join(",", input.shape)}]).", nameof(input));
        if (h % PatchSize != 0 || w % PatchSize != 0)
            throw new ArgumentException($"ChannelPatchEmbedding: the image size {h}x{w} is not divisible by the patch size {PatchSize}.", nameof(input));
        var n = (h / PatchSize) * (w / PatchSize);
        if (n != PatchesPerChannel)
            throw new ArgumentException(
                $"ChannelPatchEmbedding: a {h}x{w} image gives {n} patches per channel with patch size {PatchSize}; the position table has {PatchesPerChannel}.", nameof(input));

        var channels = ChooseChannels();
        long k = channels.Length;

        using var scope = NewDisposeScope();
        var index = tensor(channels, device: input.device);
        var x = input.index_select(1, index).reshape(b * k, 1, h, w);   // each channel its own image
        x = proj.forward(x);                                            // [B*C',D,H/P,W/P]
        x = x.flatten(2).transpose(1, 2).reshape(b, k, n, Dim);         // [B,C',N,D]
        x = x + pos_embed.unsqueeze(1)                                  // [1,1,N,D]: shared across channels
              + channel_embed.index_select(1, index).unsqueeze(2);      // [1,C',1,D]: shared across patches
        return x.reshape(b, k * n, Dim).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The channels the next call embeds. Hierarchical channel sampling (training mode with
    /// <see cref="SampleChannels"/>): <c>k ~ Uniform{1..C'}</c>, then <c>k</c> distinct channels, both from
    /// torch's default generator (so <c>torch.manual_seed</c> reproduces them), kept in the order of
    /// <see cref="ActiveChannels"/> (ascending when all are available).
    /// </summary>
    private long[] ChooseChannels()
    {
        var available = activeChannels ?? Enumerable.Range(0, Channels).ToArray();
        if (!SampleChannels || !training)
            return available.Select(c => (long)c).ToArray();

        using var scope = NewDisposeScope();
        var k = randint(1, available.Length + 1, new long[] { 1 }, dtype: ScalarType.Int64).item<long>();
        var picked = randperm(available.Length, dtype: ScalarType.Int64).narrow(0, 0, k).data<long>().ToArray();
        Array.Sort(picked);
        return picked.Select(i => (long)available[i]).ToArray();
    }
}
