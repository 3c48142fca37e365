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
/// <param name="LearningRateScale">The multiplier of the base learning rate for this parameter (1 unless a rule in <see cref="TrainOptions.LearningRateScales"/> names it).</param>
public sealed record ParameterInfo(string Name, long[] Shape, long Count, bool Trainable, bool WeightDecay, double LearningRateScale = 1.0);

/// <summary>One optimizer parameter group: trainable parameters sharing a weight decay and a learning-rate multiplier.</summary>
/// <param name="Name">A readable name, e.g. <c>decay</c>, <c>no_decay</c>, <c>no_decay lr x10</c>.</param>
/// <param name="Parameters">The registered names and parameters, in registration order.</param>
/// <param name="WeightDecay">The group's decoupled weight decay.</param>
/// <param name="LearningRateScale">The group's multiplier of the base learning rate.</param>
public sealed record ParameterGroup(string Name, IReadOnlyList<(string Name, Parameter Parameter)> Parameters, double WeightDecay, double LearningRateScale)
{
    /// <summary>The number of elements in the group.</summary>
    public long Count => Parameters.Sum(p => p.Parameter.numel());
}

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
    /// its trainable and frozen element counts, and the learning-rate multipliers other than 1.
    /// </summary>
    public string Format()
    {
        var sb = new StringBuilder(Summary);
        foreach (var scaled in Parameters.Where(p => p.Trainable && p.LearningRateScale != 1.0).GroupBy(p => p.LearningRateScale))
        {
            sb.AppendLine();
            sb.Append(CultureInfo.InvariantCulture,
                $"  lr x{scaled.Key:G4}: {string.Join(", ", scaled.Select(p => p.Name))} ({scaled.Sum(p => p.Count):N0} elements)");
        }
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
/// <remarks>
/// Learning-rate multipliers (<see cref="TrainOptions.LearningRateScales"/>) split the groups further:
/// each (decay, multiplier) pair is one <see cref="ParameterGroup"/>, e.g. a higher rate for prompt tokens.
/// </remarks>
public sealed class ParameterGroups
{
    private ParameterGroups(
        IReadOnlyList<(string Name, Parameter Parameter)> decay,
        IReadOnlyList<(string Name, Parameter Parameter)> noDecay,
        IReadOnlyList<ParameterGroup> groups,
        double weightDecay,
        ParameterReport report)
    {
        Decay = decay;
        NoDecay = noDecay;
        Groups = groups;
        WeightDecay = weightDecay;
        Report = report;
    }

    /// <summary>The optimizer groups (empty ones left out): decay groups first, then no-decay, each by multiplier.</summary>
    public IReadOnlyList<ParameterGroup> Groups { get; }

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
    public static ParameterGroups Create(nn.Module module, IEnumerable<string>? noWeightDecayNames, double weightDecay) =>
        Create(module, noWeightDecayNames, weightDecay, learningRateScales: null);

    /// <summary>Groups the parameters of <paramref name="module"/>, with learning-rate multipliers.</summary>
    /// <param name="module">The model; its <c>named_parameters()</c> are read.</param>
    /// <param name="noWeightDecayNames">Registered names (or module prefixes) that get no weight decay.</param>
    /// <param name="weightDecay">The decay of the decay groups.</param>
    /// <param name="learningRateScales">
    /// Multipliers of the base learning rate by registered name or module prefix (e.g.
    /// <c>["prompt_tokens"] = 10</c>); the longest matching key wins; unmatched parameters get 1.
    /// </param>
    /// <exception cref="ArgumentException">A multiplier that is not positive, or a key that matches no parameter.</exception>
    public static ParameterGroups Create(nn.Module module, IEnumerable<string>? noWeightDecayNames, double weightDecay,
        IReadOnlyDictionary<string, double>? learningRateScales)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "Weight decay must be >= 0.");
        var exempt = (noWeightDecayNames ?? []).ToHashSet(StringComparer.Ordinal);
        var scales = learningRateScales ?? new Dictionary<string, double>();
        foreach (var (key, value) in scales)
        {
            if (!(value > 0) || double.IsInfinity(value))
                throw new ArgumentException($"Learning-rate multiplier '{key}' = {value}: must be positive and finite.", nameof(learningRateScales));
        }

        var decay = new List<(string, Parameter)>();
        var noDecay = new List<(string, Parameter)>();
        var buckets = new Dictionary<(bool Decays, double Scale), List<(string, Parameter)>>();
        var infos = new List<ParameterInfo>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, parameter) in module.named_parameters())
        {
            bool trainable = parameter.requires_grad;
            bool decays = trainable && !IsExempt(name, parameter, exempt);
            double scale = 1.0;
            if (MatchLongest(name, scales.Keys) is string key)
            {
                used.Add(key);
                scale = scales[key];
            }
            infos.Add(new ParameterInfo(name, parameter.shape, parameter.numel(), trainable, decays, scale));
            if (!trainable) continue;
            (decays ? decay : noDecay).Add((name, parameter));
            if (!buckets.TryGetValue((decays, scale), out var list)) buckets[(decays, scale)] = list = [];
            list.Add((name, parameter));
        }
        var unused = scales.Keys.Where(k => !used.Contains(k)).ToList();
        if (unused.Count > 0)
            throw new ArgumentException(
                $"Learning-rate multiplier(s) for {string.Join(", ", unused.Select(k => $"'{k}'"))} match no parameter. " +
                $"Keys are registered names or module prefixes, e.g. {string.Join(", ", infos.Take(4).Select(i => i.Name))}.",
                nameof(learningRateScales));

        var groups = buckets
            .OrderBy(kv => kv.Key.Decays ? 0 : 1).ThenBy(kv => kv.Key.Scale)
            .Select(kv => new ParameterGroup(
                (kv.Key.Decays ? "decay" : "no_decay") + (kv.Key.Scale == 1.0 ? "" : string.Create(CultureInfo.InvariantCulture, $" lr x{kv.Key.Scale:G4}")),
                kv.Value, kv.Key.Decays ? weightDecay : 0.0, kv.Key.Scale))
            .ToList();
        return new ParameterGroups(decay, noDecay, groups, weightDecay, new ParameterReport(infos));
    }

    private static string? MatchLongest(string name, IEnumerable<string> keys)
    {
        string? best = null;
        foreach (var key in keys)
        {
            bool match = name == key || (name.StartsWith(key, StringComparison.Ordinal) && name.Length > key.Length && name[key.Length] == '.');
            if (match && (best is null || key.Length > best.Length)) best = key;
        }
        return best;
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

    /// <summary>The groups in TorchSharp's AdamW form (empty groups left out); a group with a multiplier gets its own rate.</summary>
    /// <param name="learningRate">The base rate; only needed when a group has a multiplier other than 1.</param>
    public IReadOnlyList<AdamW.ParamGroup> ToAdamWGroups(double? learningRate = null)
    {
        var groups = new List<AdamW.ParamGroup>();
        foreach (var g in Groups)
        {
            var options = new AdamW.Options { weight_decay = g.WeightDecay };
            if (g.LearningRateScale != 1.0)
            {
                if (learningRate is not double lr)
                    throw new InvalidOperationException($"Group '{g.Name}' has a learning-rate multiplier; pass the base learning rate.");
                options.LearningRate = options.InitialLearningRate = lr * g.LearningRateScale;
            }
            groups.Add(new AdamW.ParamGroup(g.Parameters.Select(p => p.Parameter).ToArray(), options));
        }
        return groups;
    }

    /// <summary>Builds AdamW over the trainable parameters with these groups.</summary>
    /// <exception cref="InvalidOperationException">Nothing is trainable.</exception>
    public AdamW CreateAdamW(double learningRate, (double Beta1, double Beta2) betas, double epsilon = 1e-8)
    {
        if (Decay.Count + NoDecay.Count == 0)
            throw new InvalidOperationException(
                $"Nothing to train: all {Report.FrozenTensors} parameter tensors ({Report.FrozenCount:N0} elements) are frozen.");
        return optim.AdamW(ToAdamWGroups(learningRate), lr: learningRate, beta1: betas.Beta1, beta2: betas.Beta2, eps: epsilon, weight_decay: WeightDecay);
    }
}
