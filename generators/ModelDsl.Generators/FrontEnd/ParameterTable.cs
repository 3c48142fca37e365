using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.FrontEnd;

/// <summary>
/// The parameters a generated module registers, computed at compile time from the graph: names in the order of
/// TorchSharp's <c>named_parameters()</c> (the model's own parameters, then each registered module in turn) and
/// shapes from each stage's resolved arguments. They are timm's <c>VisionTransformer</c> state_dict keys.
/// </summary>
/// <remarks>
/// Mirrors <c>ModelEmitter</c> (what it constructs and registers) and the runtime blocks (what they register);
/// docs/weights.md has the same table in prose. A stage this table does not compute (a custom module, whose
/// parameters are not known before its module is built, or a stage kind it does not cover yet) is listed in
/// <see cref="OpaquePrefixes"/> instead.
/// </remarks>
public static class ParameterTable
{
    /// <summary>Every parameter of the generated module of <paramref name="graph"/>, e.g. <c>patch_embed.proj.weight [64,1,7,7]</c>.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> Of(ModelGraph graph)
    {
        if (graph is null) throw new ArgumentNullException(nameof(graph));
        return Of(graph.Stages);
    }

    private static List<(string Name, long[] Shape)> Of(IEnumerable<GraphStage> stages)
    {
        var direct = new List<(string, long[])>();
        var modules = new List<(string, long[])>();
        foreach (var stage in stages)
        {
            switch (stage.Kind)
            {
                case StageKind.PatchEmbedding:
                {
                    long d = stage.Int("Dim"), c = stage.Int("InChannels"), p = stage.Int("PatchSize");
                    modules.Add(("patch_embed.proj.weight", [d, c, p, p]));
                    modules.Add(("patch_embed.proj.bias", [d]));
                    break;
                }
                case StageKind.ClsToken:
                    direct.Add(("cls_token", [1, stage.Int("Count"), stage.Int("Dim")]));
                    break;
                case StageKind.RegisterTokens:
                    direct.Add(("reg_token", [1, stage.Int("Count"), stage.Int("Dim")]));
                    break;
                case StageKind.PositionEmbedding:
                    direct.Add(("pos_embed", [1, stage.Int("Length"), stage.Int("Dim")]));
                    break;
                case StageKind.TransformerEncoder:
                {
                    long d = stage.Int("Dim");
                    var hidden = Hidden(stage.Int("Dim"), stage.Double("MlpRatio"));
                    for (var i = 0; i < stage.Int("Depth"); i++)
                    {
                        var block = "blocks." + i.ToString(CultureInfo.InvariantCulture) + ".";
                        LayerNorm(modules, block + "norm1", d);
                        Linear(modules, block + "attn.qkv", d, 3 * d);
                        Linear(modules, block + "attn.proj", d, d);
                        LayerNorm(modules, block + "norm2", d);
                        Linear(modules, block + "mlp.fc1", d, hidden);
                        Linear(modules, block + "mlp.fc2", hidden, d);
                    }
                    if (stage.Bool("FinalNorm"))
                        LayerNorm(modules, "norm", d);
                    break;
                }
                case StageKind.ClassifierHead when !StageCatalog.IsTaskHead(stage.Spec):
                {
                    long d = stage.Int("Dim");
                    var pool = stage.Text("Pool");
                    if (pool == "Avg")
                        LayerNorm(modules, "fc_norm", d);
                    if (pool == "Map")
                    {
                        // timm's AttentionPoolLatent takes the model's mlp_ratio.
                        var hidden = Hidden(stage.Int("Dim"), stage.Double("PoolMlpRatio"));
                        modules.Add(("attn_pool.latent", [1, 1, d]));
                        Linear(modules, "attn_pool.q", d, d);
                        Linear(modules, "attn_pool.kv", d, 2 * d);
                        Linear(modules, "attn_pool.proj", d, d);
                        LayerNorm(modules, "attn_pool.norm", d);
                        Linear(modules, "attn_pool.mlp.fc1", d, hidden);
                        Linear(modules, "attn_pool.mlp.fc2", hidden, d);
                    }
                    // Blocks.ClassifierHead registers weight and bias itself; it reads InFeatures, more than Dim
                    // when it also reads query tokens (VQT's Also).
                    Linear(modules, "head", stage.Int("InFeatures"), stage.Int("Classes"));
                    break;
                }
                case StageKind.DeepPromptTokens or StageKind.QueryTokens:
                    direct.Add((StageCatalog.RegisteredName(stage.Spec), [stage.Int("Depth"), stage.Int("Count"), stage.Int("Dim")]));
                    break;
                case StageKind.ChannelPatchEmbedding:
                {
                    long d = stage.Int("Dim"), p = stage.Int("PatchSize");
                    modules.Add(("patch_embed.channel_embed", [1, stage.Int("InChannels"), d]));
                    modules.Add(("patch_embed.pos_embed", [1, stage.Int("PatchesPerChannel"), d]));
                    modules.Add(("patch_embed.proj.weight", [d, 1, p, p]));
                    modules.Add(("patch_embed.proj.bias", [d]));
                    break;
                }
                case StageKind.Resampler:
                {
                    var name = StageCatalog.RegisteredName(stage.Spec);
                    long d = stage.Int("Dim");
                    // A module lists its own parameter (latents) before its children's.
                    modules.Add((name + ".latents", [1, stage.Int("Queries"), d]));
                    for (var i = 0; i < stage.Int("Depth"); i++)
                        CrossAttentionBlock(modules, $"{name}.layers.{i.ToString(CultureInfo.InvariantCulture)}", d, stage.Int("SourceDim"), Hidden(stage.Int("Dim"), stage.Double("MlpRatio")));
                    break;
                }
                case StageKind.TaskTokens:
                    direct.Add((StageCatalog.RegisteredName(stage.Spec), [1, stage.Int("Count"), stage.Int("Dim")]));
                    break;
                case StageKind.TaskDecoder:
                {
                    var name = StageCatalog.RegisteredName(stage.Spec);
                    long d = stage.Int("Dim");
                    for (var i = 0; i < stage.Int("Depth"); i++)
                    {
                        var layer = $"{name}.layers.{i.ToString(CultureInfo.InvariantCulture)}.";
                        LayerNorm(modules, layer + "norm1", d);
                        Linear(modules, layer + "attn.qkv", d, 3 * d);
                        Linear(modules, layer + "attn.proj", d, d);
                        CrossAttentionBlock(modules, layer + "cross", d, stage.Int("SourceDim"), Hidden(stage.Int("Dim"), stage.Double("MlpRatio")));
                    }
                    LayerNorm(modules, name + ".norm", d);
                    break;
                }
                case StageKind.ClassifierHead or StageKind.RegressionHead:
                    // A task head: Blocks.ClassifierHead and Blocks.RegressionHead register weight and bias themselves.
                    Linear(modules, StageCatalog.RegisteredName(stage.Spec), stage.Int("Dim"),
                        stage.Kind == StageKind.RegressionHead ? stage.Int("Outputs") : stage.Int("Classes"));
                    break;
                case StageKind.MaskHead:
                {
                    var name = StageCatalog.RegisteredName(stage.Spec);
                    long pixelDim = stage.Int("PixelDim"), patch = stage.Int("PatchSize");
                    Linear(modules, name + ".pixels", stage.Int("SourceDim"), patch * patch * pixelDim);
                    Linear(modules, name + ".query", stage.Int("Dim"), pixelDim);
                    break;
                }
                case StageKind.Tower when stage.Inner.Count > 0:
                {
                    // The tower's module is registered under the member's name: its own table, prefixed.
                    var name = StageCatalog.RegisteredName(stage.Spec);
                    modules.AddRange(Of(stage.Inner).Select(p => (name + "." + p.Name, p.Shape)));
                    break;
                }
                case StageKind.TokenEmbedding:
                {
                    // Blocks.TokenEmbedding registers its word table and its own position table.
                    var name = StageCatalog.RegisteredName(stage.Spec);
                    long d = stage.Int("Dim");
                    modules.Add((name + ".weight", [stage.Int("Vocab"), d]));
                    modules.Add((name + ".positions", [stage.Int("MaxLength"), d]));
                    break;
                }
                case StageKind.VocabularyTokens:
                    modules.Add((StageCatalog.RegisteredName(stage.Spec) + ".weight", [stage.Int("Count"), stage.Int("Dim")]));
                    break;
                case StageKind.FeatureProjection:
                    modules.Add((StageCatalog.RegisteredName(stage.Spec) + ".weight", [stage.Int("Dim"), stage.Int("InDim")]));
                    break;
                case StageKind.CosineLogits:
                    if (stage.Bool("LearnScale"))
                        modules.Add((StageCatalog.RegisteredName(stage.Spec) + ".logit_scale", []));
                    break;
                case StageKind.CrossEntropyLoss:
                    break;
                default:
                    break; // not known at compile time: see OpaquePrefixes
            }
        }
        // TorchSharp (like PyTorch) lists a module's own parameters before those of its registered children.
        direct.AddRange(modules);
        return direct;
    }

    /// <summary>
    /// Registered names of stages whose parameters this table does not compute: custom modules (not known before
    /// their module is built) and prompt tokens (their reparameterisation encoder), also inside towers. The name itself and every name under <c>prefix.</c> belong to them.
    /// </summary>
    public static IReadOnlyList<string> OpaquePrefixes(ModelGraph graph)
    {
        if (graph is null) throw new ArgumentNullException(nameof(graph));
        return OpaquePrefixes(graph.Stages);
    }

    private static List<string> OpaquePrefixes(IEnumerable<GraphStage> stages)
    {
        var prefixes = new List<string>();
        foreach (var stage in stages)
        {
            if (stage.Kind == StageKind.Tower && stage.Inner.Count > 0)
            {
                var name = StageCatalog.RegisteredName(stage.Spec);
                prefixes.AddRange(OpaquePrefixes(stage.Inner).Select(p => name + "." + p));
                continue;
            }
            if (stage.Kind is StageKind.CosineLogits or StageKind.TokenEmbedding or StageKind.VocabularyTokens or StageKind.FeatureProjection or StageKind.PatchEmbedding or StageKind.ClsToken or StageKind.RegisterTokens or StageKind.PositionEmbedding
                or StageKind.DeepPromptTokens or StageKind.QueryTokens or StageKind.ChannelPatchEmbedding or StageKind.Resampler
                or StageKind.TaskTokens or StageKind.TaskDecoder or StageKind.ClassifierHead or StageKind.RegressionHead or StageKind.MaskHead
                or StageKind.TransformerEncoder or StageKind.CrossEntropyLoss or StageKind.MseLoss or StageKind.BinaryCrossEntropyLoss)
                continue;
            prefixes.Add(StageCatalog.RegisteredName(stage.Spec));
        }
        return prefixes;
    }

    /// <summary>
    /// Compares the parameters a declaration expects with the tensors of a weights file: every expected name
    /// the file lacks, every one it has with another shape, and (after them) every file tensor the model does
    /// not have. With <paramref name="prefix"/>, only the file's names under it count, with it removed.
    /// </summary>
    /// <param name="expected">From <see cref="Of"/>.</param>
    /// <param name="header">The file's header.</param>
    /// <param name="prefix">A file-name prefix such as <c>"backbone."</c>, or null.</param>
    /// <param name="opaquePrefixes">From <see cref="OpaquePrefixes"/>: file names under them are not reported as unexpected.</param>
    public static IReadOnlyList<ParameterDifference> Compare(
        IReadOnlyList<(string Name, long[] Shape)> expected, SafetensorsHeader header, string? prefix = null, IReadOnlyList<string>? opaquePrefixes = null)
    {
        if (expected is null) throw new ArgumentNullException(nameof(expected));
        if (header is null) throw new ArgumentNullException(nameof(header));
        prefix ??= "";
        var differences = new List<ParameterDifference>();
        var expectedNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape) in expected)
        {
            expectedNames.Add(name);
            var entry = header.Find(prefix + name);
            if (entry is null)
                differences.Add(new ParameterDifference(ParameterDifferenceKind.Missing, name, shape, null));
            else if (!SameShape(shape, entry.Shape))
                differences.Add(new ParameterDifference(ParameterDifferenceKind.ShapeMismatch, name, shape, entry.ShapeArray()));
        }
        foreach (var entry in header.Entries)
        {
            if (!entry.Name.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var name = entry.Name.Substring(prefix.Length);
            if (expectedNames.Contains(name)) continue;
            if (opaquePrefixes is not null && opaquePrefixes.Any(p => name == p || name.StartsWith(p + ".", StringComparison.Ordinal))) continue;
            differences.Add(new ParameterDifference(ParameterDifferenceKind.Unexpected, name, null, entry.ShapeArray()));
        }
        return differences;
    }

    /// <summary><c>[64,1,7,7]</c>.</summary>
    public static string Format(IEnumerable<long> shape) =>
        "[" + string.Join(",", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>One line per parameter, <c>name [shape]</c>: the table as text (for docs and diagnostics).</summary>
    public static string ToText(IReadOnlyList<(string Name, long[] Shape)> table)
    {
        var text = new StringBuilder();
        foreach (var (name, shape) in table)
            text.Append(name).Append(' ').Append(Format(shape)).Append('\n');
        return text.ToString();
    }

    // The runtime's hidden width: (int)(dim * mlpRatio), as EncoderBlock.HiddenFeatures computes it.
    private static long Hidden(int dim, double mlpRatio) => (int)(dim * mlpRatio);

    private static void Linear(List<(string, long[])> list, string name, long inFeatures, long outFeatures)
    {
        list.Add((name + ".weight", [outFeatures, inFeatures]));
        list.Add((name + ".bias", [outFeatures]));
    }

    // Blocks.CrossAttentionBlock: pre-norm cross-attention from D-wide queries over a Ds-wide source, then an MLP.
    private static void CrossAttentionBlock(List<(string, long[])> list, string name, long dim, long sourceDim, long hidden)
    {
        LayerNorm(list, name + ".norm_q", dim);
        LayerNorm(list, name + ".norm_kv", sourceDim);
        Linear(list, name + ".attn.q", dim, dim);
        Linear(list, name + ".attn.kv", sourceDim, 2 * dim);
        Linear(list, name + ".attn.proj", dim, dim);
        LayerNorm(list, name + ".norm2", dim);
        Linear(list, name + ".mlp.fc1", dim, hidden);
        Linear(list, name + ".mlp.fc2", hidden, dim);
    }

    private static void LayerNorm(List<(string, long[])> list, string name, long dim)
    {
        list.Add((name + ".weight", [dim]));
        list.Add((name + ".bias", [dim]));
    }

    private static bool SameShape(long[] shape, EquatableArray<long> other)
    {
        if (shape.Length != other.Count) return false;
        for (var i = 0; i < shape.Length; i++)
        {
            if (shape[i] != other[i]) return false;
        }
        return true;
    }
}

public enum ParameterDifferenceKind
{
    /// <summary>The declaration expects it; the file lacks it.</summary>
    Missing,
    /// <summary>Both have it, with different shapes.</summary>
    ShapeMismatch,
    /// <summary>The file has it; the declaration does not.</summary>
    Unexpected,
}

/// <summary>One difference between a declaration's parameters and a weights file.</summary>
/// <param name="Expected">The declaration's shape; null for <see cref="ParameterDifferenceKind.Unexpected"/>.</param>
/// <param name="Found">The file's shape; null for <see cref="ParameterDifferenceKind.Missing"/>.</param>
public sealed record ParameterDifference(ParameterDifferenceKind Kind, string Name, long[]? Expected, long[]? Found)
{
    public override string ToString() => Kind switch
    {
        ParameterDifferenceKind.Missing => $"{Name} {ParameterTable.Format(Expected!)}: missing from the file",
        ParameterDifferenceKind.ShapeMismatch => $"{Name}: expected {ParameterTable.Format(Expected!)}, found {ParameterTable.Format(Found!)}",
        _ => $"{Name} {ParameterTable.Format(Found!)}: in the file, not in the model",
    };
}
