using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Multi-head attention pooling with one learnable query (timm <c>AttentionPoolLatent</c>, <c>global_pool='map'</c>):
/// <c>[B,N,D] -> [B,D]</c>. Registered: <c>latent</c> <c>[1,1,D]</c>, <c>q</c>, <c>kv</c>, <c>proj</c>, <c>norm</c>, <c>mlp</c>.
/// </summary>
public sealed class AttentionPool : nn.Module<Tensor, Tensor>
{
    // Not readonly: Module.to() replaces parameters and assigns the field with the registered name.
    private Parameter latent;
    private readonly Linear q;
    private readonly Linear kv;
    private readonly Linear proj;
    private readonly LayerNorm norm;
    private readonly Mlp mlp;

    public AttentionPool(int dim, int heads, double mlpRatio = 4.0) : base(nameof(AttentionPool))
    {
        Attention.Validate(dim, heads, nameof(AttentionPool));
        var hidden = EncoderBlock.HiddenFeatures(dim, mlpRatio, nameof(AttentionPool));
        Dim = dim;
        Heads = heads;
        MlpRatio = mlpRatio;

        latent = new Parameter(empty(1, 1, dim));
        using (no_grad())
            Initialization.TruncatedNormal_(latent, std: Math.Pow(dim, -0.5));
        latent = (Parameter)latent.DetachFromDisposeScope();
        q = nn.Linear(dim, dim, hasBias: true);
        kv = nn.Linear(dim, 2L * dim, hasBias: true);
        proj = nn.Linear(dim, dim, hasBias: true);
        norm = nn.LayerNorm(dim, eps: EncoderBlock.NormEps);
        mlp = new Mlp(dim, hidden);

        register_parameter(nameof(latent), latent);
        register_module(nameof(q), q);
        register_module(nameof(kv), kv);
        register_module(nameof(proj), proj);
        register_module(nameof(norm), norm);
        register_module(nameof(mlp), mlp);
    }

    public int Dim { get; }
    public int Heads { get; }
    public double MlpRatio { get; }
    public int HeadDim => Dim / Heads;

    /// <summary><c>[B,N,D] -> [B,D]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim != 3 || x.shape[2] != Dim)
            throw new ArgumentException($"AttentionPool expects tokens [B,N,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
        var (b, n) = (x.shape[0], x.shape[1]);

        // Under Autocast the projections and the attention compute in the compute type; the norm and the
        // residual stay in the parameters' type, which is also the type of the result.
        using var scope = NewDisposeScope();
        var type = latent.dtype;
        var qLatent = latent.expand(new long[] { b, -1, -1 });                                   // [B,1,D]
        var query = Autocast.Linear(q, qLatent).reshape(b, 1, Heads, HeadDim).transpose(1, 2); // [B,H,1,hd]
        var keyValue = Autocast.Linear(kv, x).reshape(b, n, 2, Heads, HeadDim).permute(2, 0, 3, 1, 4).unbind(0); // 2 x [B,H,N,hd]
        var o = nn.functional.scaled_dot_product_attention(query, keyValue[0], keyValue[1]);   // [B,H,1,hd]
        o = o.transpose(1, 2).reshape(b, 1, Dim);
        o = Autocast.ToParameterType(Autocast.Linear(proj, o), type);
        o = o + mlp.ForwardCompute(norm.forward(o));
        return o.select(1, 0).MoveToOuterDisposeScope();
    }
}
