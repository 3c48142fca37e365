using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>
/// Learnable context tokens placed into a token sequence (CoOp; PRE and P-tuning with a
/// reparameterisation encoder). The raw vectors <c>ctx</c> are <c>[Count,D]</c>, or
/// <c>[Classes,Count,D]</c> with one set per class; an encoder, if any, maps them to the prompts
/// (<c>ctx + encoder(ctx)</c> with a residual). <see cref="Fold"/> writes the encoded prompts into
/// <c>ctx</c> and drops the encoder, so a saved model holds plain tokens. Registered: <c>ctx</c>,
/// and <c>encoder.*</c> while there is one.
/// </summary>
public sealed class PromptTokens : nn.Module<Tensor, Tensor>
{
    /// <summary>Standard deviation of the random initialisation (CoOp: normal, std 0.02).</summary>
    public const double InitStd = 0.02;

    // Not readonly: Module.to() replaces parameters and assigns the field with the registered name.
    private Parameter ctx;
    private nn.Module<Tensor, Tensor>? encoder;

    public PromptTokens(int count, int dim, int classes = 0, Reparam reparameterize = Reparam.None, int hidden = 0, bool residual = true)
        : base(nameof(PromptTokens))
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "PromptTokens: the prompt count must be positive.");
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "PromptTokens: the width must be positive.");
        if (classes < 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, "PromptTokens: the class count must be 0 (shared prompts) or positive.");
        Count = count;
        Dim = dim;
        Classes = classes;
        Residual = residual;
        Reparameterization = reparameterize;
        var shape = classes > 0 ? new long[] { classes, count, dim } : new long[] { count, dim };
        ctx = new Parameter(empty(shape));
        using (no_grad())
            nn.init.normal_(ctx, 0, InitStd);
        ctx = (Parameter)ctx.DetachFromDisposeScope();
        register_parameter(nameof(ctx), ctx);
        var h = hidden > 0 ? hidden : dim;
        encoder = reparameterize switch
        {
            Reparam.None => null,
            Reparam.Mlp => nn.Sequential(("0", nn.Linear(dim, h)), ("1", nn.ReLU()), ("2", nn.Linear(h, dim))),
            Reparam.BiLstm => new BiLstmEncoder(dim, h),
            _ => throw new ArgumentOutOfRangeException(nameof(reparameterize), reparameterize, "PromptTokens: unknown reparameterisation."),
        };
        if (encoder is not null)
            register_module(nameof(encoder), encoder);
    }

    public int Count { get; }
    public int Dim { get; }
    /// <summary>0 for one set shared by all classes, else the number of per-class sets.</summary>
    public int Classes { get; }
    public bool Residual { get; }
    /// <summary>The encoder in use; <see cref="Reparam.None"/> after <see cref="Fold"/>.</summary>
    public Reparam Reparameterization { get; private set; }

    /// <summary>The prompt vectors: <c>[Count,D]</c>, or <c>[Classes,Count,D]</c>.</summary>
    public Tensor Prompts()
    {
        if (encoder is null)
            return ctx.alias();
        using var scope = NewDisposeScope();
        var sequence = Classes > 0 ? (Tensor)ctx : ctx.unsqueeze(0);
        var encoded = encoder.forward(sequence);
        if (Residual) encoded = sequence + encoded;
        return (Classes > 0 ? encoded : encoded.squeeze(0)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Inserts the prompts into <paramref name="x"/> <c>[R,T,D]</c> after the
    /// position given at construction (1: after the start token) <c>-> [R,T+Count,D]</c>. Per-class prompts need
    /// <c>R = Classes</c> (row r gets class r's prompts).
    /// </summary>
    public override Tensor forward(Tensor x) => Insert(x, after: 1);

    /// <inheritdoc cref="forward"/>
    public Tensor Insert(Tensor x, int after)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim != 3 || x.shape[2] != Dim)
            throw new ArgumentException($"PromptTokens expects tokens [R,T,{Dim}]; got [{string.Join(",", x.shape)}].", nameof(x));
        if (Classes > 0 && x.shape[0] != Classes)
            throw new ArgumentException($"PromptTokens has one prompt set per class ({Classes}); the token rows are {x.shape[0]}, one per class expected.", nameof(x));
        if (after < 0 || after > x.shape[1])
            throw new ArgumentOutOfRangeException(nameof(after), after, $"PromptTokens: the insert position must lie in 0..{x.shape[1]}.");
        using var scope = NewDisposeScope();
        var prompts = Prompts();
        if (Classes == 0) prompts = prompts.unsqueeze(0).expand(x.shape[0], -1, -1);
        var result = cat(new[] { x.narrow(1, 0, after), prompts.to(x.dtype), x.narrow(1, after, x.shape[1] - after) }, 1);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Sets the raw vectors to given token embeddings <c>[Count,D]</c> (CoOp's "a photo of a" initialisation), for every class.</summary>
    public void InitializeFrom(Tensor embeddings)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        if (embeddings.ndim != 2 || embeddings.shape[0] != Count || embeddings.shape[1] != Dim)
            throw new ArgumentException($"PromptTokens.InitializeFrom expects embeddings [{Count},{Dim}]; got [{string.Join(",", embeddings.shape)}].", nameof(embeddings));
        using var _ = no_grad();
        ctx.copy_(Classes > 0 ? embeddings.unsqueeze(0).expand(Classes, -1, -1) : embeddings);
    }

    /// <summary>
    /// Replaces the raw vectors by the encoded prompts and removes the encoder: the output stays the
    /// same, and the module (and a saved state_dict) holds only <c>ctx</c>, the plain tokens.
    /// </summary>
    public void Fold()
    {
        if (encoder is null) return;
        using (no_grad()) {
            using var prompts = Prompts();
            ctx.copy_(prompts);
        }
        var old = encoder;
        encoder = null;
        _internal_submodules.Remove(nameof(encoder));
        old.Dispose();
        Reparameterization = Reparam.None;
    }

    // P-tuning's prompt encoder: a bidirectional LSTM over the prompt sequence and a linear map of both directions back to the width.
    private sealed class BiLstmEncoder : nn.Module<Tensor, Tensor>
    {
        private readonly LSTM lstm;
        private readonly Linear proj;

        public BiLstmEncoder(int dim, int hidden) : base(nameof(BiLstmEncoder))
        {
            lstm = nn.LSTM(dim, hidden, numLayers: 1, batchFirst: true, bidirectional: true);
            proj = nn.Linear(2L * hidden, dim);
            register_module(nameof(lstm), lstm);
            register_module(nameof(proj), proj);
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var (output, _, _) = lstm.forward(x);
            return proj.forward(output).MoveToOuterDisposeScope();
        }
    }
}
