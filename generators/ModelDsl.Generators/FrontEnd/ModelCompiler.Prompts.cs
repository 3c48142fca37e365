using ModelDsl.Generators.Shapes;

namespace ModelDsl.Generators.FrontEnd;

// What the text stages (Stages/TextStages.cs) share while a model is compiled: token ids embedded
// with a fixed-length position table, and the prompts placed into that sequence so far.
public static partial class ModelCompiler
{
    internal sealed partial class CompileContext
    {
        // The token-id input the embedding reads, its length, the table length and the prompts placed so far.
        internal string? tokenInput;
        internal Dim? textLength;
        internal int tokenTableLength;
        internal int tokenVocab;
        internal int promptCount;
    }
}
