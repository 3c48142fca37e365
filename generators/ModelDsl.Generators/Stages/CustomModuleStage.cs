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
/// <c>[CustomModule("B,N,D -> B,N,E")]</c>: any <c>Module&lt;Tensor,Tensor&gt;</c> of the user's, its contract checked
/// against the tokens it receives at compile time and on its first call; registered under the member's snake_case name.
/// </summary>
internal sealed class CustomModuleStage() : StageDefinition(StageKind.CustomModule, "CustomModule", "")
{
    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    // The user's own module type: it must be a Module<Tensor,Tensor> the generated constructor can build.
    public override bool CheckMember(CompileContext c, int index, StageSpec stage)
    {
        var facts = stage.MemberTypeFacts;
        if (!facts.IsTensorModule || !facts.HasPublicParameterlessConstructor)
        {
            c.broken.Add(index);
            c.Report(Descriptors.CustomModuleNotUsable, DiagnosticTarget.Member(index), stage.Member, ShortType(stage.MemberType),
                facts.IsTensorModule ? "has no public parameterless constructor" : "is not a Module<Tensor,Tensor>");
        }
        return false;
    }

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var contract = stage.Get("Contract") ?? "";
        resolved.Add(new("Contract", contract));
        var arrow = contract.IndexOf("->", StringComparison.Ordinal);
        if (arrow < 0)
        {
            c.Report(Descriptors.UnparsableShape, DiagnosticTarget.Attribute(index, "Contract"), contract, stage.Member, "a contract needs '->' between the input and the output shape");
            return c.sequence;
        }
        if (!Shape.TryParse(contract.Substring(0, arrow), out var input, out var error) || !Shape.TryParse(contract.Substring(arrow + 2), out var output, out error))
        {
            c.Report(Descriptors.UnparsableShape, DiagnosticTarget.Attribute(index, "Contract"), contract, stage.Member, error!);
            return c.sequence;
        }
        if (c.sequence is null)
        {
            c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "a token sequence to transform", "no stage before it produces one");
            return null;
        }
        if (input!.Rank != c.sequence.Rank)
        {
            c.Report(Descriptors.ContractMismatch, DiagnosticTarget.Attribute(index, "Contract"), stage.Member, contract,
                $"it receives {c.sequence.Text} of rank {c.sequence.Rank} from '{c.sequenceSource}', not rank {input.Rank}");
            return c.sequence;
        }

        // Bind the contract's plain symbols to what the stage receives, then check the rest.
        var bindings = new Dictionary<string, Dim>();
        for (var d = 0; d < input.Rank; d++)
        {
            if (IsPlainSymbol(input[d]) && !bindings.ContainsKey(input[d].Text))
                bindings[input[d].Text] = c.sequence[d];
        }
        for (var d = 0; d < input.Rank; d++)
        {
            var expected = input[d].Substitute(bindings);
            if (!expected.Equals(c.sequence[d]))
            {
                var shown = expected.Text == input[d].Text ? input[d].Text : $"{input[d].Text} = {expected.Text}";
                c.Report(Descriptors.ContractMismatch, DiagnosticTarget.Attribute(index, "Contract"), stage.Member, contract,
                    $"it receives {c.sequence.Text} from '{c.sequenceSource}', whose dimension {d} is {c.sequence[d].Text}, not {shown}");
                return c.sequence;
            }
        }
        var unbound = output!.Dims.SelectMany(d => d.Symbols).FirstOrDefault(s => !bindings.ContainsKey(s));
        if (unbound is not null)
        {
            c.Report(Descriptors.ContractMismatch, DiagnosticTarget.Attribute(index, "Contract"), stage.Member, contract,
                $"its output uses '{unbound}', which the input side does not bind");
            return c.sequence;
        }
        var result = new Shape(output.Dims.Select(d => d.Substitute(bindings)));
        c.KeepOrReplaceLayout(stage.Member, result);
        c.SetSequence(result, stage.Member);
        // Never a silent '?': say why the count is unknown and what declares it.
        c.Report(Descriptors.ParametersUnknown, DiagnosticTarget.Member(index), stage.Member, ShortType(stage.MemberType), RegisteredName(stage));
        return c.sequence;
    }

    // Not known before the module is built: the weights check skips its names, the Summary says so.
    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Opaque(Registered(stage));

    public override IEnumerable<StageMember> Members(GraphStage stage)
    {
        yield return Module(Registered(stage), stage.Spec.MemberType, $"new {stage.Spec.MemberType}()");
        yield return new StageMember(ContractVerified(stage), "bool", null, MemberRole.Field);
        yield return new StageMember(stage.Member + "Contract", "global::ModelDsl.ShapeContract", $"global::ModelDsl.ShapeContract.Parse(\"{stage.Text("Contract")}\")", MemberRole.Static);
    }

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (f.HasTokens)
            f.Line($"x = {stage.Member}Contract.Invoke({Registered(stage)}, x, nameof({stage.Member}), ref {ContractVerified(stage)});", stage.Output);
    }

    private static string ContractVerified(GraphStage stage) => Registered(stage) + "_contract_verified";
}

public readonly partial record struct StageKind
{
    public static readonly StageKind CustomModule = new(nameof(CustomModule));
}
