using System;
using TorchSharp;
using static TorchSharp.torch;

namespace ModelDsl;

/// <summary>
/// The declared shape contract of a user-written stage, e.g. <c>"B,N,D -> B,N,D*2"</c>. The
/// generator checks it against the neighbouring stages at compile time; <see cref="Invoke"/>
/// checks it against the real tensors on the module's first call.
/// </summary>
public sealed class ShapeContract
{
    private ShapeContract(string text, SymbolicShape input, SymbolicShape output)
    {
        Text = text;
        Input = input;
        Output = output;
    }

    public string Text { get; }

    public SymbolicShape Input { get; }

    public SymbolicShape Output { get; }

    /// <summary>Parses <c>"in -> out"</c>; throws <see cref="FormatException"/> naming the problem.</summary>
    public static ShapeContract Parse(string text)
    {
        var arrow = text.IndexOf("->", StringComparison.Ordinal);
        if (arrow < 0)
            throw new FormatException($"Shape contract \"{text}\" has no '->'; write it as \"B,N,D -> B,N,D\".");
        return new ShapeContract(text, SymbolicShape.Parse(text[..arrow]), SymbolicShape.Parse(text[(arrow + 2)..]));
    }

    /// <summary>
    /// Runs the module; on the first call (while <paramref name="verified"/> is false) checks the
    /// input and the output against the contract and throws <see cref="ShapeMismatchException"/>
    /// naming the stage when either breaks it.
    /// </summary>
    public Tensor Invoke(nn.Module<Tensor, Tensor> module, Tensor input, string stage, ref bool verified)
    {
        if (verified)
            return module.forward(input);

        var dims = new ShapeBindings();
        Check(input, $"input of '{stage}'", Input, dims, "receives");
        var output = module.forward(input);
        Check(output, $"output of '{stage}'", Output, dims, "returned");
        verified = true;
        return output;
    }

    private void Check(Tensor tensor, string name, SymbolicShape expected, ShapeBindings dims, string verb)
    {
        try
        {
            ShapeCheck.Require(tensor, name, expected, dims);
        }
        catch (ShapeMismatchException e)
        {
            throw new ShapeMismatchException(e.Name, e.Expected, e.Actual, e.Dimension,
                $"Stage {name[(name.IndexOf('\'') )..]} {verb} a tensor that breaks its contract \"{Text}\". {e.Message}");
        }
    }
}
