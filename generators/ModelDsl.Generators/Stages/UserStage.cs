using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Emit;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using static ModelDsl.Generators.Emit.EmitText;
using static ModelDsl.Generators.FrontEnd.ModelCompiler;
using static ModelDsl.Generators.FrontEnd.ModelCompiler.CompileContext;

namespace ModelDsl.Generators.Stages;

/// <summary>
/// <c>[UseStage]</c> of a module of the user's marked <c>[Stage("contract")]</c>: a stage kind defined outside the
/// library and checked like a built-in one. The contract's left side binds to what the stage reads (the token sequence,
/// or the forward input <c>Input</c> names, which it then turns into the sequence), <c>Sizes</c> binds its own sizes, the
/// right side is its output; the constructor gets the bound sizes by name and the declared <c>[StageParameter]</c>s
/// are its parameter table (the Summary's count, the weights check, a check of the built module).
/// </summary>
internal sealed class UserStageDefinition() : StageDefinition(StageKind.UserStage, "UseStage", "")
{
    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    public override string RegisteredName(StageSpec stage) => stage.Get("RegisteredAs") is { Length: > 0 } name ? name : StageCatalog.SnakeCase(stage.Member);

    // A stage that reads a forward input starts the sequence; prefix tokens and positions may follow it.
    public override bool IsSequenceStart(StageSpec stage) => stage.Get("Input") is not null;

    /// <summary>The Summary's kind column: the user's type.</summary>
    public override string KindName(StageSpec stage) => ShortType(stage.MemberType);

    public override bool CheckMember(CompileContext c, int index, StageSpec stage)
    {
        var facts = stage.MemberTypeFacts;
        var problem = !facts.IsTensorModule ? "is not a Module<Tensor,Tensor>"
            : facts.StageContract is null ? "has no [Stage(\"contract\")] attribute"
            : null;
        if (problem is not null)
        {
            c.broken.Add(index);
            c.Report(Descriptors.UserStageNotUsable, DiagnosticTarget.Member(index), stage.Member, ShortType(stage.MemberType), problem);
        }
        return false;
    }

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var facts = stage.MemberTypeFacts;
        var contract = facts.StageContract ?? "";
        var type = ShortType(stage.MemberType);
        var input = stage.Get("Input");
        resolved.Add(new("Input", input ?? ""));
        resolved.Add(new("Constructor", ""));
        resolved.Add(new("Parameters", "0"));
        resolved.Add(new("RuntimeContract", ""));
        var arrow = contract.IndexOf("->", StringComparison.Ordinal);
        Shape? takes = null, gives = null;
        string? error = arrow < 0 ? "a contract needs '->' between the input and the output shape" : null;
        if (error is not null || !Shape.TryParse(contract.Substring(0, arrow), out takes, out error) || !Shape.TryParse(contract.Substring(arrow + 2), out gives, out error))
        {
            c.Report(Descriptors.UnparsableShape, DiagnosticTarget.Attribute(index), contract, $"[Stage] of {type}", error!);
            c.upstreamBroken = true;
            c.broken.Add(index);
            return null;
        }

        // What it reads: a forward input by name, else the token sequence so far.
        Shape? source;
        string from;
        if (input is not null)
        {
            var named = c.parsedInputs.FirstOrDefault(i => i.Name == input);
            if (named.Shape is null)
            {
                if (c.inputs.All(i => i.Name != input))
                    c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index, "Input"), stage.Member, $"a forward input '{input}' {takes!.Text}", "the forward method has no input of that name");
                c.upstreamBroken = true;
                c.broken.Add(index);
                return null;
            }
            c.MarkRead(input);
            (source, from) = (named.Shape, $"the input '{input}'");
        }
        else
        {
            if (c.sequence is null)
            {
                if (!c.upstreamBroken)
                    c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, $"a token sequence {takes!.Text}", "no stage before it produces one; read a forward input with Input = \"...\"");
                c.broken.Add(index);
                return null;
            }
            (source, from) = (c.sequence, $"'{c.sequenceSource}'");
        }

        var bindings = new Dictionary<string, Dim>();
        if (!ReadSizes(c, index, stage, bindings))
        {
            c.broken.Add(index);
            return null;
        }
        if (takes!.Rank != source.Rank)
        {
            Mismatch(c, index, stage, contract, $"it receives {source.Text} of rank {source.Rank} from {from}, not rank {takes.Rank}", "Input");
            return null;
        }
        for (var d = 0; d < takes.Rank; d++)
        {
            if (IsPlainSymbol(takes[d]) && !bindings.ContainsKey(takes[d].Text))
                bindings[takes[d].Text] = source[d];
            var expected = takes[d].Substitute(bindings);
            if (!expected.Equals(source[d]))
            {
                Mismatch(c, index, stage, contract, $"it receives {source.Text} from {from}, whose dimension {d} is {source[d].Text}, not {takes[d].Text} = {expected.Text}", "Input");
                return null;
            }
        }
        var outputSide = contract.Substring(arrow + 2);
        if (System.Text.RegularExpressions.Regex.Matches(outputSide, "[A-Za-z_][A-Za-z0-9_]*").Cast<System.Text.RegularExpressions.Match>()
                .Select(m => m.Value).FirstOrDefault(name => !bindings.ContainsKey(name)) is { } unbound)
        {
            Mismatch(c, index, stage, contract, $"its output uses '{unbound}', which neither its input side nor Sizes binds; add it to Sizes = \"{unbound}=...\"", "Sizes");
            return null;
        }
        var output = Bind(outputSide, bindings);
        if (output.Dims.FirstOrDefault(d => d.Value is <= 0) is { } empty)
        {
            Mismatch(c, index, stage, contract, $"its output {output.Text} has a dimension of {empty.Text}");
            return null;
        }

        // The constructor takes the bound sizes by name: nothing of the graph is hard-coded in the module.
        var arguments = new List<string>();
        foreach (var parameter in facts.ConstructorParameters)
        {
            var (name, parameterType) = (parameter.Substring(0, parameter.IndexOf(':')), parameter.Substring(parameter.IndexOf(':') + 1));
            if (parameterType is not ("int" or "long") || !bindings.TryGetValue(name, out var size) || size.Value is not long value || value > int.MaxValue)
            {
                Mismatch(c, index, stage, contract, $"the constructor of {type} takes '{parameterType} {name}', which is not a size the contract binds to a number ({Bound(bindings)})");
                return null;
            }
            arguments.Add($"{name}: {value.ToString(CultureInfo.InvariantCulture)}");
        }

        // The declared parameters, their shapes over the bound sizes.
        var registered = RegisteredName(stage);
        for (var i = 0; i < facts.StageParameters.Count; i++)
        {
            var parts = facts.StageParameters[i].Split('|');
            if (!Shape.TryParse(parts[1], out _, out var shapeError) || Bind(parts[1], bindings).Dims.Any(d => d.Value is not > 0))
            {
                var why = shapeError ?? $"its dimensions must be positive sizes the contract binds ({Bound(bindings)})";
                Mismatch(c, index, stage, contract, $"the parameter '{parts[0]}' of {type} has the shape \"{parts[1]}\": {why}");
                return null;
            }
            var dims = Bind(parts[1], bindings).Dims.Select(d => d.Value!.Value.ToString(CultureInfo.InvariantCulture));
            resolved.Add(new($"Parameter[{i.ToString(CultureInfo.InvariantCulture)}]", parts[0] + "|" + string.Join(",", dims)));
            if (parts[2] == "1")
                c.noWeightDecay.Add(registered + "." + parts[0]);
        }
        resolved.RemoveAll(a => a.Name is "Constructor" or "Parameters" or "RuntimeContract");
        resolved.Add(new("Constructor", string.Join(", ", arguments)));
        resolved.Add(new("Parameters", facts.StageParameters.Count.ToString(CultureInfo.InvariantCulture)));
        // Checked on the first call against what it really receives and returns.
        resolved.Add(new("RuntimeContract", $"{source.Text.Trim('[', ']')} -> {output.Text.Trim('[', ']')}"));
        if (input is not null && output.Rank == 3)
        {
            c.patchTokens = output[1];
            c.StartLayout(stage.Member, output[1]);
        }
        else if (input is null)
            c.KeepOrReplaceLayout(stage.Member, output);
        c.SetSequence(output, stage.Member);
        return output;
    }

    // A shape of the contract with its names replaced by what they are bound to, then evaluated: (H/P)*(W/P) is 16 once
    // H = 28, W = 28 and P = 7, which substituting into an already parsed H/P (kept whole, being inexact) would not give.
    private static Shape Bind(string text, Dictionary<string, Dim> bindings) =>
        Shape.Parse(System.Text.RegularExpressions.Regex.Replace(text, "[A-Za-z_][A-Za-z0-9_]*",
            m => bindings.TryGetValue(m.Value, out var dim) ? "(" + dim.Text + ")" : m.Value));

    // Sizes = "P=7,D=64": the contract's own sizes.
    private static bool ReadSizes(CompileContext c, int index, StageSpec stage, Dictionary<string, Dim> bindings)
    {
        foreach (var entry in (stage.Get("Sizes") ?? "").Split(',').Select(e => e.Trim()).Where(e => e.Length > 0))
        {
            var equals = entry.IndexOf('=');
            var name = equals < 0 ? entry : entry.Substring(0, equals).Trim();
            if (equals < 0 || name.Length == 0 || !char.IsLetter(name[0]) || !name.All(ch => char.IsLetterOrDigit(ch) || ch == '_')
                || !int.TryParse(entry.Substring(equals + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0)
            {
                c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Sizes"), stage.Member, "Sizes", $"\"{stage.Get("Sizes")}\"",
                    "sizes written as \"P=7,D=64\": a name, '=', a positive number, separated by commas");
                return false;
            }
            bindings[name] = Dim.Constant(value);
        }
        return true;
    }

    // The stage cannot be built as declared: reported, and left out of the module.
    // At the argument that causes it when the member wrote one (Input, Sizes), else at the attribute.
    private static void Mismatch(CompileContext c, int index, StageSpec stage, string contract, string problem, string? argument = null)
    {
        c.upstreamBroken = true;
        c.broken.Add(index);
        c.Report(Descriptors.ContractMismatch, DiagnosticTarget.Attribute(index, argument is not null && stage.Get(argument) is not null ? argument : null), stage.Member, contract, problem);
    }

    private static string Bound(Dictionary<string, Dim> bindings) =>
        bindings.Count == 0 ? "none is bound" : string.Join(", ", bindings.OrderBy(b => b.Key, StringComparer.Ordinal).Select(b => $"{b.Key} = {b.Value.Text}"));

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        foreach (var (name, shape) in Declared(stage))
            layout.Tensor(Registered(stage) + "." + name, shape);
    }

    private static IEnumerable<(string Name, long[] Shape)> Declared(GraphStage stage)
    {
        for (var i = 0; i < stage.Int("Parameters"); i++)
        {
            var parts = stage.Text($"Parameter[{i.ToString(CultureInfo.InvariantCulture)}]").Split('|');
            yield return (parts[0], parts[1].Split(',').Select(d => long.Parse(d, CultureInfo.InvariantCulture)).ToArray());
        }
    }

    // The module is checked against its declared parameters as soon as it is built.
    public override IEnumerable<StageMember> Members(GraphStage stage)
    {
        var declared = string.Join(", ", Declared(stage).Select(p => $"(\"{p.Name}\", new long[] {{ {string.Join(", ", p.Shape)} }})"));
        var build = $"new {stage.Spec.MemberType}({stage.Text("Constructor")})";
        yield return Module(Registered(stage), stage.Spec.MemberType,
            $"global::ModelDsl.Blocks.UserStages.Declared({build}, \"{stage.Member}\"{(declared.Length == 0 ? "" : ", " + declared)})");
        yield return new StageMember(ContractVerified(stage), "bool", null, MemberRole.Field);
        yield return new StageMember(stage.Member + "Contract", "global::ModelDsl.ShapeContract", $"global::ModelDsl.ShapeContract.Parse(\"{stage.Text("RuntimeContract")}\")", MemberRole.Static);
    }

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        var input = stage.Text("Input");
        var call = $"{stage.Member}Contract.Invoke({Registered(stage)}, {(input.Length == 0 ? "x" : input)}, nameof({stage.Member}), ref {ContractVerified(stage)})";
        if (input.Length > 0)
            PatchEmbeddingStage.WriteSequenceStart(f, call, stage.Output);
        else if (f.HasTokens)
            f.Line($"x = {call};", stage.Output);
    }

    private static string ContractVerified(GraphStage stage) => Registered(stage) + "_contract_verified";
}

public readonly partial record struct StageKind
{
    public static readonly StageKind UserStage = new(nameof(UserStage));
}
