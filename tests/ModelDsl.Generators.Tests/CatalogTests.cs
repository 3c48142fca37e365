using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using ModelDsl.Analyzers;
using ModelDsl.Generators.Tests.Infrastructure;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// The catalog is written down in four places (descriptors, release tracking, the docs table and
/// the README table); these tests keep them from drifting apart.
/// </summary>
public class CatalogTests
{
    private static readonly DiagnosticDescriptor[] Descriptors =
        new ModelAnalyzer().SupportedDiagnostics.Where(d => d.Id.StartsWith("MD", StringComparison.Ordinal)).OrderBy(d => d.Id).ToArray();

    public static TheoryData<string> Tables => new() { "README.md", "docs/diagnostics/README.md" };

    [Theory]
    [MemberData(nameof(Tables))]
    public void Every_descriptor_has_a_row_with_its_severity_and_no_row_is_stale(string table)
    {
        var rows = Regex.Matches(Repo.ReadText(table), @"^\| \[(MD\d{4})\]\([^)]*\) \| (\w+) \|", RegexOptions.Multiline)
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);

        Assert.Equal(Descriptors.Select(d => d.Id), rows.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var descriptor in Descriptors)
            Assert.True(rows[descriptor.Id] == descriptor.DefaultSeverity.ToString(),
                $"{table}: {descriptor.Id} is listed as {rows[descriptor.Id]}, but its descriptor says {descriptor.DefaultSeverity}.");
    }

    [Fact]
    public void Every_descriptor_has_a_help_page_it_links_to()
    {
        foreach (var descriptor in Descriptors)
        {
            var page = Path.Combine(Repo.Root, "docs", "diagnostics", descriptor.Id + ".md");
            Assert.True(File.Exists(page), $"{descriptor.Id} has no help page at docs/diagnostics/{descriptor.Id}.md.");
            Assert.EndsWith($"docs/diagnostics/{descriptor.Id}.md", descriptor.HelpLinkUri, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Every_descriptor_is_tracked_in_the_release_notes()
    {
        var tracked = Repo.ReadText("generators/ModelDsl.Generators/AnalyzerReleases.Unshipped.md")
                      + Repo.ReadText("generators/ModelDsl.Generators/AnalyzerReleases.Shipped.md");
        foreach (var descriptor in Descriptors)
            Assert.Matches(new Regex($@"^{descriptor.Id} \| ModelDsl \| {descriptor.DefaultSeverity} \|", RegexOptions.Multiline), tracked);
    }
}
