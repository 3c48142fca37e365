using System;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Query-only attention through an existing <see cref="Attention"/> (VQT): the queries are projected with
/// the first <c>D</c> rows of its <c>qkv</c> weight, the context tokens with the remaining <c>2D</c> rows
/// (keys and values), and the result goes through its <c>proj</c>. No new parameters; the context tokens
/// are not changed and do not attend to the queries.
/// </summary>
internal static class QueryAttention
{
    /// <summary><c>queries [B,T,D]</c> (already normalised), <c>context [B,N,D]</c> (already normalised) <c>-> [B,T,D]</c>.</summary>
    internal static Tensor Attend(Attention attn, Tensor queries, Tensor context)
    {
        // Attention keeps qkv and proj private; they are read through the registered children.
        var children = attn.named_children().ToDictionary(c => c.name, c => c.module);
        var qkv = (Linear)children["qkv"];
        var proj = (Linear)children["proj"];
        var (d, heads, hd) = (attn.Dim, attn.Heads, attn.HeadDim);
        var (b, t, n) = (queries.shape[0], queries.shape[1], context.shape[1]);

        using var scope = NewDisposeScope();
        var weight = qkv.weight ?? throw new InvalidOperationException("Attention.qkv has no weight.");
        var bias = qkv.bias;
        var query = nn.functional.linear(queries, weight.narrow(0, 0, d), bias?.narrow(0, 0, d))
            .reshape(b, t, heads, hd).transpose(1, 2);                                                   // [B,H,T,hd]
        var keyValue = nn.functional.linear(context, weight.narrow(0, d, 2L * d), bias?.narrow(0, d, 2L * d))
            .reshape(b, n, 2, heads, hd).permute(2, 0, 3, 1, 4).unbind(0);                                // 2 x [B,H,N,hd]
        var o = nn.functional.scaled_dot_product_attention(query, keyValue[0], keyValue[1]);           // [B,H,T,hd]
        o = o.transpose(1, 2).reshape(b, t, d);
        return proj.forward(o).MoveToOuterDisposeScope();
    }
}
