using System;
using System.Collections.Generic;
using System.Linq;
using ModelDsl.Generators.Tests.Infrastructure;
using static ModelDsl.Generators.Tests.DiagnosticTests;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// Distillation from a frozen teacher: the generated modules against approved baselines, and the diagnostics
/// (MD0085, MD0086): a failing case at its exact span and a passing case each.
/// </summary>
public class DistillDiagnosticTests
{
    /// <summary>A teacher ViT and two students (tests/ModelDsl.Tests builds and runs them).</summary>
    internal static string Models => Repo.ReadText("tests/ModelDsl.Tests/Generated/DistillModels.cs");

    [Fact]
    public void Distill_models_match_the_approved_baselines()
    {
        var run = TestCompilation.RunGenerator(TestCompilation.Create(Models));

        foreach (var name in new[] { "QueryDistilledStudent", "LogitDistilledStudent" })
        {
            var source = run.Result.GeneratedSources.Single(s => s.HintName == $"ModelDsl.Tests.Generated.{name}.g.cs");
            Snapshot.Verify("Distill." + name, source.SourceText.ToString().Replace("\r\n", "\n"));
        }
    }

    [Fact]
    public void Distill_models_compile_cleanly() => DiagnosticAssert.Clean(Models);

    private const string QueryDistill = "[Distill(nameof(Teacher), nameof(Query), Loss = DistillLoss.Cosine, Project = true)]";
    private const string QueryTeacher = "[Tower(Teacher = true)]";

    public static readonly IReadOnlyDictionary<string, Case> Failing = new Dictionary<string, Case>
    {
        ["MD0085 widths that differ without a projection"] = new("MD0085",
            Edit(Models, (QueryDistill, "[Distill(nameof(Teacher), {|MD0085:nameof(Query)|}, Loss = DistillLoss.Cosine)]")),
            ["'Distill' distills 'Query' [B,32] from the teacher 'Teacher' [B,48]", "the widths differ (32 and 48); set Project = true"]),
        ["MD0085 token counts that differ"] = new("MD0085",
            Edit(Models, ("[Tokens(Count = 1, Place = Place.AfterContent)]", "[Tokens(Count = 2, Place = Place.AfterContent)]"),
                (QueryDistill, "[Distill(nameof(Teacher), {|MD0085:nameof(Query)|}, Loss = DistillLoss.Cosine, Project = true)]")),
            ["'Query' [B,2,32] from the teacher 'Teacher' [B,48]", "their shapes differ before the last dimension, which no projection changes"]),
        ["MD0086 a trainable tower as teacher"] = new("MD0086",
            Edit(Models, (QueryTeacher, "[Tower]"), (QueryDistill, "[Distill({|MD0086:nameof(Teacher)|}, nameof(Query), Loss = DistillLoss.Cosine, Project = true)]")),
            ["'Distill' distills from 'Teacher', a trainable [Tower]", "declare it [Tower(Teacher = true)]"]),
        ["MD0086 a frozen registered tower as teacher"] = new("MD0086",
            Edit(Models, (QueryTeacher, "[Tower(Frozen = true)]"), (QueryDistill, "[Distill({|MD0086:nameof(Teacher)|}, nameof(Query), Loss = DistillLoss.Cosine, Project = true)]")),
            ["a frozen but registered [Tower]: its weights would be saved in the student's checkpoint"]),
    };

    public static readonly IReadOnlyDictionary<string, string> Passing = new Dictionary<string, string>
    {
        ["MD0085 widths bridged by a projection"] = Models,
        ["MD0085 equal widths without a projection"] = Edit(Models, ("[PatchEmbedding(PatchSize = 7, Dim = 32)]\n    public partial PatchEmbedding Patches { get; }\n\n    [ClsToken]\n    public partial Parameter Cls { get; }\n\n    [Tokens",
            "[PatchEmbedding(PatchSize = 7, Dim = 48)]\n    public partial PatchEmbedding Patches { get; }\n\n    [ClsToken]\n    public partial Parameter Cls { get; }\n\n    [Tokens"),
            (QueryDistill, "[Distill(nameof(Teacher), nameof(Query), Loss = DistillLoss.Mse)]")),
        ["MD0085 the CLS token bridged by a projection"] = Edit(Models, (QueryDistill, "[Distill(nameof(Teacher), nameof(Cls), Loss = DistillLoss.SmoothL1, Project = true)]")),
        ["MD0086 a teacher tower"] = Models,
    };

    public static TheoryData<string> FailingNames => new(Failing.Keys);

    public static TheoryData<string> PassingNames => new(Passing.Keys);

    [Theory]
    [MemberData(nameof(FailingNames))]
    public void Failing_declaration_reports_at_the_marked_span(string name)
    {
        var @case = Failing[name];

        var diagnostic = Assert.Single(DiagnosticAssert.Verify(@case.Markup));

        var message = diagnostic.GetMessage();
        foreach (var part in @case.Message)
            Assert.True(message.Contains(part, StringComparison.Ordinal), $"The message lacks \"{part}\":\n{message}");
        Assert.Equal(@case.Id, diagnostic.Id);
    }

    // A wrong declaration leaves the stage out of the module: the generated file still compiles.
    [Theory]
    [MemberData(nameof(FailingNames))]
    public void Failing_declaration_leaves_a_generated_file_without_errors(string name)
    {
        var run = TestCompilation.Run(Markup.Parse(Failing[name].Markup).Source);

        var errors = run.Generator.Output.GetDiagnostics()
            .Where(d => d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error && d.Location.SourceTree?.FilePath.EndsWith(".g.cs", StringComparison.Ordinal) == true)
            .ToList();
        Assert.True(errors.Count == 0, TestCompilation.Describe(errors));
    }

    [Theory]
    [MemberData(nameof(PassingNames))]
    public void Passing_declaration_reports_nothing(string name) => DiagnosticAssert.Clean(Passing[name]);

    [Fact]
    public void The_CLS_token_is_a_student_output_read_at_its_place()
    {
        var markup = Edit(Models, (QueryDistill, "[Distill(nameof(Teacher), nameof(Cls), Loss = DistillLoss.SmoothL1, Project = true)]"));
        var source = TestCompilation.RunGenerator(TestCompilation.Create(markup)).Result.GeneratedSources
            .Single(s => s.HintName == "ModelDsl.Tests.Generated.QueryDistilledStudent.g.cs").SourceText.ToString();
        Assert.Contains("var distillStudent = x.select(1, 0);", source);
        Assert.Contains("this.distill.Compute(output.DistillStudent, output.Teacher)", source);
    }

    [Fact]
    public void A_weights_file_on_a_tower_that_is_not_a_teacher_is_out_of_range()
    {
        var markup = Edit(Models, ("[Tower(Teacher = true, Output = \"Logits\")]", "[Tower(Teacher = true, Output = \"Logits\", Weights = \"teacher.safetensors\")]"),
            (QueryTeacher, "[Tower(Teacher = true)]"));
        var source = TestCompilation.RunGenerator(TestCompilation.Create(Markup.Parse(markup).Source)).Result.GeneratedSources
            .Single(s => s.HintName == "ModelDsl.Tests.Generated.LogitDistilledStudent.g.cs").SourceText.ToString();
        Assert.Contains("teacher = global::ModelDsl.Blocks.Teachers.Frozen(new global::ModelDsl.Tests.Generated.TeacherVit(device), weights: \"teacher.safetensors\");", source);

        var wrong = Edit(Models, (QueryTeacher, "[Tower(Teacher = true)]"), ("[Tower(Teacher = true, Output = \"Logits\")]", "[Tower(Output = \"Logits\", {|MD0008:Weights = \"t.safetensors\"|})]"),
            ("[Distill(nameof(Teacher), nameof(Head), Loss", "[Distill({|MD0086:nameof(Teacher)|}, nameof(Head), Loss"));
        DiagnosticAssert.Verify(wrong);
    }
}
