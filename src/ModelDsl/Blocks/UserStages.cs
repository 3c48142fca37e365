using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl.Blocks;

/// <summary>What the generated code calls for a <c>[UseStage]</c> stage: the built module checked against its declaration.</summary>
public static class UserStages
{
    /// <summary>
    /// Returns <paramref name="module"/> after checking that its parameters are exactly the <c>[StageParameter]</c>s its
    /// type declares (names in order, shapes), which the compile-time Summary and weights check were computed from.
    /// </summary>
    /// <exception cref="InvalidOperationException">The module registers other parameters than it declares.</exception>
    public static T Declared<T>(T module, string stage, params (string Name, long[] Shape)[] declared) where T : nn.Module
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(declared);
        var actual = module.named_parameters().Select(p => (p.name, p.parameter.shape)).ToList();
        var same = actual.Count == declared.Length
            && actual.Zip(declared).All(pair => pair.First.name == pair.Second.Name && pair.First.shape.SequenceEqual(pair.Second.Shape));
        if (same)
            return module;
        static string List(System.Collections.Generic.IEnumerable<(string Name, long[] Shape)> parameters)
        {
            var text = string.Join(", ", parameters.Select(p => $"{p.Name} [{string.Join(",", p.Shape)}]"));
            return text.Length == 0 ? "none" : text;
        }
        throw new InvalidOperationException(
            $"Stage '{stage}' ({typeof(T).Name}) registers the parameters {List(actual)}, but its type declares {List(declared)}. " +
            $"Make its [StageParameter] attributes list what the module registers, in order, with their shapes over the contract's sizes.");
    }
}
