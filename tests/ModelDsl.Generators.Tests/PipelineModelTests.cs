using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;

namespace ModelDsl.Generators.Tests;

/// <summary>
/// The values that flow through the incremental pipeline must not hold compiler objects: they
/// would keep whole compilations alive and defeat caching (a new Location or symbol per edit).
/// </summary>
public class PipelineModelTests
{
    private static readonly Type[] Forbidden =
        [typeof(ISymbol), typeof(SyntaxNode), typeof(Location), typeof(SyntaxTree), typeof(Compilation), typeof(SemanticModel), typeof(AttributeData)];

    /// <summary>Every type reachable from <paramref name="root"/> through fields, properties, generic arguments and element types, with the path to it.</summary>
    internal static IReadOnlyList<(Type Type, string Path)> Reachable(Type root)
    {
        var seen = new HashSet<Type>();
        var result = new List<(Type, string)>();
        var queue = new Queue<(Type Type, string Path)>();
        queue.Enqueue((root, root.Name));
        while (queue.Count > 0)
        {
            var (type, path) = queue.Dequeue();
            if (!seen.Add(type))
                continue;
            result.Add((type, path));
            if (type.IsArray)
                queue.Enqueue((type.GetElementType()!, path + "[]"));
            if (type.IsGenericType)
            {
                foreach (var argument in type.GetGenericArguments())
                    queue.Enqueue((argument, $"{path}<{argument.Name}>"));
            }
            // Members are walked for the generator's own types; framework types are walked through their generic arguments only.
            if (type.Assembly != typeof(ModelSpec).Assembly)
                continue;
            const BindingFlags flags = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
            foreach (var field in type.GetFields(flags))
                queue.Enqueue((field.FieldType, $"{path}.{field.Name}"));
            foreach (var property in type.GetProperties(flags).Where(p => p.GetIndexParameters().Length == 0))
                queue.Enqueue((property.PropertyType, $"{path}.{property.Name}"));
        }
        return result;
    }

    // A member is suspect when its type is a compiler object, or could hold one at run time
    // (object, or an interface such as IEquatable<ISymbol> that a compiler object implements).
    private static IEnumerable<string> Violations(Type root) =>
        Reachable(root)
            .Where(r => r.Type == typeof(object) || Forbidden.Any(f => f.IsAssignableFrom(r.Type) || r.Type.IsInterface && r.Type.IsAssignableFrom(f)))
            .Select(r => $"{r.Path}: {r.Type}");

    [Theory]
    [InlineData(typeof(ModelSpec))]
    [InlineData(typeof(ModelGraph))]
    public void Pipeline_models_hold_no_symbols_syntax_locations_or_compilations(Type root)
    {
        var violations = Violations(root).ToList();

        Assert.True(violations.Count == 0, "Reachable compiler objects:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void The_walk_reaches_the_element_types_of_equatable_arrays()
    {
        var types = Reachable(typeof(ModelGraph)).Select(r => r.Type).ToHashSet();

        Assert.Contains(typeof(StageSpec), types);
        Assert.Contains(typeof(Argument), types);
        Assert.Contains(typeof(InputSpec), types);
        Assert.Contains(typeof(GraphStage), types);
        Assert.Contains(typeof(GraphValue), types);
        Assert.Contains(typeof(ForwardSpec), types);
    }

    [Fact]
    public void The_walk_finds_a_location_where_there_is_one()
    {
        // SourceMap is the analyzers' side table: it holds locations, and the walk must notice.
        Assert.Contains(Violations(typeof(SourceMap)), v => v.Contains("Location"));
    }

    [Theory]
    [InlineData(typeof(ModelSpec))]
    [InlineData(typeof(ModelGraph))]
    public void Pipeline_models_are_value_equatable_all_the_way_down(Type root)
    {
        // Records, primitives, strings, enums and EquatableArray compare by value; a class that
        // only inherits object.Equals would make every run look modified.
        var offenders = Reachable(root)
            .Where(r => r.Type.Assembly == typeof(ModelSpec).Assembly && !r.Type.IsEnum)
            .Where(r => r.Type.GetMethod(nameof(Equals), [typeof(object)])!.DeclaringType == typeof(object))
            .Select(r => $"{r.Path}: {r.Type}")
            .ToList();

        Assert.True(offenders.Count == 0, string.Join("\n", offenders));
    }
}
