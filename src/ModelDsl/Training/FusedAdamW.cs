using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>
/// AdamW (decoupled weight decay, as <c>torch.optim.AdamW</c>) over contiguous buffers: the trainable
/// parameters of each <see cref="ParameterGroup"/> are moved into one flat tensor (each parameter keeps
/// its identity and becomes a view of it), and their gradients are views of one flat gradient tensor
/// that backward accumulates into. A step is then a handful of operations per group instead of about
/// ten per parameter, and gradient clipping is one norm and one scale per group.
/// </summary>
/// <remarks>
/// <para>The update is PyTorch's AdamW, step for step: <c>p *= 1 - lr*wd</c>; <c>m = b1*m + (1-b1)*g</c>;
/// <c>v = b2*v + (1-b2)*g*g</c>; <c>p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)</c>.
/// One difference: a trainable parameter that gets no gradient in a step is treated as having a zero
/// gradient (its moments decay and weight decay applies) instead of being skipped.</para>
/// <para>Keep the gradients where the optimizer put them: do not set <c>grad</c> of the parameters to
/// null (for example with a <c>zero_grad</c> that frees them) while this optimizer is in use; call
/// <see cref="ZeroGrad"/>. Moving the module to another device afterwards replaces its parameters and
/// detaches them from this optimizer.</para>
/// </remarks>
public sealed class FusedAdamW : IDisposable
{
    private readonly Bucket[] _buckets;
    private readonly Dictionary<string, (Bucket Bucket, long Offset, long Count, long[] Shape)> _byName;
    private bool _disposed;

    /// <summary>Creates the optimizer and re-homes the trainable parameters of <paramref name="groups"/>.</summary>
    /// <param name="groups">The parameter groups (only trainable parameters are in them).</param>
    /// <param name="betas">The moment coefficients.</param>
    /// <param name="epsilon">Added to the denominator.</param>
    /// <exception cref="InvalidOperationException">Nothing is trainable.</exception>
    public FusedAdamW(ParameterGroups groups, (double Beta1, double Beta2) betas, double epsilon = 1e-8)
    {
        ArgumentNullException.ThrowIfNull(groups);
        if (groups.Groups.Count == 0)
            throw new InvalidOperationException(
                $"Nothing to train: all {groups.Report.FrozenTensors} parameter tensors ({groups.Report.FrozenCount:N0} elements) are frozen.");
        if (betas.Beta1 is < 0 or >= 1 || betas.Beta2 is < 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(betas), betas, "Each beta must be in [0, 1).");
        if (!(epsilon >= 0)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "Epsilon must be >= 0.");
        Beta1 = betas.Beta1;
        Beta2 = betas.Beta2;
        Epsilon = epsilon;

        var buckets = new List<Bucket>();
        _byName = new Dictionary<string, (Bucket, long, long, long[])>(StringComparer.Ordinal);
        using (no_grad())
        {
            foreach (var group in groups.Groups)
            {
                // One buffer per (group, dtype, device): a flat tensor has one of each.
                foreach (var part in group.Parameters.GroupBy(p => (p.Parameter.dtype, Device: p.Parameter.device.ToString())))
                {
                    var members = part.ToArray();
                    var bucket = new Bucket(group, members);
                    buckets.Add(bucket);
                    long offset = 0;
                    foreach (var (name, parameter) in members)
                    {
                        long count = parameter.numel();
                        _byName[name] = (bucket, offset, count, parameter.shape);
                        offset += count;
                    }
                }
            }
        }
        _buckets = buckets.ToArray();
        Parameters = _buckets.SelectMany(b => b.Members.Select(m => m.Parameter)).ToArray();
        Names = _buckets.SelectMany(b => b.Members.Select(m => m.Name)).ToArray();
    }

    /// <summary>First-moment coefficient.</summary>
    public double Beta1 { get; }

    /// <summary>Second-moment coefficient.</summary>
    public double Beta2 { get; }

    /// <summary>Added to the denominator.</summary>
    public double Epsilon { get; }

    /// <summary>Optimizer steps taken (restored by <see cref="LoadState"/>).</summary>
    public long StepCount { get; private set; }

    /// <summary>The parameters updated, in group order.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The registered names of <see cref="Parameters"/>, in the same order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The number of flat buffers (one per group, dtype and device).</summary>
    public int BufferCount => _buckets.Length;

    /// <summary>Sets every gradient to zero (one operation per buffer).</summary>
    public void ZeroGrad()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var scope = NewDisposeScope();
        foreach (var b in _buckets) b.Grads.zero_();
    }

    /// <summary>The global L2 norm of all gradients, as a scalar fp32 tensor on the device (no host sync).</summary>
    public Tensor GradNorm()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor total = _buckets.Length == 1
            ? linalg.vector_norm(_buckets[0].Grads, 2).to_type(ScalarType.Float32)
            : linalg.vector_norm(stack(_buckets.Select(b => linalg.vector_norm(b.Grads, 2).to_type(ScalarType.Float32)).ToArray()), 2);
        return total.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Scales all gradients so that their global L2 norm is at most <paramref name="maxNorm"/>, like
    /// <c>clip_grad_norm_</c> (coefficient <c>max_norm / (norm + 1e-6)</c> clamped to 1), without a
    /// host sync. Returns the norm before clipping.
    /// </summary>
    public Tensor ClipGradNorm(double maxNorm)
    {
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "The maximum norm must be positive.");
        var total = GradNorm();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var coefficient = (total + 1e-6).reciprocal_().mul_(maxNorm).clamp_max_(1.0);
        foreach (var b in _buckets)
            b.Grads.mul_(b.Grads.dtype == coefficient.dtype ? coefficient : coefficient.to_type(b.Grads.dtype));
        return total;
    }

    /// <summary>One AdamW step at base rate <paramref name="learningRate"/> (each group scales it by its multiplier).</summary>
    public void Step(double learningRate)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!(learningRate >= 0) || double.IsInfinity(learningRate))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "The learning rate must be >= 0 and finite.");
        StepCount++;
        double biasCorrection1 = 1 - Math.Pow(Beta1, StepCount);
        double biasCorrection2 = 1 - Math.Pow(Beta2, StepCount);
        double sqrtBiasCorrection2 = Math.Sqrt(biasCorrection2);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        foreach (var b in _buckets)
        {
            double lr = learningRate * b.Group.LearningRateScale;
            double decay = b.Group.WeightDecay;
            if (decay != 0) b.Params.mul_(1 - lr * decay);
            b.ExpAvg.mul_(Beta1).add_(b.Grads, alpha: 1 - Beta1);
            b.ExpAvgSq.mul_(Beta2).addcmul_(b.Grads, b.Grads, value: 1 - Beta2);
            var denominator = b.ExpAvgSq.sqrt().div_(sqrtBiasCorrection2).add_(Epsilon);
            b.Params.addcdiv_(b.ExpAvg, denominator, value: -lr / biasCorrection1);
        }
    }

    /// <summary>
    /// The optimizer state by parameter name, for checkpoints: <c>exp_avg/NAME</c> and
    /// <c>exp_avg_sq/NAME</c> (views of the buffers, shaped like the parameters).
    /// </summary>
    public IEnumerable<(string Name, Tensor Tensor)> StateTensors()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var kind in new[] { "exp_avg", "exp_avg_sq" })
        {
            foreach (var b in _buckets)
            {
                var buffer = kind == "exp_avg" ? b.ExpAvg : b.ExpAvgSq;
                foreach (var (name, offset, count, shape) in b.Layout)
                    yield return ($"{kind}/{name}", buffer.narrow(0, offset, count).view(shape));
            }
        }
    }

    /// <summary>
    /// Restores the step count and the moments saved by <see cref="StateTensors"/>. Throws, changing
    /// nothing, when the names or shapes differ from this optimizer's parameters.
    /// </summary>
    public void LoadState(long stepCount, IReadOnlyDictionary<string, Tensor> state)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentOutOfRangeException.ThrowIfNegative(stepCount);
        var problems = new List<string>();
        foreach (var name in Names)
        {
            foreach (var kind in new[] { "exp_avg", "exp_avg_sq" })
            {
                var key = $"{kind}/{name}";
                if (!state.TryGetValue(key, out var t)) problems.Add($"missing {key}");
                else if (!t.shape.SequenceEqual(_byName[name].Shape))
                    problems.Add($"{key} has shape [{string.Join(",", t.shape)}], the parameter [{string.Join(",", _byName[name].Shape)}]");
            }
        }
        var expected = Names.SelectMany(n => new[] { $"exp_avg/{n}", $"exp_avg_sq/{n}" }).ToHashSet(StringComparer.Ordinal);
        problems.AddRange(state.Keys.Where(k => !expected.Contains(k)).Select(k => $"unexpected {k} (not a trainable parameter now)"));
        if (problems.Count > 0)
            throw new InvalidOperationException(
                "The optimizer state does not fit the trainable parameters (was something frozen or unfrozen since?): " + string.Join("; ", problems) + ".");

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        foreach (var name in Names)
        {
            var (bucket, offset, count, _) = _byName[name];
            bucket.ExpAvg.narrow(0, offset, count).copy_(state[$"exp_avg/{name}"].flatten());
            bucket.ExpAvgSq.narrow(0, offset, count).copy_(state[$"exp_avg_sq/{name}"].flatten());
        }
        StepCount = stepCount;
    }

    /// <summary>Frees the buffers of the optimizer state (the parameters keep their storage).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var b in _buckets) b.Dispose();
    }

    private sealed class Bucket : IDisposable
    {
        public Bucket(ParameterGroup group, (string Name, Parameter Parameter)[] members)
        {
            Group = group;
            Members = members;
            var first = members[0].Parameter;
            long total = members.Sum(m => m.Parameter.numel());
            Params = empty(total, first.dtype, first.device).DetachFromDisposeScope();
            Grads = zeros(total, first.dtype, first.device).DetachFromDisposeScope();
            ExpAvg = zeros(total, first.dtype, first.device).DetachFromDisposeScope();
            ExpAvgSq = zeros(total, first.dtype, first.device).DetachFromDisposeScope();
            var layout = new List<(string, long, long, long[])>();
            long offset = 0;
            using var scope = NewDisposeScope();
            foreach (var (name, parameter) in members)
            {
                long count = parameter.numel();
                var shape = parameter.shape;
                Params.narrow(0, offset, count).copy_(parameter.detach().reshape(count));
                // The parameter keeps its identity (module fields, registrations) and now lives in the buffer.
                parameter.set_(Params.narrow(0, offset, count).view(shape));
                var grad = Grads.narrow(0, offset, count).view(shape);
                parameter.grad = grad;
                layout.Add((name, offset, count, shape));
                offset += count;
            }
            Layout = layout;
        }

        public ParameterGroup Group { get; }
        public (string Name, Parameter Parameter)[] Members { get; }
        public IReadOnlyList<(string Name, long Offset, long Count, long[] Shape)> Layout { get; }
        public Tensor Params { get; }
        public Tensor Grads { get; }
        public Tensor ExpAvg { get; }
        public Tensor ExpAvgSq { get; }

        public void Dispose()
        {
            ExpAvg.Dispose();
            ExpAvgSq.Dispose();
            // Params and Grads stay alive through the parameters' views; drop only our handles.
            Params.Dispose();
            Grads.Dispose();
        }
    }
}
