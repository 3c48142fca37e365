using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Emit;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using static ModelDsl.Generators.Emit.EmitText;
using static ModelDsl.Generators.FrontEnd.ModelCompiler;

namespace ModelDsl.Generators.Stages;

/// <summary>
/// <c>[Codebook(Codes, Dim)]</c>: K shared codes <c>[K,D]</c> (FDT's <c>space_dict</c>), a parameter the model owns once;
/// every <c>[CodebookQuery]</c> that names it receives the same tensor in the forward pass.
/// </summary>
internal sealed class CodebookStage() : StageDefinition(StageKind.Codebook, "Codebook", Parameter)
{
    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var codes = c.PositiveInt(index, stage, "Codes", resolved, fallback: 2, "a positive number of codes");
        var dim = c.PositiveInt(index, stage, "Dim", resolved, fallback: 1, "a positive code width");
        return Shape.Of(Dim.Constant(codes), Dim.Constant(dim));
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout) => layout.Own(Registered(stage), stage.Int("Codes"), stage.Int("Dim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [OwnParameter(Registered(stage), $"{Blocks}.Codebook.Create(codes: {stage.Int("Codes")}, dim: {stage.Int("Dim")})")];
}

/// <summary>
/// <c>[CodebookQuery(Codebook, Tokens)]</c>: one tower's reading of a shared codebook (FDT's <c>Query_model</c>): its
/// tokens <c>[B,L,E]</c> to an L2-normalised weighted sum of codes <c>[B,D]</c>, the code weights <c>[B,K]</c> beside it.
/// </summary>
internal sealed class CodebookQueryStage() : StageDefinition(StageKind.CodebookQuery, "CodebookQuery", "global::ModelDsl.Blocks.CodebookQuery")
{
    private static readonly string[] Weightings = ["Sparsemax", "Softmax", "TopK"];
    private static readonly string[] Pools = ["Max", "Mean", "Sum"];

    public override StageKind? UniquenessGroup(StageSpec stage, bool taskModel) => null;

    // It reads finished tower outputs, never the sequence being built.
    public override bool IsHeadPart => true;

    /// <summary>The forward record's field with the code weights of this query.</summary>
    public static string WeightsOutput(string member) => member + "Weights";

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var weighting = Choice(c, index, stage, resolved, "Weighting", Weightings, "CodeWeighting");
        var pool = Choice(c, index, stage, resolved, "Pool", Pools, "CodePool");
        c.PositiveDouble(index, stage, "Temperature", resolved, 1.0, "a positive, finite temperature such as 1 (FDT's default)");
        var project = stage.Get("Project") != "false";
        resolved.Add(new("Project", project ? "true" : "false"));
        c.CheckReference(index, stage, "Codebook", StageKind.Codebook);
        c.CheckReference(index, stage, "Tokens", StageKind.Tower);
        var codebookName = stage.Get("Codebook") ?? "";
        var tokensName = stage.Get("Tokens") ?? "";
        resolved.Add(new("Codebook", codebookName));
        resolved.Add(new("Tokens", tokensName));
        var topK = ParseInt(stage.Get("TopK")) ?? 0;
        resolved.Add(new("TopK", topK.ToString(CultureInfo.InvariantCulture)));
        if (!c.outputsByMember.TryGetValue(codebookName, out var codebook) || !c.Spec.Stages.Any(s => s.Member == codebookName && s.Kind == StageKind.Codebook)
            || !c.outputsByMember.TryGetValue(tokensName, out var tokens))
            return Broken(c, index);

        var codes = (int)codebook[0].Value!.Value;
        var width = (int)codebook[1].Value!.Value;
        resolved.Add(new("Codes", codes.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("Dim", width.ToString(CultureInfo.InvariantCulture)));
        if (tokens.Rank != 3 || tokens.Last.Value is null)
        {
            c.Report(Descriptors.CodebookNeedsTokens, DiagnosticTarget.Attribute(index, "Tokens"), stage.Member, tokensName, $"{tokens.Text} of rank {tokens.Rank}",
                "read a tower's token sequence with [Tower(Output = \"Tokens\")], or a tower that has no head or projection");
            return Broken(c, index);
        }
        var tokenDim = (int)tokens.Last.Value.Value;
        resolved.Add(new("TokenDim", tokenDim.ToString(CultureInfo.InvariantCulture)));

        if (ParseInt(stage.Get("Dim")) is { } declared && declared != width)
        {
            c.Report(Descriptors.CodebookWidthMismatch, DiagnosticTarget.Attribute(index, "Dim"), stage.Member, $"has Dim = {declared}",
                codebookName, width, codes, $"set Dim = {width} or leave it out to infer it");
            return Broken(c, index);
        }
        if (!project && tokenDim != width)
        {
            c.Report(Descriptors.CodebookWidthMismatch, DiagnosticTarget.Attribute(index, "Tokens"), stage.Member,
                $"scores the tokens of '{tokensName}' {tokens.Text} (width {tokenDim}) without a projection (Project = false)",
                codebookName, width, codes, "remove Project = false to learn FDT's query projection, or give the tokens the codebook's width");
            return Broken(c, index);
        }
        if (codes == 1)
        {
            c.Report(Descriptors.WeightingOverOneCode, DiagnosticTarget.Attribute(index, "Codebook"), stage.Member, codebookName, weighting);
            return Broken(c, index);
        }
        if (weighting == "TopK" && topK <= 0)
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, stage.Get("TopK") is null ? "Weighting" : "TopK"), stage.Member, "TopK",
                stage.Get("TopK") is null ? "0 (not set)" : topK.ToString(CultureInfo.InvariantCulture), $"the number of codes that keep weight, between 1 and {codes - 1}");
            return Broken(c, index);
        }
        if (topK != 0 && (weighting != "TopK" || topK >= codes))
        {
            c.Report(Descriptors.TopKDoesNotFit, DiagnosticTarget.Attribute(index, "TopK"), stage.Member, topK,
                weighting != "TopK"
                    ? $"Weighting is CodeWeighting.{weighting}, which ignores it; set Weighting = CodeWeighting.TopK or remove TopK"
                    : $"'{codebookName}' has {codes} codes, so it keeps every code (plain softmax); use a TopK below {codes}, or Weighting = CodeWeighting.Softmax");
            return Broken(c, index);
        }

        if (stage.Get("Padding") is { } padding)
        {
            var input = c.parsedInputs.FirstOrDefault(i => i.Name == padding);
            var problem = input.Shape is null ? $"the forward method has no input '{padding}'"
                : input.Shape.Rank != 2 || !input.Shape[0].Equals(tokens[0]) || !input.Shape[1].Equals(tokens[1]) ? $"'{padding}' is {input.Shape.Text}, not [{tokens[0].Text},{tokens[1].Text}]"
                : null;
            if (problem is not null)
            {
                c.Report(Descriptors.CodebookPaddingMismatch, DiagnosticTarget.Attribute(index, "Padding"), stage.Member, padding, problem, tokensName, tokens.Text);
                return Broken(c, index);
            }
            c.MarkRead(padding, "Int64");
            resolved.Add(new("Padding", padding));
            resolved.Add(new("PadToken", (ParseInt(stage.Get("PadToken")) ?? 0).ToString(CultureInfo.InvariantCulture)));
        }

        var features = Shape.Of(tokens[0], Dim.Constant(width));
        var weights = Shape.Of(tokens[0], Dim.Constant(codes));
        c.outputs.Add(new(stage.Member, features.Text, $"The codes of '{codebookName}' weighted by '{tokensName}' ({weighting}, {pool} over its tokens), L2-normalised"));
        c.outputs.Add(new(WeightsOutput(stage.Member), weights.Text, $"The weights of '{stage.Member}' over the codes of '{codebookName}' ({weighting})"));
        return features;
    }

    // An enum argument: the written member, or the first (the attribute's default).
    // A stage whose declaration is wrong (reported) or whose source is (reported there) is left out of the module.
    private static Shape? Broken(CompileContext c, int index)
    {
        c.broken.Add(index);
        return null;
    }

    private static string Choice(CompileContext c, int index, StageSpec stage, List<Argument> resolved, string argument, string[] allowed, string enumName)
    {
        var value = stage.Get(argument) ?? allowed[0];
        if (!allowed.Contains(value))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, argument), stage.Member, argument, value,
                string.Join(", ", allowed.Take(allowed.Length - 1).Select(a => $"{enumName}.{a}")) + $" or {enumName}.{allowed[allowed.Length - 1]}");
            value = allowed[0];
        }
        resolved.Add(new(argument, value));
        return value;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        if (stage.Output == "?" || !stage.Bool("Project"))
            return;
        var name = Registered(stage) + ".q_map";
        int tokenDim = stage.Int("TokenDim"), dim = stage.Int("Dim");
        layout.LayerNorm(name + ".0", tokenDim);
        layout.Linear(name + ".1", tokenDim, dim);
        layout.LayerNorm(name + ".3", dim);
        layout.Linear(name + ".4", dim, dim);
    }

    public override IEnumerable<StageMember> Members(GraphStage stage)
    {
        if (stage.Output == "?")
            return [];
        var weighting = stage.Text("Weighting");
        var topK = weighting == "TopK" ? $", topK: {stage.Int("TopK")}" : "";
        var project = stage.Bool("Project") ? "" : ", project: false";
        return [Module(Registered(stage), MemberType,
            $"new {Blocks}.CodebookQuery(tokenDim: {stage.Int("TokenDim")}, dim: {stage.Int("Dim")}, weighting: global::ModelDsl.CodeWeighting.{weighting}{topK}, " +
            $"pool: global::ModelDsl.CodePool.{stage.Text("Pool")}, temperature: {Number(stage.Double("Temperature"))}{project})")];
    }

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        if (stage.Output == "?")
            return;
        var features = Camel(stage.Member) + "Features";
        var weights = Camel(WeightsOutput(stage.Member));
        var codebook = Registered(f.Stage(stage.Text("Codebook"), StageKind.Codebook));
        var tokens = Camel(stage.Text("Tokens")) + "Features";
        // FDT's padding mask: the positions of the pad id in the token ids the tower read.
        var padding = stage.Resolved.Any(a => a.Name == "Padding") ? $", padding: {stage.Text("Padding")}.eq({stage.Int("PadToken")})" : "";
        f.Line($"var ({features}, {weights}) = this.{Registered(stage)}.Forward({tokens}, this.{codebook}{padding});", stage.Output);
        f.Values[stage.Member] = features;
        f.Values[WeightsOutput(stage.Member)] = weights;
    }
}

public readonly partial record struct StageKind
{
    public static readonly StageKind Codebook = new(nameof(Codebook));
    public static readonly StageKind CodebookQuery = new(nameof(CodebookQuery));
}
