using System.Collections.Generic;
using System.Linq;

namespace ModelDsl.Tests.Weights;

/// <summary>
/// The state_dict keys and shapes timm's <c>VisionTransformer</c> has for an architecture, written out from
/// timm's <c>vision_transformer.py</c> (not from our code), so the tests compare against timm itself.
/// </summary>
internal static class TimmNames
{
    public static IReadOnlyList<(string Name, long[] Shape)> VisionTransformer(
        int inChannels, int patch, int dim, int depth, double mlpRatio, int patches, int classes,
        bool classToken, int regTokens, bool noEmbedClass, string globalPool, double? attnPoolMlpRatio = null)
    {
        var hidden = (long)(dim * mlpRatio);
        var list = new List<(string, long[])>();
        if (classToken) list.Add(("cls_token", [1, 1, dim]));
        if (regTokens > 0) list.Add(("reg_token", [1, regTokens, dim]));
        var prefix = (classToken ? 1 : 0) + regTokens;
        list.Add(("pos_embed", [1, noEmbedClass ? patches : patches + prefix, dim]));
        list.Add(("patch_embed.proj.weight", [dim, inChannels, patch, patch]));
        list.Add(("patch_embed.proj.bias", [dim]));
        for (var i = 0; i < depth; i++)
        {
            var b = $"blocks.{i}.";
            list.Add((b + "norm1.weight", [dim]));
            list.Add((b + "norm1.bias", [dim]));
            list.Add((b + "attn.qkv.weight", [3L * dim, dim]));
            list.Add((b + "attn.qkv.bias", [3L * dim]));
            list.Add((b + "attn.proj.weight", [dim, dim]));
            list.Add((b + "attn.proj.bias", [dim]));
            list.Add((b + "norm2.weight", [dim]));
            list.Add((b + "norm2.bias", [dim]));
            list.Add((b + "mlp.fc1.weight", [hidden, dim]));
            list.Add((b + "mlp.fc1.bias", [hidden]));
            list.Add((b + "mlp.fc2.weight", [dim, hidden]));
            list.Add((b + "mlp.fc2.bias", [dim]));
        }
        // timm: use_fc_norm = global_pool == 'avg'; norm is Identity then, fc_norm a LayerNorm.
        if (globalPool == "avg")
        {
            list.Add(("fc_norm.weight", [dim]));
            list.Add(("fc_norm.bias", [dim]));
        }
        else
        {
            list.Add(("norm.weight", [dim]));
            list.Add(("norm.bias", [dim]));
        }
        if (globalPool == "map")
        {
            // AttentionPoolLatent(embed_dim, num_heads, mlp_ratio): latent [1,1,D], q, kv, proj, norm, mlp.
            var poolHidden = (long)(dim * (attnPoolMlpRatio ?? mlpRatio));
            list.Add(("attn_pool.latent", [1, 1, dim]));
            list.Add(("attn_pool.q.weight", [dim, dim]));
            list.Add(("attn_pool.q.bias", [dim]));
            list.Add(("attn_pool.kv.weight", [2L * dim, dim]));
            list.Add(("attn_pool.kv.bias", [2L * dim]));
            list.Add(("attn_pool.proj.weight", [dim, dim]));
            list.Add(("attn_pool.proj.bias", [dim]));
            list.Add(("attn_pool.norm.weight", [dim]));
            list.Add(("attn_pool.norm.bias", [dim]));
            list.Add(("attn_pool.mlp.fc1.weight", [poolHidden, dim]));
            list.Add(("attn_pool.mlp.fc1.bias", [poolHidden]));
            list.Add(("attn_pool.mlp.fc2.weight", [dim, poolHidden]));
            list.Add(("attn_pool.mlp.fc2.bias", [dim]));
        }
        list.Add(("head.weight", [classes, dim]));
        list.Add(("head.bias", [classes]));
        return list;
    }

    /// <summary>timm <c>VisionTransformer(img_size=28, patch_size=7, in_chans=1, embed_dim=32, depth=2, num_heads=4, reg_tokens=2, num_classes=10)</c>.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> TinyVit { get; } =
        VisionTransformer(1, 7, 32, 2, 4.0, 16, 10, classToken: true, regTokens: 2, noEmbedClass: false, globalPool: "token");

    /// <summary>timm <c>VisionTransformer(..., embed_dim=32, depth=2, num_heads=2, class_token=False, no_embed_class=True, global_pool='avg')</c>.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> FrozenEncoderVit { get; } =
        VisionTransformer(1, 7, 32, 2, 4.0, 16, 10, classToken: false, regTokens: 0, noEmbedClass: true, globalPool: "avg");

    /// <summary>
    /// timm <c>VisionTransformer(img_size=32, patch_size=8, in_chans=3, embed_dim=48, depth=1, num_heads=3, mlp_ratio=2,
    /// class_token=False, reg_tokens=4, global_pool='map', num_classes=5)</c>, except that our attention pool's MLP
    /// uses ratio 4 where timm passes the model's <c>mlp_ratio</c> (see docs/weights.md).
    /// </summary>
    public static IReadOnlyList<(string Name, long[] Shape)> MapPooledVit { get; } =
        VisionTransformer(3, 8, 48, 1, 2.0, 16, 5, classToken: false, regTokens: 4, noEmbedClass: false, globalPool: "map");

    public static IEnumerable<string> Names(this IReadOnlyList<(string Name, long[] Shape)> list) => list.Select(e => e.Name);
}
