using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>How the token pairs a growth adds start.</summary>
public enum NewTokenInit
{
    /// <summary>
    /// Keys and values zero (the TokenFormer paper). With the GELU normalisation the new pairs then get no gradient at all
    /// (their scores are GELU(0) = 0 and their values 0, so dL/dV = S^T g = 0 and dL/dK = 0 through V = 0): they stay zero.
    /// </summary>
    Zero,

    /// <summary>
    /// Keys zero, values at the grown model's own initialisation: the output is the same as with <see cref="Zero"/>
    /// (GELU(0) = 0 hides the values), but the new keys get a gradient through the values, so the new pairs train.
    /// </summary>
    ZeroKeys,

    /// <summary>
    /// Left at the grown model's own initialisation (what the public loader, <c>custom_load_fn_incremental</c> in
    /// <c>megatron/checkpointing.py</c>, does: it copies the old tokens into the first rows and nothing else).
    /// </summary>
    Random,
}

/// <summary>One Pattention parameter a growth touched.</summary>
/// <param name="Name">The parameter's registered name (<c>blocks.0.mlp.key_param_tokens</c>).</param>
/// <param name="OldTokens">Its rows in the smaller checkpoint.</param>
/// <param name="NewTokens">Its rows in the grown model.</param>
/// <param name="Init">How the added rows started.</param>
public sealed record GrownParameter(string Name, long OldTokens, long NewTokens, NewTokenInit Init);

/// <summary>What <see cref="ParameterTokenGrowth.Load"/> did.</summary>
/// <param name="Copied">Parameters copied whole (same shape).</param>
/// <param name="Grown">Pattention parameters whose first rows came from the checkpoint and whose other rows were added.</param>
/// <param name="KeptScale">Whether each grown Pattention kept the smaller model's <c>sqrt(n)</c>.</param>
public sealed record GrowthReport(IReadOnlyList<string> Copied, IReadOnlyList<GrownParameter> Grown, bool KeptScale)
{
    /// <summary>Parameter tokens added over all grown parameters (key and value rows counted once per pair).</summary>
    public long AddedPairs => Grown.Where(g => g.Name.EndsWith("key_param_tokens", StringComparison.Ordinal)).Sum(g => g.NewTokens - g.OldTokens);

    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(System.Globalization.CultureInfo.InvariantCulture,
            $"Grown: {Grown.Count} parameter-token tensors ({AddedPairs} key/value pairs added), {Copied.Count} tensors copied whole; sqrt(n) {(KeptScale ? "kept at the old n" : "follows the new n")}.\n");
        foreach (var g in Grown)
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"  {g.Name}: {g.OldTokens} -> {g.NewTokens} tokens, new rows {ParameterTokenGrowth.Describe(g)}\n");
        return text.ToString();
    }
}

/// <summary>
/// TokenFormer's incremental scaling: a model with more parameter tokens per Pattention starts from the checkpoint of a
/// smaller one. Every tensor of the grown model must be in the checkpoint under the same name; a Pattention's
/// <c>key_param_tokens</c> / <c>value_param_tokens</c> may have more rows there (the checkpoint's rows go first, the added
/// rows start as <see cref="NewTokenInit"/> says); every other tensor must have the same shape. Nothing is copied unless
/// all of that holds.
/// </summary>
public static class ParameterTokenGrowth
{
    /// <param name="grown">The model with at least as many parameter tokens per Pattention as the checkpoint.</param>
    /// <param name="smaller">The smaller model's tensors by registered name (its <c>state_dict()</c>, or a file's).</param>
    /// <param name="init">How the added pairs start.</param>
    /// <param name="keepScale">
    /// Set each grown Pattention's <c>sqrt(n)</c> to the checkpoint's token count. With zero new keys the grown model then
    /// gives the smaller one's outputs exactly; without it (the public code) each keeps its own <c>n</c> (its token count,
    /// unless it was built grown from another), and the scores are scaled by <c>sqrt(n'/n)</c>.
    /// </param>
    public static GrowthReport Load(nn.Module grown, IReadOnlyDictionary<string, Tensor> smaller, NewTokenInit init = NewTokenInit.Zero, bool keepScale = false)
    {
        ArgumentNullException.ThrowIfNull(grown);
        ArgumentNullException.ThrowIfNull(smaller);
        var pattentions = grown.named_modules().Where(m => m.module is Pattention).ToDictionary(m => m.name, m => (Pattention)m.module, StringComparer.Ordinal);
        if (grown is Pattention itself)
            pattentions[""] = itself;   // named_modules() leaves out the module itself
        var parameters = grown.named_parameters().ToList();
        var problems = new List<string>();
        var plan = new List<(string Name, Tensor Target, Tensor Source, bool Rows)>();
        foreach (var (name, target) in parameters) {
            if (!smaller.TryGetValue(name, out var source)) {
                problems.Add($"{name}: not in the checkpoint");
                continue;
            }
            if (source.shape.SequenceEqual(target.shape)) {
                plan.Add((name, target, source, false));
                continue;
            }
            var isTokens = IsTokenParameter(name, pattentions);
            if (!isTokens || source.ndim != 2 || source.shape[1] != target.shape[1]) {
                problems.Add($"{name}: [{string.Join(",", source.shape)}] in the checkpoint, [{string.Join(",", target.shape)}] in the model");
                continue;
            }
            if (source.shape[0] > target.shape[0]) {
                problems.Add($"{name}: {source.shape[0]} parameter tokens in the checkpoint, {target.shape[0]} in the model (growing to fewer tokens)");
                continue;
            }
            plan.Add((name, target, source, true));
        }
        var known = parameters.Select(p => p.name).ToHashSet(StringComparer.Ordinal);
        problems.AddRange(smaller.Keys.Where(k => !known.Contains(k)).Select(k => $"{k}: in the checkpoint, not in the model"));
        if (problems.Count > 0)
            throw new ArgumentException("ParameterTokenGrowth.Load: the checkpoint does not fit the grown model; nothing was copied:\n  " + string.Join("\n  ", problems), nameof(smaller));

        var copied = new List<string>();
        var grownRows = new List<GrownParameter>();
        using (no_grad()) {
            foreach (var (name, target, source, rows) in plan) {
                var value = source.to(target.dtype, target.device);
                if (!rows) {
                    target.copy_(value);
                    copied.Add(name);
                    continue;
                }
                var old = source.shape[0];
                target.narrow(0, 0, old).copy_(value);
                if (init == NewTokenInit.Zero || (init == NewTokenInit.ZeroKeys && name.EndsWith("key_param_tokens", StringComparison.Ordinal)))
                    target.narrow(0, old, target.shape[0] - old).zero_();
                grownRows.Add(new(name, old, target.shape[0], init));
            }
            // Without keepScale the grown model keeps its own sqrt(n) (its token count, or the n it was declared grown from).
            foreach (var (name, module) in pattentions) {
                if (keepScale && smaller.TryGetValue(Join(name, "key_param_tokens"), out var old))
                    module.ScaleTokens = (int)old.shape[0];
            }
        }
        return new GrowthReport(copied, grownRows, keepScale);
    }

    internal static string Describe(GrownParameter g) => g.Init switch
    {
        NewTokenInit.Zero => "zero",
        NewTokenInit.ZeroKeys when g.Name.EndsWith("key_param_tokens", StringComparison.Ordinal) => "zero",
        _ => "at their own init",
    };

    /// <summary>As <see cref="Load(nn.Module, IReadOnlyDictionary{string, Tensor}, NewTokenInit, bool)"/>, from a safetensors file of the smaller model.</summary>
    public static GrowthReport Load(nn.Module grown, string safetensorsPath, NewTokenInit init = NewTokenInit.Zero, bool keepScale = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(safetensorsPath);
        using var scope = NewDisposeScope();
        var state = TorchSharp.PyBridge.Safetensors.LoadStateDict(safetensorsPath);
        return Load(grown, state, init, keepScale);
    }

    private static bool IsTokenParameter(string name, Dictionary<string, Pattention> pattentions)
    {
        var dot = name.LastIndexOf('.');
        var (owner, leaf) = dot < 0 ? ("", name) : (name[..dot], name[(dot + 1)..]);
        return pattentions.ContainsKey(owner) && leaf is "key_param_tokens" or "value_param_tokens";
    }

    private static string Join(string module, string leaf) => module.Length == 0 ? leaf : module + "." + leaf;
}
