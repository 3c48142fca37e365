using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelDsl.Generators.Diagnostics;
using ModelDsl.Generators.Emit;
using ModelDsl.Generators.FrontEnd;
using ModelDsl.Generators.Model;
using ModelDsl.Generators.Shapes;
using static ModelDsl.Generators.Emit.EmitText;
using static ModelDsl.Generators.FrontEnd.ModelCompiler;
using static ModelDsl.Generators.FrontEnd.ModelCompiler.CompileContext;

namespace ModelDsl.Generators.Stages;

/// <summary>
/// <c>[LanguageModel]</c>: a GPT-2 decoder-only LM, token ids <c>[B,T]</c> to logits <c>[B,T,V]</c> (the output <c>Logits</c>),
/// registered under Hugging Face GPT-2's names: the stage's module is the transformer (<c>transformer.*</c>), and the
/// LM head is a second registered module (<c>lm_head</c>, with a weight only when untied).
/// </summary>
internal sealed class LanguageModelStage() : StageDefinition(StageKind.LanguageModel, "LanguageModel", "global::ModelDsl.Blocks.DecoderTransformer", "transformer")
{
    public override bool IsHead => true;

    public override string HeadOutput => "a language model's logits [B,T,V]";

    public override string KindName(StageSpec stage) => "LanguageModel";

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var vocab = c.PositiveInt(index, stage, "Vocab", resolved, fallback: 1, "a positive vocabulary size");
        var context = c.PositiveInt(index, stage, "Context", resolved, fallback: 1, "a positive number of position rows");
        var dim = c.PositiveInt(index, stage, "Dim", resolved, fallback: 1, "a positive width");
        c.widthGuessed = ParseInt(stage.Get("Dim")) is not > 0;
        c.PositiveInt(index, stage, "Depth", resolved, fallback: 1, "a positive number of blocks");
        var tied = stage.Get("TiedHead") != "false";
        resolved.Add(new("TiedHead", tied ? "true" : "false"));
        var dropout = stage.Get("Dropout") is { } text ? ParseDouble(text) ?? 0.1 : 0.1;
        if (!(dropout >= 0 && dropout < 1))
        {
            c.Report(Descriptors.ValueOutOfRange, DiagnosticTarget.Attribute(index, "Dropout"), stage.Member, "Dropout", Format(dropout), "a dropout rate in [0, 1), e.g. 0.1 (GPT-2's)");
            dropout = 0.1;
        }
        resolved.Add(new("Dropout", Format(dropout)));

        var named = stage.Get("Input");
        var ids = named is null
            ? c.parsedInputs.Where(i => i.Shape.Rank == 2).ToList()
            : c.parsedInputs.Where(i => i.Name == named).ToList();
        if (ids.Count != 1 || ids[0].Shape.Rank != 2)
        {
            c.upstreamBroken = true;
            if (ids.Count == 1)
                c.Report(Descriptors.InputRankMismatch, DiagnosticTarget.Attribute(index, "Input"), stage.Member, ids[0].Name, "token ids [B,T]", ids[0].Shape.Text);
            else if (named is not null && c.Spec.Forward is not null)
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index, "Input"), stage.Member, $"a forward input '{named}' of token ids [B,T]", "the forward method has no input of that name");
            else if (named is null && c.inputs.Count == c.parsedInputs.Count && c.Spec.Forward is not null)
                c.Report(Descriptors.MissingSource, DiagnosticTarget.Attribute(index), stage.Member, "one forward input of token ids [B,T]",
                    ids.Count == 0 ? "the forward method has none of rank 2" : $"it has {ids.Count} ({string.Join(", ", ids.Select(i => i.Name))}); name one with Input = \"...\"");
            resolved.Add(new("Input", ""));
            resolved.Add(new("Heads", "1"));
            return null;
        }
        var input = ids[0];
        resolved.Add(new("Input", input.Name));
        c.MarkRead(input.Name, "Int64");
        var length = input.Shape[1];
        c.SetSequence(Shape.Of(input.Shape[0], length, Dim.Constant(dim)), stage.Member);
        c.Heads(index, stage, "Heads", resolved, dim);
        // A soft prompt takes positions before the input's.
        var prompt = c.Spec.Stages.FirstOrDefault(s => s.Kind == StageKind.SoftPrompt);
        var promptCount = prompt is null ? 0 : System.Math.Max(0, ParseInt(prompt.Get("Count")) ?? 0);
        resolved.Add(new("Prompt", prompt?.Member ?? ""));
        resolved.Add(new("PromptCount", promptCount.ToString(CultureInfo.InvariantCulture)));
        // Prefix tuning's keys and values come first too: the input's positions start after them.
        var prefix = c.Spec.Stages.FirstOrDefault(s => s.Kind == StageKind.PrefixTuning);
        var prefixCount = prefix is null ? 0 : System.Math.Max(0, ParseInt(prefix.Get("Count")) ?? 0);
        resolved.Add(new("Prefix", prefix?.Member ?? ""));
        var before = new List<string>();
        if (promptCount > 0) before.Add($"the {promptCount} soft-prompt vectors of '{prompt!.Member}'");
        if (prefixCount > 0) before.Add($"the {prefixCount} prefix positions of '{prefix!.Member}'");
        var extra = promptCount + prefixCount;
        if (length.Value is long tokens && tokens + extra > context)
            c.Report(Descriptors.LanguageModelSequenceTooLong, DiagnosticTarget.Attribute(index, stage.Get("Context") is null ? null : "Context"), Fix(tokens + extra),
                stage.Member, input.Name, input.Shape.Text,
                extra == 0 ? $"{tokens} tokens" : $"{tokens} tokens after {string.Join(" and ", before)}, {tokens + extra} positions",
                context, tokens + extra);

        var logits = Shape.Of(input.Shape[0], length, Dim.Constant(vocab));
        c.headMember = stage.Member;
        c.logits = logits;
        c.heads[stage.Member] = new HeadInfo(stage.Kind, stage.Member, null, logits, "Logits");
        c.outputs.Add(new("Logits", logits.Text, $"Next-token logits of '{stage.Member}' at every position of '{input.Name}'"));
        return logits;
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout)
    {
        long v = stage.Int("Vocab"), t = stage.Int("Context"), d = stage.Int("Dim");
        // Conv1D weights are [in,out], as GPT-2 stores them (Blocks.Conv1D keeps that layout).
        layout.Tensor("transformer.wte.weight", v, d);
        layout.Tensor("transformer.wpe.weight", t, d);
        layout.Repeat("transformer.h", stage.Int("Depth"), block =>
        {
            block.LayerNorm("ln_1", d);
            block.Tensor("attn.c_attn.weight", d, 3 * d);
            block.Tensor("attn.c_attn.bias", 3 * d);
            block.Tensor("attn.c_proj.weight", d, d);
            block.Tensor("attn.c_proj.bias", d);
            block.LayerNorm("ln_2", d);
            block.Tensor("mlp.c_fc.weight", d, 4 * d);
            block.Tensor("mlp.c_fc.bias", 4 * d);
            block.Tensor("mlp.c_proj.weight", 4 * d, d);
            block.Tensor("mlp.c_proj.bias", d);
        });
        layout.LayerNorm("transformer.ln_f", d);
        if (!stage.Bool("TiedHead"))
            layout.Tensor("lm_head.weight", v, d);
    }

    public override IEnumerable<StageMember> Members(GraphStage stage)
    {
        var config = $"new {Blocks}.DecoderConfig(Vocab: {stage.Int("Vocab")}, Context: {stage.Int("Context")}, Dim: {stage.Int("Dim")}, Depth: {stage.Int("Depth")}, Heads: {stage.Int("Heads")}) {{ TiedHead = {stage.Text("TiedHead")}, Dropout = {Number(stage.Double("Dropout"))} }}";
        yield return Module("transformer", MemberType, $"new {Blocks}.DecoderTransformer({config})");
        yield return Module("lm_head", $"{Blocks}.LanguageModelHead", $"new {Blocks}.LanguageModelHead(transformer, tied: {stage.Text("TiedHead")})");
    }

    public override void Forward(ForwardWriter f, GraphStage stage)
    {
        var input = stage.Text("Input");
        if (input.Length == 0)
            return;
        var hidden = stage.Output.Substring(0, stage.Output.LastIndexOf(',')) + "," + stage.Int("Dim") + "]";
        var prompt = f.Stages.FirstOrDefault(s => s.Kind == StageKind.SoftPrompt && s.Member == stage.Text("Prompt"));
        var prefix = f.Stages.FirstOrDefault(s => s.Kind == StageKind.PrefixTuning && s.Member == stage.Text("Prefix"));
        if (prefix is not null)
        {
            // The prefix's keys and values are the first cached positions of every block; gradients flow through the cache.
            var count = prompt is null ? 0 : stage.Int("PromptCount");
            f.Line($"using var cache = new {Blocks}.KvCache({stage.Int("Depth")});");
            f.Line($"{Registered(prefix)}.Fill(cache, {input}.shape[0]);");
            var embed = $"transformer.Embed({input})";
            f.Line(prompt is null ? $"var embeddings = {embed};" : $"var embeddings = {Registered(prompt)}.forward({embed});", prompt is null ? hidden : Prompted(hidden, count));
            f.Line("var hidden = transformer.Forward(embeddings, positions: null, attentionMask: null, cache: cache);", prompt is null ? hidden : Prompted(hidden, count));
            f.Line(count == 0 ? "var logits = lm_head.forward(hidden);" : $"var logits = lm_head.forward(hidden.narrow(1, {count}, hidden.shape[1] - {count}));", stage.Output);
        }
        else if (prompt is null)
        {
            f.Line($"var hidden = transformer.forward({input});", hidden);
            f.Line("var logits = lm_head.forward(hidden);", stage.Output);
        }
        else
        {
            // The prompt vectors first; the logits (and so the loss) are read at the input's positions only.
            var count = stage.Int("PromptCount");
            var prompted = Prompted(hidden, count);
            f.Line($"var embeddings = {Registered(prompt)}.forward(transformer.Embed({input}));", prompted);
            f.Line("var hidden = transformer.Forward(embeddings, positions: null, attentionMask: null, cache: null);", prompted);
            f.Line($"var logits = lm_head.forward(hidden.narrow(1, {count}, hidden.shape[1] - {count}));", stage.Output);
        }
        f.Values["Logits"] = "logits";
    }

    public override System.Func<string, string?>? FileNameMap(GraphStage stage)
    {
        var tied = stage.Bool("TiedHead");
        return name => PublishedName(name, tied);
    }

    /// <summary>
    /// GPT-2's published names to the registered ones, as the runtime's <c>Blocks.Gpt2Names.MapFileName</c> (a test holds the
    /// two equal): <c>h.{i}.attn.bias</c> / <c>.attn.masked_bias</c> are mask buffers (null), <c>lm_head.weight</c> of a tied head
    /// is the token embedding again (null), and a name without <c>transformer.</c> (GPT2Model files) gets it.
    /// </summary>
    internal static string? PublishedName(string fileName, bool tiedHead)
    {
        const string prefix = "transformer.";
        if (fileName == "lm_head.weight")
            return tiedHead ? null : fileName;
        var name = fileName.StartsWith(prefix, System.StringComparison.Ordinal) ? fileName : prefix + fileName;
        var parts = name.Split('.');
        if (parts.Length == 5 && parts[1] == "h" && parts[2].Length > 0 && parts[2].All(c => c >= '0' && c <= '9') && parts[3] == "attn" && parts[4] is "bias" or "masked_bias")
            return null;
        return name;
    }

    // "[B,T,D]" with the prompt's positions in front: "[B,4+T,D]", or "[B,20,D]" for a fixed length.
    private static string Prompted(string shape, int count)
    {
        var dims = shape.Trim('[', ']').Split(',');
        var positions = long.TryParse(dims[1], NumberStyles.None, CultureInfo.InvariantCulture, out var fixedLength)
            ? (fixedLength + count).ToString(CultureInfo.InvariantCulture)
            : $"{count}+{dims[1]}";
        return $"[{dims[0]},{positions},{dims[2]}]";
    }

    public override IEnumerable<string> Interfaces(GraphStage stage) =>
        ["global::ModelDsl.Blocks.ICausalLanguageModel", "global::ModelDsl.Weights.IPublishedLayout"];

    public override void ClassMembers(CodeWriter w, GraphStage stage, ModelGraph graph)
    {
        var ids = stage.Text("Input");
        var tied = stage.Text("TiedHead");
        w.Line($"/// <summary>The transformer of <c>{stage.Member}</c> (<c>transformer.*</c>).</summary>");
        w.Line($"global::ModelDsl.Blocks.DecoderTransformer global::ModelDsl.Blocks.ICausalLanguageModel.Transformer => transformer;");
        w.Line();
        w.Line($"/// <summary>The LM head of <c>{stage.Member}</c> (<c>lm_head</c>{(tied == "true" ? ", tied to <c>transformer.wte.weight</c>" : "")}).</summary>");
        w.Line("global::ModelDsl.Blocks.LanguageModelHead global::ModelDsl.Blocks.ICausalLanguageModel.LmHead => lm_head;");
        w.Line();
        if (stage.Text("Prompt") is { Length: > 0 } promptMember && graph.Stages.Any(s => s.Member == promptMember && !s.Broken))
        {
            w.Line($"/// <summary>The soft prompt of <c>{promptMember}</c>, which generation puts before every prompt as the forward pass does.</summary>");
            w.Line($"global::TorchSharp.torch.Tensor? global::ModelDsl.Blocks.ICausalLanguageModel.PromptVectors => {StageCatalog.SnakeCase(promptMember)}.Weight;");
            w.Line();
        }
        if (stage.Text("Prefix") is { Length: > 0 } prefixMember && graph.Stages.Any(s => s.Member == prefixMember && !s.Broken))
        {
            w.Line($"/// <summary>The prefix of <c>{prefixMember}</c>, which generation puts into the cache first as the forward pass does.</summary>");
            w.Line($"global::ModelDsl.Blocks.PrefixTuning? global::ModelDsl.Blocks.ICausalLanguageModel.Prefix => {StageCatalog.SnakeCase(prefixMember)};");
            w.Line();
        }
        w.Line("/// <summary>Hugging Face GPT-2 files as published load into this model: see <see cref=\"global::ModelDsl.Blocks.Gpt2Names.MapFileName\"/>.</summary>");
        w.Line($"string? global::ModelDsl.Weights.IPublishedLayout.MapFileName(string fileName) => global::ModelDsl.Blocks.Gpt2Names.MapFileName(fileName, tiedHead: {tied});");
        w.Line();
        w.Line($"/// <summary>Continues each prompt of <paramref name=\"{ids}\"/> (token ids, any lengths) with a KV cache, as <paramref name=\"options\"/> say (greedy by default).</summary>");
        w.Line($"/// <returns>The new tokens of each prompt (stop token included) and why each stopped.</returns>");
        w.Line($"public global::ModelDsl.Blocks.GenerationResult Generate(global::System.Collections.Generic.IReadOnlyList<global::System.Collections.Generic.IReadOnlyList<long>> {ids}, global::ModelDsl.Blocks.GenerationOptions? options = null) =>");
        w.Line($"    global::ModelDsl.Blocks.Generation.Generate(this, {ids}, options);");
        w.Line();
        w.Line($"/// <summary>As <see cref=\"Generate\"/>, one step at a time as the tokens are computed (for streaming).</summary>");
        w.Line($"public global::System.Collections.Generic.IEnumerable<global::ModelDsl.Blocks.GenerationStep> GenerateStream(global::System.Collections.Generic.IReadOnlyList<global::System.Collections.Generic.IReadOnlyList<long>> {ids}, global::ModelDsl.Blocks.GenerationOptions? options = null) =>");
        w.Line($"    global::ModelDsl.Blocks.Generation.GenerateStream(this, {ids}, options);");
    }
}

/// <summary>
/// <c>[SoftPrompt(Count, InitFrom)]</c> (prompt tuning): learned vectors <c>M.weight [Count,D]</c> before the input embeddings of
/// the model's <c>[LanguageModel]</c>; the language model's forward pass places them (it reads this stage), the logits
/// cover the input's positions only.
/// </summary>
internal sealed class SoftPromptStage() : StageDefinition(StageKind.SoftPrompt, "SoftPrompt", "global::ModelDsl.Blocks.SoftPrompt")
{
    public override string KindName(StageSpec stage) => "SoftPrompt";

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var count = c.PositiveInt(index, stage, "Count", resolved, fallback: 1, "a positive number of prompt vectors");
        resolved.Add(new("InitFrom", stage.Get("InitFrom") ?? ""));
        var lm = c.Spec.Stages.FirstOrDefault(s => s.Kind == StageKind.LanguageModel);
        if (lm is null)
        {
            c.broken.Add(index);
            c.Report(Descriptors.SoftPromptWithoutLanguageModel, DiagnosticTarget.Attribute(index), stage.Member, "SoftPrompt", "vectors go before the input embeddings");
            return null;
        }
        var dim = ParseInt(lm.Get("Dim")) is > 0 and var d ? d : 1;
        resolved.Add(new("Dim", dim.ToString(CultureInfo.InvariantCulture)));
        return Shape.Of(Dim.Constant(count), Dim.Constant(dim));
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout) =>
        layout.Tensor(Registered(stage) + ".weight", stage.Int("Count"), stage.Int("Dim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module(Registered(stage), MemberType, $"new {Blocks}.SoftPrompt(count: {stage.Int("Count")}, dim: {stage.Int("Dim")})")];

    public override void ClassMembers(CodeWriter w, GraphStage stage, ModelGraph graph)
    {
        var words = stage.Text("InitFrom");
        if (words.Length == 0)
            return;
        w.Line($"/// <summary>");
        w.Line($"/// Initialises <c>{stage.Member}</c> from the token embeddings of its <c>InitFrom</c> words (repeated to fill its {stage.Int("Count")} vectors),");
        w.Line("/// encoded with <paramref name=\"tokenizer\"/>; call it after the pretrained weights are loaded.");
        w.Line("/// </summary>");
        w.Line($"public void Initialize{stage.Member}(global::ModelDsl.Text.ITextTokenizer tokenizer)");
        w.Line("{");
        w.Line("    global::System.ArgumentNullException.ThrowIfNull(tokenizer);");
        w.Line($"    {Registered(stage)}.InitializeFrom(transformer.TokenEmbeddingWeight, tokenizer.Encode({Microsoft.CodeAnalysis.CSharp.SymbolDisplay.FormatLiteral(words, quote: true)}));");
        w.Line("}");
    }
}

/// <summary>
/// <c>[PrefixTuning(Count)]</c>: learned keys and values <c>M.embedding.weight [Count, 2*Depth*D]</c> (PEFT's layout) for every
/// block of the model's <c>[LanguageModel]</c>, put into its cache before the tokens by the language model's forward pass.
/// </summary>
internal sealed class PrefixTuningStage() : StageDefinition(StageKind.PrefixTuning, "PrefixTuning", "global::ModelDsl.Blocks.PrefixTuning")
{
    public override string KindName(StageSpec stage) => "PrefixTuning";

    public override Shape? Infer(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var count = c.PositiveInt(index, stage, "Count", resolved, fallback: 1, "a positive number of prefix positions");
        var lm = c.Spec.Stages.FirstOrDefault(s => s.Kind == StageKind.LanguageModel);
        if (lm is null)
        {
            c.broken.Add(index);
            c.Report(Descriptors.SoftPromptWithoutLanguageModel, DiagnosticTarget.Attribute(index), stage.Member, "PrefixTuning", "keys and values go into the blocks");
            return null;
        }
        int Size(string name) => ParseInt(lm.Get(name)) is > 0 and var v ? v : 1;
        var (depth, dim, heads) = (Size("Depth"), Size("Dim"), Size("Heads"));
        if (dim % heads != 0)
            heads = 1;   // reported at the language model (MD0005)
        resolved.Add(new("Depth", depth.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("Dim", dim.ToString(CultureInfo.InvariantCulture)));
        resolved.Add(new("Heads", heads.ToString(CultureInfo.InvariantCulture)));
        return Shape.Of(Dim.Constant(count), Dim.Constant(2L * depth * dim));
    }

    public override void Parameters(GraphStage stage, ParameterLayout layout) =>
        layout.Tensor(Registered(stage) + ".embedding.weight", stage.Int("Count"), 2L * stage.Int("Depth") * stage.Int("Dim"));

    public override IEnumerable<StageMember> Members(GraphStage stage) =>
        [Module(Registered(stage), MemberType, $"new {Blocks}.PrefixTuning(count: {stage.Int("Count")}, depth: {stage.Int("Depth")}, dim: {stage.Int("Dim")}, heads: {stage.Int("Heads")})")];
}

/// <summary><c>[CausalLmLoss]</c>: next-token cross-entropy over a language model's logits, labels <c>[B,T]</c> with -100 ignored.</summary>
internal sealed class CausalLmLossStage() : LossStage(StageKind.CausalLmLoss, "CausalLmLoss", StageKind.LanguageModel)
{
    internal override (string Name, string Method) Metric => ("token_accuracy", "NextTokenAccuracy");

    internal override string DefaultTarget => "labels";

    internal override (Shape Shape, string Dtype, string What) Target(CompileContext c, Shape headOutput) =>
        (Shape.Of(headOutput[0], headOutput[1]), "int64", "Next-token labels (int64; the token ids, -100 where no loss is taken)");

    internal override void ReadOwnArguments(CompileContext c, int index, StageSpec stage, List<Argument> resolved)
    {
        var head = c.Spec.Stages.Take(index).LastOrDefault(s => s.Kind == StageKind.LanguageModel);
        if (head is not null && c.outputsByMember.TryGetValue(head.Member, out var logits) && logits.Rank == 3 && logits[1].Value == 1)
            c.Report(Descriptors.CausalLmLossNeedsTwoTokens, DiagnosticTarget.Attribute(index), stage.Member, head.Member, logits.Text);
    }
}

public readonly partial record struct StageKind
{
    public static readonly StageKind LanguageModel = new(nameof(LanguageModel));
    public static readonly StageKind CausalLmLoss = new(nameof(CausalLmLoss));
    public static readonly StageKind SoftPrompt = new(nameof(SoftPrompt));
    public static readonly StageKind PrefixTuning = new(nameof(PrefixTuning));
}
