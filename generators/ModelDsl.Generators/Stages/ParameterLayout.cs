using System;
using System.Collections.Generic;
using System.Globalization;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.Stages;

/// <summary>
/// The parameters a stage registers, written once per kind (<see cref="StageDefinition.Parameters"/>) and read
/// two ways: as the table of names and shapes (the build-time weights check, docs/weights.md) and as a count
/// (the Summary). The count is never written separately, so the two cannot disagree.
/// </summary>
/// <remarks>
/// Counting does not expand repeated blocks (<see cref="Repeat"/> multiplies one block's count), so a
/// half-typed <c>Depth = 2147483647</c> costs the editor one block, not two billion. Counts saturate at
/// <see cref="long.MaxValue"/> rather than overflow.
/// </remarks>
public sealed class ParameterLayout
{
    private readonly Tables? tables;
    private readonly string prefix;
    private long count;
    private bool unknown;

    private ParameterLayout(Tables? tables, string prefix)
    {
        this.tables = tables;
        this.prefix = prefix;
    }

    /// <summary>A layout that lists every parameter (names in TorchSharp's <c>named_parameters()</c> order).</summary>
    public static ParameterLayout Listing() => new(new Tables(), "");

    /// <summary>A layout that only counts.</summary>
    public static ParameterLayout Counting() => new(null, "");

    /// <summary>The number of parameter values; <see cref="ModelDsl.Generators.FrontEnd.ModelCompiler.UnknownParameters"/> when a part is not known before the module is built.</summary>
    public long Count => unknown ? FrontEnd.ModelCompiler.UnknownParameters : count;

    /// <summary>The model's own parameters (<c>cls_token</c>, <c>pos_embed</c>), then every registered module's, as TorchSharp lists them.</summary>
    public IReadOnlyList<(string Name, long[] Shape)> Table
    {
        get
        {
            if (tables is null) throw new InvalidOperationException("A counting layout lists no parameters.");
            var all = new List<(string, long[])>(tables.Own);
            all.AddRange(tables.Modules);
            return all;
        }
    }

    /// <summary>Registered names whose parameters are not known at compile time (a user module): the name and everything under <c>name.</c>.</summary>
    public IReadOnlyList<string> OpaquePrefixes => tables?.Opaque ?? (IReadOnlyList<string>)Array.Empty<string>();

    /// <summary>A parameter the model registers itself (TorchSharp lists these before any module's).</summary>
    public void Own(string name, params long[] shape)
    {
        tables?.Own.Add((prefix + name, shape));
        Add(shape);
    }

    /// <summary>A parameter of a registered module, by its full dotted name.</summary>
    public void Tensor(string name, params long[] shape)
    {
        tables?.Modules.Add((prefix + name, shape));
        Add(shape);
    }

    /// <summary><c>nn.Linear</c>: <c>weight [out,in]</c>, <c>bias [out]</c>.</summary>
    public void Linear(string name, long inFeatures, long outFeatures, bool bias = true)
    {
        Tensor(name + ".weight", outFeatures, inFeatures);
        if (bias) Tensor(name + ".bias", outFeatures);
    }

    /// <summary><c>nn.LayerNorm</c>: <c>weight</c> and <c>bias</c> of the width.</summary>
    public void LayerNorm(string name, long dim)
    {
        Tensor(name + ".weight", dim);
        Tensor(name + ".bias", dim);
    }

    /// <summary><paramref name="times"/> copies of one block registered as <c>name.0</c>, <c>name.1</c>, ...</summary>
    public void Repeat(string name, long times, Action<ParameterLayout> block)
    {
        if (times <= 0) return;
        if (tables is null)
        {
            var one = new ParameterLayout(null, "");
            block(one);
            unknown |= one.unknown;
            count = Saturating.Add(count, Saturating.Multiply(one.count, times));
            return;
        }
        for (long i = 0; i < times; i++)
        {
            var child = new ParameterLayout(tables, prefix + name + "." + i.ToString(CultureInfo.InvariantCulture) + ".");
            block(child);
            unknown |= child.unknown;
            count = Saturating.Add(count, child.count);
        }
    }

    /// <summary>A module whose parameters are not known before it is built (a user module).</summary>
    public void Opaque(string name)
    {
        tables?.Opaque.Add(prefix + name);
        unknown = true;
    }

    /// <summary>A tower's stages registered under <c>name.</c>: their whole table (or their count), prefixed.</summary>
    public void Include(string name, IEnumerable<GraphStage> stages)
    {
        var inner = tables is null ? Counting() : Listing();
        foreach (var stage in stages)
            ParameterTable.Describe(stage, inner);
        unknown |= inner.unknown;
        count = Saturating.Add(count, inner.count);
        if (tables is null)
            return;
        foreach (var (innerName, shape) in inner.Table)
            tables.Modules.Add((prefix + name + "." + innerName, shape));
        foreach (var opaque in inner.OpaquePrefixes)
            tables.Opaque.Add(prefix + name + "." + opaque);
    }

    /// <summary>
    /// Parameters listed here that a saved file may lack (a reparameterisation encoder that <c>Fold()</c> drops):
    /// the weights check does not require them, and checks their shapes when present.
    /// </summary>
    public void Foldable(string name) => tables?.Opaque.Add(prefix + name);

    /// <summary><c>Blocks.CrossAttentionBlock</c>: pre-norm cross-attention from D-wide queries over a Ds-wide source, then an MLP.</summary>
    public void CrossAttentionBlock(string name, long dim, long sourceDim, long hidden)
    {
        var at = name.Length == 0 ? "" : name + ".";
        LayerNorm(at + "norm_q", dim);
        LayerNorm(at + "norm_kv", sourceDim);
        Linear(at + "attn.q", dim, dim);
        Linear(at + "attn.kv", sourceDim, 2 * dim);
        Linear(at + "attn.proj", dim, dim);
        LayerNorm(at + "norm2", dim);
        Linear(at + "mlp.fc1", dim, hidden);
        Linear(at + "mlp.fc2", hidden, dim);
    }

    private void Add(long[] shape)
    {
        long size = 1;
        foreach (var d in shape)
            size = Saturating.Multiply(size, d);
        count = Saturating.Add(count, size);
    }

    private sealed class Tables
    {
        public readonly List<(string, long[])> Own = [];
        public readonly List<(string, long[])> Modules = [];
        public readonly List<string> Opaque = [];
    }
}

/// <summary>Size arithmetic that stops at <see cref="long.MaxValue"/> instead of wrapping.</summary>
internal static class Saturating
{
    public static long Add(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    public static long Multiply(long a, long b)
    {
        if (a == 0 || b == 0) return 0;
        return a > long.MaxValue / b ? long.MaxValue : a * b;
    }
}
