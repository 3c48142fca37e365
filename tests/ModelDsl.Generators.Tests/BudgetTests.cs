using System.Threading.Tasks;
using ModelDsl.Generators.Tests.Infrastructure;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// Issue 16's compile-time budget: a declaration with more parameters than its budget ([Model(MaxParameters)], else
/// .editorconfig's modeldsl.max_parameters, else a billion) is a warning at the class before anything runs.
/// </summary>
public class BudgetTests
{
    private const string ClassLine = "public partial class Vit\n";

    // Depth 100,000 at width 64: about 5 billion parameters (20 GB as fp32).
    private static string Huge(string classLine) => DiagnosticTests.Edit(DiagnosticTests.Valid,
        ("[TransformerEncoder(Depth = 2, Heads = 4)]", "[TransformerEncoder(Depth = 100000, Heads = 4)]"),
        (ClassLine, classLine));

    [Fact]
    public Task A_declaration_over_the_default_budget_is_a_warning_at_the_class() =>
        new ModelAnalyzerTest(Huge("public partial class {|MD0054:Vit|}\n")).RunAsync();

    [Fact]
    public Task The_message_gives_the_count_the_fp32_size_and_the_budget()
    {
        var diagnostic = Assert.Single(DiagnosticAssert.Verify(Huge("public partial class {|MD0054:Vit|}\n")));
        var message = diagnostic.GetMessage();
        Assert.Contains("'Vit' declares 4,998,405,130 parameters (18.6 GiB as fp32, 55.9 GiB more for AdamW's moments in training)", message);
        Assert.Contains("18.6 GiB as fp32", message);
        Assert.Contains("over its budget of 1,000,000,000 (the default)", message);
        return Task.CompletedTask;
    }

    [Fact]
    public Task A_raised_budget_on_the_model_accepts_it() =>
        new ModelAnalyzerTest(DiagnosticTests.Edit(Huge(ClassLine), ("[Model]", "[Model(MaxParameters = 10_000_000_000)]"))).RunAsync();

    [Fact]
    public Task A_declaration_over_its_flops_budget_is_a_warning_at_the_class_with_the_count()
    {
        var diagnostic = Assert.Single(DiagnosticAssert.Verify(DiagnosticTests.Edit(DiagnosticTests.Valid,
            ("[Model]", "[Model(MaxFlops = 1_000_000)]"), (ClassLine, "public partial class {|MD0055:Vit|}\n"))));
        var message = diagnostic.GetMessage();
        Assert.Matches(@"'Vit' takes [0-9,]+ FLOPs per sample in its forward pass at the declared sizes", message);
        Assert.Contains("over its budget of 1,000,000 ([Model(MaxFlops)])", message);
        return Task.CompletedTask;
    }

    // Depth 1,000,000 at width 64 on 17 tokens: about 1.8 x 10^12 FLOPs, over the default 10^12 (parameters allowed).
    [Fact]
    public Task The_default_flops_budget_flags_an_absurd_depth() =>
        new ModelAnalyzerTest(DiagnosticTests.Edit(DiagnosticTests.Valid,
            ("[TransformerEncoder(Depth = 2, Heads = 4)]", "[TransformerEncoder(Depth = 1000000, Heads = 4)]"),
            ("[Model]", "[Model(MaxParameters = 1_000_000_000_000)]"), (ClassLine, "public partial class {|MD0055:Vit|}\n"))).RunAsync();

    [Fact]
    public Task A_flops_budget_in_editorconfig_applies_to_the_file()
    {
        var test = new ModelAnalyzerTest(DiagnosticTests.Edit(DiagnosticTests.Valid, (ClassLine, "public partial class {|MD0055:Vit|}\n")));
        test.TestState.AnalyzerConfigFiles.Add(("/.editorconfig", "root = true\n\n[*.cs]\nmodeldsl.max_flops = 1000\n"));
        return test.RunAsync();
    }

    [Fact]
    public Task A_budget_in_editorconfig_applies_to_the_file()
    {
        var test = new ModelAnalyzerTest(DiagnosticTests.Edit(DiagnosticTests.Valid, (ClassLine, "public partial class {|MD0054:Vit|}\n")));
        test.TestState.AnalyzerConfigFiles.Add(("/.editorconfig", "root = true\n\n[*.cs]\nmodeldsl.max_parameters = 10000\n"));
        return test.RunAsync();
    }
}
