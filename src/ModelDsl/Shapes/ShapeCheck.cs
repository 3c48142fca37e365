using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl;

/// <summary>Run-time checks of tensors against symbolic shapes.</summary>
public static class ShapeCheck
{
    /// <summary>
    /// Checks that <paramref name="tensor"/> has the shape <paramref name="expected"/>, binding symbols in
    /// <paramref name="dims"/> on first sight and requiring agreement afterwards. Expressions are checked once all
    /// their symbols are bound; an expression linear in a single unbound symbol (<c>N+5</c>, <c>2*N</c>) binds it.
    /// Bindings are added only when the whole check passes.
    /// </summary>
    /// <exception cref="ShapeMismatchException">The rank or a dimension differs.</exception>
    public static void Require(Tensor tensor, string name, SymbolicShape expected, ShapeBindings dims)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(dims);
        Require(tensor.shape, name, expected, dims);
    }

    /// <summary>
    /// Checks the dtype of <paramref name="tensor"/> first (<see cref="RequireType"/>), then its shape as
    /// <see cref="Require(Tensor,string,SymbolicShape,ShapeBindings)"/> does. Nothing is converted.
    /// </summary>
    /// <exception cref="DtypeMismatchException">The dtype differs from <paramref name="expectedType"/>.</exception>
    /// <exception cref="ShapeMismatchException">The rank or a dimension differs.</exception>
    public static void Require(Tensor tensor, string name, SymbolicShape expected, ShapeBindings dims, ScalarType expectedType)
    {
        RequireType(tensor, name, expectedType);
        Require(tensor, name, expected, dims);
    }

    /// <summary>
    /// Checks that <paramref name="tensor"/> has the dtype <paramref name="expectedType"/>; the exception names the
    /// input, both dtypes and the conversion to write (<c>image.to(ScalarType.Float32)</c>). Nothing is converted
    /// silently: a float64 or uint8 image, or int32 token ids, are refused before any layer runs.
    /// </summary>
    /// <exception cref="DtypeMismatchException">The dtype differs.</exception>
    public static void RequireType(Tensor tensor, string name, ScalarType expectedType)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ArgumentNullException.ThrowIfNull(name);
        var actual = tensor.dtype;
        if (actual == expectedType) return;
        var conversion = $"{name}.to(ScalarType.{expectedType})";
        string hint;
        if (LabelCheck.IsFloating(expectedType) && actual is ScalarType.Byte)
            hint = $"Convert it before the call: {conversion}; if it holds 0-255 pixels, also scale them as the training data were " +
                   $"(FashionMnist gives float32 in [0,1]: {conversion}.div(255)).";
        else if (LabelCheck.IsFloating(expectedType) && LabelCheck.IsInteger(actual))
            hint = $"Convert it before the call: {conversion} (and scale it as the training data were).";
        else if (LabelCheck.IsInteger(expectedType) && LabelCheck.IsFloating(actual))
            hint = $"It must hold whole numbers (ids or indices): convert it before the call with {conversion}; nothing is rounded silently.";
        else
            hint = $"Convert it before the call: {conversion}, or convert the dataset column once (TensorDataset holds the tensors as given).";
        throw new DtypeMismatchException(name, expectedType, actual,
            $"Input '{name}' has dtype {LabelCheck.Name(actual)} ({actual}); the model expects {LabelCheck.Name(expectedType)} ({expectedType}). {hint}");
    }

    /// <summary>As <see cref="Require(Tensor,string,SymbolicShape,ShapeBindings)"/>, for a shape given as sizes.</summary>
    public static void Require(long[] actual, string name, SymbolicShape expected, ShapeBindings dims)
    {
        ArgumentNullException.ThrowIfNull(actual);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(dims);

        var head = $"Input '{name}' has shape [{string.Join(",", actual)}]; the model expects {expected}";
        if (actual.Length != expected.Rank)
            throw new ShapeMismatchException(name, expected.ToString(), actual, null,
                $"{head}: it has rank {actual.Length}, expected rank {expected.Rank}.");

        // Bindings made by this tensor, committed only if it passes: symbol -> (value, dimension).
        var local = new Dictionary<string, (long Value, int Dim)>(StringComparer.Ordinal);
        long? Lookup(string s) => dims.TryGetValue(s, out var v) ? v : local.TryGetValue(s, out var l) ? l.Value : null;

        string Origin(string s) =>
            local.TryGetValue(s, out var l) ? $"from dimension {l.Dim}" : $"from '{dims.SourceOf(s)}'";

        ShapeMismatchException Mismatch(int i, string reason) =>
            new(name, expected.ToString(), actual, i, $"{head}: dimension {i} is {actual[i]}, {reason}.");

        var done = new bool[expected.Rank];

        // Pass 1: literals and bare symbols, in order, so that bindings come from the plainest source.
        for (var i = 0; i < expected.Rank; i++) {
            if (expected.IsLiteral(i, out var lit)) {
                if (actual[i] != lit) throw Mismatch(i, $"expected {lit}");
                done[i] = true;
            } else if (expected.IsSymbol(i, out var sym)) {
                if (Lookup(sym) is { } bound) {
                    if (actual[i] != bound) throw Mismatch(i, $"but {sym} = {bound} {Origin(sym)}");
                } else {
                    local[sym] = (actual[i], i);
                }
                done[i] = true;
            }
        }

        // Pass 2: expressions, repeated while they bind new symbols.
        bool progress;
        do {
            progress = false;
            for (var i = 0; i < expected.Rank; i++) {
                if (done[i]) continue;
                var expr = expected.Dim(i);
                var text = expected.Dims[i];
                var symbols = new List<string>();
                expr.CollectSymbols(symbols);
                var unbound = symbols.Where(s => Lookup(s) is null).ToList();

                if (unbound.Count == 0) {
                    var value = expr.Evaluate(Lookup);
                    if (value != actual[i]) {
                        var withs = string.Join(", ", symbols.Select(s => $"{s} = {Lookup(s)} {Origin(s)}"));
                        throw Mismatch(i, value is { } v
                            ? $"expected {text} = {v} with {withs}"
                            : $"expected {text}, which cannot be evaluated (division by zero) with {withs}");
                    }
                    done[i] = progress = true;
                } else if (unbound.Count == 1 && expr.Linear(unbound[0], Lookup) is { A: not 0 } lin) {
                    var s = unbound[0];
                    var rest = actual[i] - lin.B;
                    if (rest % lin.A != 0 || rest / lin.A < 0) {
                        var others = symbols.Where(o => o != s).Select(o => $"{o} = {Lookup(o)} {Origin(o)}").ToList();
                        throw Mismatch(i, $"expected {text}, which no whole {s} >= 0 satisfies" +
                                          (others.Count > 0 ? $" with {string.Join(", ", others)}" : ""));
                    }
                    local[s] = (rest / lin.A, i);
                    done[i] = progress = true;
                }
            }
        } while (progress);

        // Dimensions still not done have several unbound symbols (or a non-linear one): they are skipped.
        foreach (var (s, b) in local) dims.Bind(s, b.Value, name);
    }
}
