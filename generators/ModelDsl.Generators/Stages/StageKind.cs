namespace ModelDsl.Generators.Stages;

/// <summary>
/// A stage kind's identity, its attribute's short name. Each kind declares its own value in its definition's file
/// (this struct is partial), next to the definition that <see cref="StageDefinitions.All"/> finds by its type; nothing
/// depends on an order.
/// </summary>
public readonly partial record struct StageKind(string Name)
{
    public override string ToString() => Name;
}
