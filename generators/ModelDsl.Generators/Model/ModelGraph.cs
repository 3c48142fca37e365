using ModelDsl.Generators.Stages;
using System.Globalization;

namespace ModelDsl.Generators.Model;

/// <summary>The checked model: every stage with its resolved arguments, output shape and parameter count.</summary>
public sealed record ModelGraph(
    ModelSpec Spec,
    EquatableArray<GraphInput> Inputs,
    EquatableArray<GraphStage> Stages,
    EquatableArray<GraphValue> Outputs,
    EquatableArray<GraphValue> Targets,
    EquatableArray<string> NoWeightDecay,
    int PrefixTokens,
    string Layout = "",
    bool ForwardBroken = false)
{
    public long TotalParameters
    {
        get
        {
            long total = 0;
            foreach (var stage in Stages) total += System.Math.Max(stage.Parameters, 0);
            return total;
        }
    }

    public long TrainableParameters
    {
        get
        {
            long total = 0;
            foreach (var stage in Stages)
                total += stage.TrainableParameters;
            return total;
        }
    }
}

/// <param name="Shape">The canonical shape text, e.g. <c>[B,1,28,28]</c>; null when it could not be parsed.</param>
/// <param name="Dtype">What the stage that reads it needs: <c>Int64</c> (token ids), <c>Float</c> (the model's floating type), or null (unchecked).</param>
public sealed record GraphInput(string Name, string Type, string? Shape, string? Dtype = null);

/// <summary>A named value of the output record or the batch: <c>Logits [B,10]</c>, <c>Label [B]</c>.</summary>
/// <param name="Key">For a batch target, the dataset's name for it (<c>label</c>, <c>coarse_present</c>).</param>
public sealed record GraphValue(string Name, string Shape, string Description, string? Key = null);

public sealed record GraphStage(
    StageSpec Spec,
    string Output,
    long Parameters,
    bool Frozen,
    EquatableArray<Argument> Resolved,
    bool Broken = false,
    EquatableArray<GraphStage> Inner = default,
    long Flops = -1,
    long PlainFlops = -1)
{
    /// <summary>The trainable part: a tower that is not frozen as a whole counts its own stages' trainable parameters.</summary>
    public long TrainableParameters
    {
        get
        {
            if (Frozen) return 0;
            if (Inner.Count == 0) return System.Math.Max(Parameters, 0);
            long total = 0;
            foreach (var stage in Inner) total += stage.TrainableParameters;
            return total;
        }
    }

    /// <summary>A tower with both trainable and frozen stages: the summary lists its stages one by one.</summary>
    public bool IsPartlyFrozen => !Frozen && Inner.Count > 0 && TrainableParameters != System.Math.Max(Parameters, 0) && TrainableParameters > 0;

    public StageKind Kind => Spec.Kind;

    public string Member => Spec.Member;

    public string Text(string name)
    {
        foreach (var argument in Resolved)
        {
            if (argument.Name == name) return argument.Value;
        }
        throw new System.InvalidOperationException($"Stage '{Member}' has no resolved argument '{name}'.");
    }

    public int Int(string name) => int.Parse(Text(name), CultureInfo.InvariantCulture);

    /// <summary>Whether the stage resolved an argument of that name.</summary>
    public bool Has(string name)
    {
        foreach (var argument in Resolved)
        {
            if (argument.Name == name) return true;
        }
        return false;
    }

    public double Double(string name) => double.Parse(Text(name), CultureInfo.InvariantCulture);

    public bool Bool(string name) => Text(name) == "true";
}
