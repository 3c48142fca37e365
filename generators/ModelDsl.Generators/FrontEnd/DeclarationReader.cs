using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Stages;

namespace ModelDsl.Generators.FrontEnd;

/// <summary>Reads a <c>[Model]</c> class symbol into a <see cref="ModelSpec"/> and, on request, its <see cref="SourceMap"/>.</summary>
public static class DeclarationReader
{
    private const string ForwardName = "Forward";

    public static ModelSpec Read(INamedTypeSymbol type, CancellationToken cancellationToken) => Read(type, map: null, cancellationToken);

    public static (ModelSpec Spec, SourceMap Map) ReadWithLocations(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        var map = new SourceMap(type.Locations.FirstOrDefault() ?? Location.None);
        return (Read(type, map, cancellationToken), map);
    }

    /// <summary>
    /// The specs of every [Model] class that <paramref name="type"/> reaches through [Tower] members,
    /// transitively (the type itself too when a cycle leads back to it), sorted by type name.
    /// </summary>
    public static EquatableArray<ModelSpec> ReadTowers(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        var found = new Dictionary<string, ModelSpec>();
        var pending = new Stack<INamedTypeSymbol>();
        pending.Push(type);
        while (pending.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var property in pending.Pop().GetMembers().OfType<IPropertySymbol>())
            {
                if (property.Type is not INamedTypeSymbol tower
                    || !property.GetAttributes().Any(a => StageCatalog.Is(a.AttributeClass, StageCatalog.TowerAttribute))
                    || !tower.GetAttributes().Any(a => StageCatalog.Is(a.AttributeClass, StageCatalog.ModelAttribute)))
                    continue;
                var name = TypeName(tower);
                if (found.ContainsKey(name))
                    continue;
                found[name] = Read(tower, cancellationToken);
                pending.Push(tower);
            }
        }
        return found.OrderBy(p => p.Key, System.StringComparer.Ordinal).Select(p => p.Value).ToEquatableArray();
    }

    private static ModelSpec Read(INamedTypeSymbol type, SourceMap? map, CancellationToken cancellationToken)
    {
        var forward = ReadForward(type, map, cancellationToken);
        var stages = new List<StageSpec>();
        foreach (var property in type.GetMembers().OfType<IPropertySymbol>())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (ReadStage(property, map, cancellationToken) is { } stage)
                stages.Add(stage);
        }

        return new ModelSpec(
            type.ContainingNamespace is { IsGlobalNamespace: false } ns ? ns.ToDisplayString() : "",
            ContainingTypes(type).ToEquatableArray(),
            type.Name,
            type.DeclaredAccessibility == Accessibility.Public ? "public" : "internal",
            IsPartial(type, cancellationToken),
            forward,
            stages.ToEquatableArray(),
            ReadWeights(type, map, cancellationToken),
            TypeParameterList(type),
            type.IsRecord ? (type.TypeKind == TypeKind.Struct ? "record struct" : "record") : type.TypeKind == TypeKind.Struct ? "struct" : "class");
    }

    private static WeightsSpec? ReadWeights(INamedTypeSymbol type, SourceMap? map, CancellationToken cancellationToken)
    {
        var attribute = type.GetAttributes().FirstOrDefault(a => StageCatalog.Is(a.AttributeClass, StageCatalog.PretrainedWeightsAttribute));
        if (attribute is not { ConstructorArguments.Length: 1 } || attribute.ConstructorArguments[0].Value is not string path)
            return null;
        if (map is not null)
            map.Weights = ArgumentLocation(attribute, cancellationToken);
        string? prefix = null;
        var exclude = new List<string>();
        foreach (var named in attribute.NamedArguments)
        {
            if (named.Key == "Prefix")
                prefix = named.Value.Value as string;
            else if (named.Key == "Exclude" && named.Value.Kind == TypedConstantKind.Array)
                exclude.AddRange(named.Value.Values.Select(v => v.Value as string).Where(v => v is not null)!);
        }
        return new WeightsSpec(path, prefix ?? "", exclude.ToEquatableArray());
    }

    private static ForwardSpec? ReadForward(INamedTypeSymbol type, SourceMap? map, CancellationToken cancellationToken)
    {
        var method = type.GetMembers(ForwardName).OfType<IMethodSymbol>().FirstOrDefault(m => m.PartialImplementationPart is not null || m.IsPartialDefinition)
            ?? type.GetMembers(ForwardName).OfType<IMethodSymbol>().FirstOrDefault();
        if (method is null)
            return null;

        var syntax = method.DeclaringSyntaxReferences.Select(r => r.GetSyntax(cancellationToken)).OfType<MethodDeclarationSyntax>().FirstOrDefault();
        if (map is not null)
            map.Forward = method.Locations.FirstOrDefault();

        var inputs = new List<InputSpec>();
        foreach (var parameter in method.Parameters)
        {
            var shapeAttribute = parameter.GetAttributes().FirstOrDefault(a => StageCatalog.Is(a.AttributeClass, StageCatalog.ShapeAttribute));
            var shape = shapeAttribute is { ConstructorArguments.Length: 1 } ? shapeAttribute.ConstructorArguments[0].Value as string : null;
            var refKind = parameter.IsParams ? "params" : parameter.RefKind switch
            {
                RefKind.Ref => "ref",
                RefKind.Out => "out",
                RefKind.In => "in",
                _ => "",
            };
            inputs.Add(new InputSpec(parameter.Name, TypeName(parameter.Type), shape, refKind));
            map?.Inputs.Add(ArgumentLocation(shapeAttribute, cancellationToken) ?? parameter.Locations.FirstOrDefault() ?? Location.None);
        }

        return new ForwardSpec(
            method.Name,
            Modifiers(syntax?.Modifiers),
            syntax?.ReturnType.ToString() ?? TypeName(method.ReturnType),
            method.IsPartialDefinition || syntax?.Modifiers.Any(SyntaxKind.PartialKeyword) == true,
            inputs.ToEquatableArray());
    }

    private static StageSpec? ReadStage(IPropertySymbol property, SourceMap? map, CancellationToken cancellationToken)
    {
        AttributeData? stageAttribute = null;
        StageDefinition? entry = null;
        var others = new List<string>();
        foreach (var attribute in property.GetAttributes())
        {
            if (StageCatalog.ModelDslName(attribute.AttributeClass) is not { } attributeName || !StageDefinitions.TryGet(attributeName, out var candidate))
                continue;
            if (entry is null)
            {
                (stageAttribute, entry) = (attribute, candidate);
            }
            else
            {
                others.Add(candidate.ShortName);
            }
        }
        if (entry is null || stageAttribute is null)
            return null;

        var arguments = new List<Argument>();
        var constructorParameters = stageAttribute.AttributeConstructor?.Parameters ?? [];
        for (var i = 0; i < stageAttribute.ConstructorArguments.Length && i < constructorParameters.Length; i++)
        {
            var constant = stageAttribute.ConstructorArguments[i];
            var name = Pascal(constructorParameters[i].Name);
            if (constant.Kind == TypedConstantKind.Array)
            {
                // One argument per element, Names[0], Names[1], ...; a null element reads as "" so the indices stay aligned.
                var elements = constant.IsNull ? System.Collections.Immutable.ImmutableArray<TypedConstant>.Empty : constant.Values;
                for (var e = 0; e < elements.Length; e++)
                    arguments.Add(new Argument(Element(name, e), Format(elements[e]) ?? ""));
            }
            else if (Format(constant) is { } value)
                arguments.Add(new Argument(name, value));
        }
        foreach (var named in stageAttribute.NamedArguments)
        {
            if (Format(named.Value) is { } value)
                arguments.Add(new Argument(named.Key, value));
        }
        // nameof(Other.Member) gives "Member", which the compiler would read as this model's member of that name:
        // the qualifier is kept so the front end can say it names another type's member.
        if (stageAttribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) is AttributeSyntax { ArgumentList: { } list })
        {
            foreach (var argument in list.Arguments)
            {
                if (argument.NameEquals is { } equals
                    && argument.Expression is InvocationExpressionSyntax { Expression: IdentifierNameSyntax { Identifier.Text: "nameof" } } invocation
                    && invocation.ArgumentList.Arguments.FirstOrDefault()?.Expression is MemberAccessExpressionSyntax access
                    && access.Expression is not ThisExpressionSyntax
                    && Rightmost(access.Expression) != property.ContainingType.Name)
                {
                    arguments.Add(new Argument("Qualifier." + equals.Name.Identifier.Text, access.ToString()));
                }
            }
        }

        if (map is not null)
        {
            var attributeSyntax = stageAttribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
            var argumentLocations = new Dictionary<string, Location>();
            var position = 0;
            var paramsIndex = 0;
            foreach (var argument in attributeSyntax?.ArgumentList?.Arguments ?? default)
            {
                if (argument.NameEquals is { } name)
                    argumentLocations[name.Name.Identifier.Text] = argument.GetLocation();
                else if (position < constructorParameters.Length && constructorParameters[position].IsParams)
                {
                    // params string[] names: each element where it is written; the first also stands for the whole list.
                    var parameter = Pascal(constructorParameters[position].Name);
                    if (!argumentLocations.ContainsKey(parameter))
                        argumentLocations[parameter] = argument.GetLocation();
                    argumentLocations[Element(parameter, paramsIndex++)] = argument.GetLocation();
                }
                else if (position < constructorParameters.Length)
                    argumentLocations[Pascal(constructorParameters[position++].Name)] = argument.GetLocation();
            }
            map.Stages.Add(new SourceMap.StageLocations(
                property.Locations.FirstOrDefault() ?? Location.None,
                attributeSyntax?.GetLocation() ?? Location.None,
                argumentLocations));
        }

        var syntax = property.DeclaringSyntaxReferences.Select(r => r.GetSyntax(cancellationToken)).OfType<PropertyDeclarationSyntax>().FirstOrDefault();
        return new StageSpec(
            entry.Kind,
            property.Name,
            Modifiers(syntax?.Modifiers),
            TypeName(property.Type),
            property.IsPartialDefinition || syntax?.Modifiers.Any(SyntaxKind.PartialKeyword) == true,
            arguments.ToEquatableArray(),
            others.ToEquatableArray(),
            Facts(property.Type),
            property.SetMethod is null ? "get" : property.SetMethod.IsInitOnly ? "get; init" : "get; set");
    }

    // Values as the compiler reads them: invariant numbers, enum member names, lower-case booleans.
    private static string? Format(TypedConstant constant)
    {
        if (constant.Kind == TypedConstantKind.Error || constant.IsNull && constant.Kind != TypedConstantKind.Primitive)
            return null;
        if (constant.Kind == TypedConstantKind.Enum && constant.Type is INamedTypeSymbol enumType)
        {
            var member = enumType.GetMembers().OfType<IFieldSymbol>().FirstOrDefault(f => f.HasConstantValue && Equals(f.ConstantValue, constant.Value));
            return member?.Name ?? System.Convert.ToString(constant.Value, CultureInfo.InvariantCulture);
        }
        return constant.Value switch
        {
            null => null,
            bool b => b ? "true" : "false",
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            float f => ((double)f).ToString("R", CultureInfo.InvariantCulture),
            string s => s,
            var other => System.Convert.ToString(other, CultureInfo.InvariantCulture),
        };
    }

    private static MemberTypeFacts Facts(ITypeSymbol type)
    {
        var isTensorModule = false;
        for (var t = type as INamedTypeSymbol; t is not null && !isTensorModule; t = t.BaseType)
        {
            isTensorModule = t is { Name: "Module", Arity: 2 } && t.ContainingType?.Name == "nn"
                && t.TypeArguments.All(IsTensor);
        }
        var constructible = type is INamedTypeSymbol { IsAbstract: false } named
            && named.InstanceConstructors.Any(c => c.Parameters.Length == 0 && c.DeclaredAccessibility == Accessibility.Public);
        var isModel = type.GetAttributes().Any(a => StageCatalog.Is(a.AttributeClass, StageCatalog.ModelAttribute));
        if (type.GetAttributes().FirstOrDefault(a => StageCatalog.Is(a.AttributeClass, StageCatalog.StageAttribute)) is not { } stage)
            return new MemberTypeFacts(isTensorModule, constructible, isModel, type.IsAbstract);
        // A user-defined stage kind: its contract, declared parameters and constructor, as plain strings.
        var contract = stage.ConstructorArguments.FirstOrDefault().Value as string ?? "";
        var parameters = type.GetAttributes()
            .Where(a => StageCatalog.Is(a.AttributeClass, StageCatalog.StageParameterAttribute) && a.ConstructorArguments.Length == 2)
            .Select(a => $"{a.ConstructorArguments[0].Value as string ?? ""}|{a.ConstructorArguments[1].Value as string ?? ""}|" +
                (a.NamedArguments.Any(n => n.Key == "NoWeightDecay" && n.Value.Value is true) ? "1" : "0"));
        var constructor = (type as INamedTypeSymbol)?.InstanceConstructors.Where(c => c.DeclaredAccessibility == Accessibility.Public)
            .OrderByDescending(c => c.Parameters.Length).FirstOrDefault();
        var constructorParameters = constructor?.Parameters.Select(p => p.Name + ":" + p.Type.ToDisplayString()) ?? [];
        return new MemberTypeFacts(isTensorModule, constructible, isModel, type.IsAbstract, contract, parameters.ToEquatableArray(), constructorParameters.ToEquatableArray());
    }

    // TorchSharp.torch.Tensor, compared by name (no display formatting on the per-edit path).
    private static bool IsTensor(ITypeSymbol type) =>
        type is { Name: "Tensor", ContainingType: { Name: "torch", ContainingType: null, ContainingNamespace: { Name: "TorchSharp", ContainingNamespace.IsGlobalNamespace: true } } };

    private static string Rightmost(ExpressionSyntax expression) => expression switch
    {
        MemberAccessExpressionSyntax member => member.Name.Identifier.Text,
        SimpleNameSyntax name => name.Identifier.Text,
        _ => expression.ToString(),
    };

    private static string Element(string name, int index) => name + "[" + index.ToString(CultureInfo.InvariantCulture) + "]";

    private static string Pascal(string name) => name.Length == 0 ? name : char.ToUpperInvariant(name[0]) + name.Substring(1);

    private static Location? ArgumentLocation(AttributeData? attribute, CancellationToken cancellationToken)
    {
        if (attribute?.ApplicationSyntaxReference?.GetSyntax(cancellationToken) is not AttributeSyntax syntax)
            return null;
        return syntax.ArgumentList?.Arguments.FirstOrDefault()?.GetLocation() ?? syntax.GetLocation();
    }

    private static bool IsPartial(INamedTypeSymbol type, CancellationToken cancellationToken) =>
        type.DeclaringSyntaxReferences.Any(r => r.GetSyntax(cancellationToken) is TypeDeclarationSyntax t && t.Modifiers.Any(SyntaxKind.PartialKeyword));

    private static IEnumerable<string> ContainingTypes(INamedTypeSymbol type)
    {
        var chain = new List<string>();
        for (var outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
        {
            var keyword = outer.IsRecord ? "record" : outer.TypeKind == TypeKind.Struct ? "struct" : outer.TypeKind == TypeKind.Interface ? "interface" : "class";
            chain.Insert(0, $"partial {keyword} {outer.Name}{TypeParameterList(outer)}");
        }
        return chain;
    }

    // A generic class's partial declaration repeats its type parameters (not their constraints): <T, U>.
    private static string TypeParameterList(INamedTypeSymbol type) =>
        type.TypeParameters.Length == 0 ? "" : "<" + string.Join(",", type.TypeParameters.Select(p => p.Name)) + ">";

    private static string Modifiers(SyntaxTokenList? modifiers) =>
        modifiers is null ? "" : string.Join(" ", modifiers.Value.Where(m => !m.IsKind(SyntaxKind.PartialKeyword)).Select(m => m.Text));

    private static string TypeName(ITypeSymbol type) => type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
}
