using System.Collections.Generic;
using System.Linq;
using Xunit.Abstractions;

[assembly: TestCollectionOrderer("ModelDsl.Tests.Training.MemoryTestsFirst", "ModelDsl.Tests")]

namespace ModelDsl.Tests.Training;

/// <summary>Runs the resident-memory test collection before every other; the rest keep xunit's order.</summary>
public sealed class MemoryTestsFirst : ITestCollectionOrderer
{
    public const string Collection = "Resident memory (runs first)";

    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections.OrderBy(c => c.DisplayName == Collection ? 0 : 1);
}
