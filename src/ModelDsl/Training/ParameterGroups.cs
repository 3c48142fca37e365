using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>One registered parameter as the optimizer setup sees it.</summary>
/// <param name="Name">The registered (state_dict) name, e.g. <c>blocks.0.attn.qkv.weight</c>.</param>
/// <param name="Shape">The parameter's shape.</param>
/// <param name="Count">The number of elements.</param>
/// <param name="Trainable">Whether it requires a gradient (and so reaches the optimizer).</param>
/// <param name="WeightDecay">Whether weight decay applies (only for trainable parameters).</param>
public sealed record ParameterInfo(string Name, long[] Shape, long Count, bool Trainable, bool WeightDecay);

/// <summary>The trainable/frozen parameter counts of a model, like PEFT's <c>print_trainable_parameters()</c>.</summary>
public sealed class ParameterReport
{
    /// <summary>Creates a report from per-parameter entries.</summary>
    public ParameterReport(IReadOnlyList<ParameterInfo> parameters)
    {
        Parameters = parameters;
    }

    /// <summary>Every registered parameter, in registration order.</summary>
    public IReadOnlyList<ParameterInfo> Parameters { get; }

    /// <summary>Trainable elements.</summary>
    public long TrainableCount => Parameters.Where(p => p.Trainable).Sum(p => p.Count);

    /// <summary>Frozen elements.</summary>
    public long FrozenCount => Parameters.Where(p => !p.Trainable).Sum(p => p.Count);

    /// <summary>Trainable tensors.</summary>
    public int TrainableTensors => Parameters.Count(p => p.Trainable);

    /// <summary>Frozen tensors.</summary>
    public int FrozenTensors => Parameters.Count(p => !p.Trainable);

    /// <summary>Trainable elements with weight decay.</summary>
    public long DecayCount => Parameters.Where(p => p.Trainable && p.WeightDecay).Sum(p => p.Count);

    /// <summary>The one-line summary, e.g. <c>params: 101,770 trainable (100.00%, 4 tensors, 101,632 with weight decay), 0 frozen (0 tensors)</c>.</summary>
    public string Summary
    {
        get
        {
            long total = TrainableCount + FrozenCount;
            double share = total == 0 ? 0 : 100.0 * TrainableCount / total;
            return string.Create(CultureInfo.InvariantCulture,
                $"params: {TrainableCount:N0} trainable ({share:F2}%, {TrainableTensors} tensors, {DecayCount:N0} with weight decay), {FrozenCount:N0} frozen ({FrozenTensors} tensors)");
        }
    }

    /// <summary>
    /// The summary followed by one line per top-level module (the first segment of the name), with
    /// its trainable and frozen element counts.
    /// </summary>
    public string Format()
    {
        var sb = new StringBuilder(Summary);
        var groups = Parameters
            .GroupBy(p => p.Name.Split('.')[0])
            .Select(g => (Name: g.Key, Trainable: g.Where(p => p.Trainable).Sum(p => p.Count), Frozen: g.Where(p => !p.Trainable).Sum(p => p.Count)))
            .ToList();
        int width = groups.Count == 0 ? 0 : groups.Max(g => g.Name.Length);
        foreach (var g in groups)
        {
            sb.AppendLine();
            sb.Append(CultureInfo.InvariantCulture,
                $"  {g.Name.PadRight(width)}  {g.Trainable,12:N0} trainable  {g.Frozen,12:N0} frozen");
        }
        return sb.ToString();
    }

    /// <inheritdoc/>
    public override string ToString() => Summary;
}

/// <summary>
/// Splits a model's trainable parameters into a weight-decay group and a no-decay group, following
/// timm's <c>param_groups_weight_decay</c>: parameters with <c>ndim &lt;= 1</c> (biases, norm scales),
/// names ending in <c>.bias</c>, and names listed as no-weight-decay (a registered name such as
/// <c>cls_token</c>, or a module prefix such as <c>patch_embed</c>) get no decay. Parameters that do
/// not require a gradient (frozen) are left out of both groups and only counted.
/// </summary>
public sealed class ParameterGroups
{
    private ParameterGroups(
        IReadOnlyList<(string Name, Parameter Parameter)> decay,
        IReadOnlyList<(string Name, Parameter Parameter)> noDecay,
        double weightDecay,
        ParameterReport report)
    {
        Decay = decay;
        NoDecay = noDecay;
        WeightDecay = weightDecay;
        Report = report;
    }

    /// <summary>Trainable parameters that get weight decay.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> Decay { get; }

    /// <summary>Trainable parameters that get none.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> NoDecay { get; }

    /// <summary>All trainable parameters (decay group first).</summary>
    public IEnumerable<Parameter> Trainable => Decay.Concat(NoDecay).Select(p => p.Parameter);

    /// <summary>The weight decay of the decay group.</summary>
    public double WeightDecay { get; }

    /// <summary>Trainable and frozen counts.</summary>
    public ParameterReport Report { get; }

    /// <summary>Groups the parameters of <paramref name="module"/>.</summary>
    /// <param name="module">The model; its <c>named_parameters()</c> are read.</param>
    /// <param name="noWeightDecayNames">Registered names (or module prefixes) that get no weight decay.</param>
    /// <param name="weightDecay">The decay of the decay group.</param>
    public static ParameterGroups Create(nn.Module module, IEnumerable<string>? noWeightDecayNames, double weightDecay)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "Weight decay must be >= 0.");
        var exempt = (noWeightDecayNames ?? []).ToHashSet(StringComparer.Ordinal);

        var decay = new List<(string, Parameter)>();
        var noDecay = new List<(string, Parameter)>();
        var infos = new List<ParameterInfo>();
        foreach (var (name, parameter) in module.named_parameters())
        {
            bool trainable = parameter.requires_grad;
            bool decays = trainable && !IsExempt(name, parameter, exempt);
            infos.Add(new ParameterInfo(name, parameter.shape, parameter.numel(), trainable, decays));
            if (!trainable) continue;
            (decays ? decay : noDecay).Add((name, parameter));
        }
        return new ParameterGroups(decay, noDecay, weightDecay, new ParameterReport(infos));
    }

    /// <summary>Whether the name or shape exempts a parameter from weight decay.</summary>
    public static bool IsExempt(string name, Parameter parameter, IReadOnlySet<string> noWeightDecayNames)
    {
        if (parameter.dim() <= 1 || name.EndsWith(".bias", StringComparison.Ordinal)) return true;
        if (noWeightDecayNames.Contains(name)) return true;
        foreach (var n in noWeightDecayNames)
        {
            if (name.StartsWith(n, StringComparison.Ordinal) && name.Length > n.Length && name[n.Length] == '.')
                return true;
        }
        return false;
    }

    /// <summary>The groups in TorchSharp's AdamW form (empty groups left out).</summary>
    public IReadOnlyList<AdamW.ParamGroup> ToAdamWGroups()
    {
        var groups = new List<AdamW.ParamGroup>();
        if (Decay.Count > 0)
            groups.Add(new AdamW.ParamGroup(Decay.Select(p => p.Parameter).ToArray(), new AdamW.Options { weight_decay = WeightDecay }));
        if (NoDecay.Count > 0)
            groups.Add(new AdamW.ParamGroup(NoDecay.Select(p => p.Parameter).ToArray(), new AdamW.Options { weight_decay = 0.0 }));
        return groups;
    }

    /// <summary>Builds AdamW over the trainable parameters with these groups.</summary>
    /// <exception cref="InvalidOperationException">Nothing is trainable.</exception>
    public AdamW CreateAdamW(double learningRate, (double Beta1, double Beta2) betas, double epsilon = 1e-8)
    {
        if (Decay.Count + NoDecay.Count == 0)
            throw new InvalidOperationException(
                $"Nothing to train: all {Report.FrozenTensors} parameter tensors ({Report.FrozenCount:N0} elements) are frozen.");
        return optim.AdamW(ToAdamWGroups(), lr: learningRate, beta1: betas.Beta1, beta2: betas.Beta2, eps: epsilon, weight_decay: WeightDecay);
    }
}
