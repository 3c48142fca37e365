using System.Linq;
using ModelDsl.Generators.Stages;

namespace ModelDsl.Generators.Model;

// The declaration as read from source: plain equatable values, no symbols, syntax or locations,
// so the generator pipeline caches it. Source locations live in SourceMap, which only the
// analyzers build.

/// <summary>A <c>[Model]</c> class.</summary>
public sealed record ModelSpec(
    string Namespace,
    EquatableArray<string> ContainingTypes,
    string ClassName,
    string Accessibility,
    bool IsPartial,
    ForwardSpec? Forward,
    EquatableArray<StageSpec> Stages,
    WeightsSpec? Weights = null,
    string TypeParameters = "",
    string TypeKind = "class")
{
    public string FullName => (Namespace.Length == 0 ? "" : Namespace + ".") + ClassName;

    /// <summary>The type as a member declares it (<c>global::Ns.Outer.Name</c>): how a tower names this model.</summary>
    public string TypeName => "global::" + string.Join(".", new[] { Namespace }.Where(n => n.Length > 0)
        .Concat(ContainingTypes.Select(t => t.Substring(t.LastIndexOf(' ') + 1)))
        .Append(ClassName));
}

/// <summary>A <c>[PretrainedWeights]</c> file: its project-relative path and how it is read.</summary>
public sealed record WeightsSpec(string Path, string Prefix, EquatableArray<string> Exclude);

/// <summary>The user's partial forward method.</summary>
public sealed record ForwardSpec(
    string Name,
    string Modifiers,
    string ReturnType,
    bool IsPartial,
    EquatableArray<InputSpec> Inputs);

/// <summary>A forward input; <see cref="Shape"/> is the text of its <c>[Shape]</c>, null when absent.</summary>
/// <param name="RefKind">A parameter modifier the generated part cannot repeat (<c>params</c>, <c>ref</c>, <c>out</c>, <c>in</c>), or empty.</param>
public sealed record InputSpec(string Name, string Type, string? Shape, string RefKind = "");

/// <summary>A stage member: a partial property carrying a stage attribute (<see cref="OtherStageAttributes"/> lists any more, which is an error).</summary>
public sealed record StageSpec(
    StageKind Kind,
    string Member,
    string Modifiers,
    string MemberType,
    bool IsPartial,
    EquatableArray<Argument> Arguments,
    EquatableArray<string> OtherStageAttributes,
    MemberTypeFacts MemberTypeFacts,
    string Accessors = "get")
{
    /// <summary>The elements of an array argument (a <c>params</c> constructor argument), stored as <c>Name[0]</c>, <c>Name[1]</c>, ...</summary>
    public System.Collections.Generic.List<string> GetList(string name)
    {
        var list = new System.Collections.Generic.List<string>();
        while (Get(name + "[" + list.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) + "]") is { } item)
            list.Add(item);
        return list;
    }

    /// <summary>The argument the user wrote, or null.</summary>
    public string? Get(string name)
    {
        foreach (var argument in Arguments)
        {
            if (argument.Name == name)
                return argument.Value;
        }
        return null;
    }
}

/// <summary>What the front end needs to know of a custom stage's own module type.</summary>
/// <param name="IsModel">The type is a <c>[Model]</c> class (a tower).</param>
/// <param name="StageContract">The contract of its <c>[Stage]</c> attribute (a user-defined stage kind); null without one.</param>
/// <param name="StageParameters">Its <c>[StageParameter]</c>s in order, each <c>name|shape|nwd</c> (nwd: 1 when left out of weight decay).</param>
/// <param name="ConstructorParameters">The parameters of its public constructor with the most of them, each <c>name:type</c>.</param>
public sealed record MemberTypeFacts(
    bool IsTensorModule,
    bool HasPublicParameterlessConstructor,
    bool IsModel = false,
    bool IsAbstract = false,
    string? StageContract = null,
    EquatableArray<string> StageParameters = default,
    EquatableArray<string> ConstructorParameters = default);

/// <summary>A named attribute argument as written: ints and doubles in invariant culture, enums by member name.</summary>
public sealed record Argument(string Name, string Value);

