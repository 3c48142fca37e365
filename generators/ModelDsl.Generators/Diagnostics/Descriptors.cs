using Microsoft.CodeAnalysis;

namespace ModelDsl.Generators.Diagnostics;

/// <summary>Every diagnostic ModelDsl reports. IDs are never reused; each has a page under docs/diagnostics.</summary>
public static class Descriptors
{
    private const string Category = "ModelDsl";
    private const string HelpRoot = "https://github.com/modeldsl/modeldsl/blob/main/docs/diagnostics/";

    public static readonly DiagnosticDescriptor ModelNotPartial = Error(
        "MD0001", "Model class must be partial",
        "Model class '{0}' must be declared partial so ModelDsl can generate its module");

    public static readonly DiagnosticDescriptor StageNotPartial = Error(
        "MD0002", "Stage member must be a partial property",
        "Stage '{0}' must be a partial property ('partial {1} {0} {{ get; }}') so ModelDsl can implement it");

    public static readonly DiagnosticDescriptor UnparsableShape = Error(
        "MD0003", "Shape string cannot be parsed",
        "Shape \"{0}\" of '{1}' cannot be parsed: {2}. Write dimensions separated by commas, e.g. \"B,1,28,28\" or \"B,N+5,D*4\".");

    public static readonly DiagnosticDescriptor WidthMismatch = Error(
        "MD0004", "Stage width does not match the width it receives",
        "'{0}' has Dim = {1}, but '{2}' gives it tokens of width {3} (shape {4}); set Dim = {3} or leave it out to infer it");

    public static readonly DiagnosticDescriptor HeadsDoNotDivideWidth = Error(
        "MD0005", "Attention heads do not divide the width",
        "'{0}' has {1} = {2}, which does not divide the width {3}; the nearest divisor is {4}");

    public static readonly DiagnosticDescriptor ImageNotDivisibleByPatch = Error(
        "MD0006", "Image size is not divisible by the patch size",
        "'{0}' has PatchSize = {1}, but the image '{2}' is {3}x{4} ({5}); use a patch size that divides both, e.g. {6}");

    public static readonly DiagnosticDescriptor ClsPoolingWithoutClsToken = Error(
        "MD0007", "CLS pooling needs a CLS token",
        "'{0}' pools with Pool.Cls, but the model declares no [ClsToken] stage; add one or use Pool.Avg or Pool.Map");

    public static readonly DiagnosticDescriptor ValueOutOfRange = Error(
        "MD0008", "Argument value out of range",
        "'{0}' has {1} = {2}; expected {3}");

    public static readonly DiagnosticDescriptor WrongMemberType = Error(
        "MD0009", "Stage member has the wrong type",
        "Stage '{0}' is a [{1}] and must have type {2}, not {3}");

    public static readonly DiagnosticDescriptor ForwardMissing = Error(
        "MD0010", "Model has no partial Forward method",
        "Model '{0}' needs a partial forward method, e.g. 'public partial {0}Output Forward([Shape(\"B,1,28,28\")] Tensor image);'{1}");

    public static readonly DiagnosticDescriptor InputWithoutShape = Error(
        "MD0011", "Forward input has no shape",
        "Input '{0}' of '{1}' has no [Shape]; add one such as [Shape(\"B,1,28,28\")]");

    public static readonly DiagnosticDescriptor MissingSource = Error(
        "MD0012", "Stage has no input to read",
        "'{0}' needs {1} before it, but {2}");

    public static readonly DiagnosticDescriptor InputRankMismatch = Error(
        "MD0013", "Input has the wrong rank for the stage that reads it",
        "'{0}' reads '{1}' as {2}, but '{1}' has shape {3}");

    public static readonly DiagnosticDescriptor DuplicateStage = Error(
        "MD0014", "Stage kind declared twice",
        "'{0}' is a second [{1}] stage; '{2}' already is one, and a model has at most one");

    public static readonly DiagnosticDescriptor NothingToTrain = Warning(
        "MD0015", "Every stage is frozen",
        "Every stage of '{0}' is frozen, so training has no parameter to update; unfreeze a stage or add a trainable one");

    public static readonly DiagnosticDescriptor ConflictingStageAttributes = Error(
        "MD0016", "Member has more than one stage attribute",
        "'{0}' carries both [{1}] and [{2}]; a member is one stage");

    public static readonly DiagnosticDescriptor ContractMismatch = Error(
        "MD0017", "Custom stage's contract does not fit",
        "'{0}' declares the contract \"{1}\", but {2}");

    public static readonly DiagnosticDescriptor CustomModuleNotUsable = Error(
        "MD0018", "Custom stage type cannot be used",
        "'{0}' has type {1}, which {2}; a [CustomModule] stage needs a Module<Tensor,Tensor> with a public parameterless constructor");

    public static readonly DiagnosticDescriptor BadReference = Error(
        "MD0019", "Reference names no stage of the right kind",
        "'{0}' has {1} = \"{2}\", which {3}; it must name a [{4}] stage{5}");

    public static readonly DiagnosticDescriptor ConflictingStages = Error(
        "MD0020", "Stages conflict",
        "'{0}' cannot be combined with '{1}': {2}");

    public static readonly DiagnosticDescriptor WeightsMismatch = Error(
        "MD0021", "Weights file does not fit the declaration",
        "'{0}' does not fit '{1}': {2}");

    public static readonly DiagnosticDescriptor WeightsNotChecked = Warning(
        "MD0022", "Weights file is not available to the analyzers",
        "'{0}' is not checked against '{1}' because the build does not hand it to the analyzers; list it in the project as <ModelWeights Include=\"{0}\" />");

    public static readonly DiagnosticDescriptor WeightsUnreadable = Error(
        "MD0023", "Weights file header cannot be read",
        "'{0}' has no readable safetensors header: {1}");

    public static readonly DiagnosticDescriptor TowerNotModel = Error(
        "MD0030", "Tower type is not a [Model] class",
        "Tower '{0}' has type {1}, which {2}; a [Tower] member's type must be a [Model] class of this project");

    public static readonly DiagnosticDescriptor TowerCycle = Error(
        "MD0031", "Towers form a cycle",
        "Tower '{0}' closes a cycle of models: {1}; a model cannot contain itself");

    public static readonly DiagnosticDescriptor TowerInputMismatch = Error(
        "MD0032", "Tower input does not fit",
        "Tower '{0}' ({1}) expects {2}, but {3}");

    public static readonly DiagnosticDescriptor TowerOutputMissing = Error(
        "MD0033", "Tower has no such output",
        "Tower '{0}' reads the output {1} of {2}, which has no such output; its outputs are {3}");

    public static readonly DiagnosticDescriptor FeatureWidthMismatch = Error(
        "MD0034", "Features compared by cosine logits do not fit",
        "'{0}' reads '{1}' and expects {2}, but it gives {3}");

    public static readonly DiagnosticDescriptor TokenSequenceTooLong = Error(
        "MD0035", "Token sequence does not fit the position table",
        "'{0}' has {1} = {2}; expected {3}, because {4}");

    public static readonly DiagnosticDescriptor PromptsNeedTokenSequence = Error(
        "MD0036", "Prompt tokens need a token sequence",
        "'{0}' places prompt tokens into {1}; expected the token sequence of a [TokenEmbedding], declared right before it");

    public static readonly DiagnosticDescriptor PerClassPromptCount = Error(
        "MD0037", "Per-class prompts do not match the classes",
        "'{0}' has one prompt set per class and Classes = {1}, but its token rows are {2} ({3}); expected Classes = {4}");

    public static readonly DiagnosticDescriptor ContrastiveNeedsPairs = Error(
        "MD0038", "Contrastive loss needs square logits",
        "'{0}' contrasts the logits of '{1}', which are {2}; expected square logits [B,B] (one pair per row), but the rows are {3} and the columns {4}");

    public static readonly DiagnosticDescriptor FeaturePoolingSource = Error(
        "MD0039", "Feature pooling has nothing to pool",
        "'{0}' pools with {1}, which expects {2}, but {3}");

    public static readonly DiagnosticDescriptor ChannelCountMismatch = Error(
        "MD0040", "Channel count does not match the input",
        "'{0}' has Channels = {1}, but its input '{2}' has {3} channels (shape {4}); set Channels = {3} or leave it out to take it from the input");

    public static readonly DiagnosticDescriptor RegisteredNameTaken = Error(
        "MD0042", "Two stages register the same name",
        "'{0}' registers as '{1}', a name '{2}' already registers; the generated class has one field per registered (state_dict) name, so rename '{0}'");

    public static readonly DiagnosticDescriptor InputNotRead = Error(
        "MD0045", "Forward input read by no stage",
        "The input '{0}' {1} of '{2}' is read by no stage, yet every batch would have to carry it; remove it, or name it in the stage that should read it (Input = \"{0}\")");

    public static readonly DiagnosticDescriptor UserStageNotUsable = Error(
        "MD0046", "User stage type cannot be used",
        "'{0}' has type {1}, which {2}; a [UseStage] stage needs a Module<Tensor,Tensor> marked [Stage(\"contract\")], whose public constructor takes the contract's sizes by name");

    public static readonly DiagnosticDescriptor SegmentNotFound = Error(
        "MD0047", "Head reads no segment of the token sequence",
        "'{0}' has Reads = \"{1}\", which {2}; the sequence it reads is {3}");

    public static readonly DiagnosticDescriptor MemberNameGenerated = Error(
        "MD0048", "Member named like a member the generated class declares",
        "'{0}' is also the name of {1} the generated class declares; rename '{0}'");

    public static readonly DiagnosticDescriptor ParametersUnknown = Info(
        "MD0049", "Stage parameters not known at compile time",
        "'{0}' ([CustomModule] of {1}) has parameters the compiler cannot know: the Summary shows '?' for it and leaves it out of the total, and the build-time weights check skips '{2}.*'; mark {1} [Stage(\"contract\")] with its [StageParameter]s and use [UseStage] to have them counted and checked");

    public static readonly DiagnosticDescriptor ModelNotClass = Error(
        "MD0050", "Model must be a class",
        "'{0}' is a {1}; a [Model] is a partial class, whose generated part derives from a TorchSharp module: declare it 'partial class {0}'");

    public static readonly DiagnosticDescriptor StageNotGetOnly = Error(
        "MD0051", "Stage property must be an instance property with only a getter",
        "Stage '{0}' is {1}; the generated part implements it as an instance property that returns the stage's module: declare it 'partial {2} {0} {{ get; }}'");

    public static readonly DiagnosticDescriptor ForwardNotCompletable = Error(
        "MD0052", "Forward method has a shape the generated part cannot complete",
        "'{0}' {1}; the generated part implements it on the model instance, returning the output record: declare it 'public partial {2}Output {0}([Shape(\"...\")] Tensor input, ...)'");

    public static readonly DiagnosticDescriptor NameofOtherType = Error(
        "MD0053", "Reference names a member of another type",
        "'{0}' has {1} = nameof({2}), a member of another type; {1} names a stage of this model: write nameof({3})");

    public static readonly DiagnosticDescriptor OverParameterBudget = Warning(
        "MD0054", "Model over its parameter budget",
        "'{0}' declares {1} parameters ({2} as fp32, {3} more for AdamW's moments in training), over its budget of {4}; reduce the sizes, or raise the budget with [Model(MaxParameters = ...)] or modeldsl.max_parameters in .editorconfig if it is meant");

    public static readonly DiagnosticDescriptor OverFlopsBudget = Warning(
        "MD0055", "Model over its FLOPs budget",
        "'{0}' takes {1} FLOPs per sample in its forward pass at the declared sizes{2}, over its budget of {3}; reduce the sizes, or raise the budget with [Model(MaxFlops = ...)] or modeldsl.max_flops in .editorconfig if it is meant");

    public static readonly DiagnosticDescriptor BadLayerRange = Error(
        "MD0044", "Layer range does not fit the encoder",
        "'{0}' has Layers = \"{1}\", which {2}; '{3}' has Depth = {4} (blocks 0..{5}). Write a range of blocks, both ends included: \"0..5\", \"6..\", \"..3\" or \"4\".");

    public static readonly DiagnosticDescriptor VocabularyTokensOutOfRange = Error(
        "MD0041", "Vocabulary tokens lie outside the vocabulary",
        "'{0}' learns the ids {1}..{2}, but '{3}' has Vocab = {4} (ids 0..{5}); expected {6}");

    public static readonly DiagnosticDescriptor WeightsHeaderTooLarge = Error(
        "MD0043", "Weights file header too large for the build-time check",
        "'{0}' has a safetensors header of {1} bytes, above the build-time limit of {2} bytes, so it is not checked against '{3}'; if the file is trusted, raise the limit with <ModelDslMaxWeightsHeaderBytes> in the project, otherwise remove it from <ModelWeights> (the load at run time still checks it)");
    public static readonly DiagnosticDescriptor TaskNotFound = Error(
        "MD0024", "Task head names no task token",
        "'{0}' has Task = \"{1}\", which {2}; a task head reads one of the model's task tokens{3}");

    public static readonly DiagnosticDescriptor DuplicateTask = Error(
        "MD0025", "Task named twice",
        "'{0}' lists the task \"{1}\" twice (Names[{2}] and Names[{3}]){4}; each task has one token, one head and one loss");

    public static readonly DiagnosticDescriptor LossReadsWrongHead = Error(
        "MD0026", "Loss reads a head of the wrong kind",
        "'{0}' is a [{1}] and reads '{2}', a [{3}] with output {4}; a [{1}] reads a [{5}]{6}");

    public static readonly DiagnosticDescriptor TaskReadTwice = Error(
        "MD0027", "Two heads read the same task",
        "'{0}' has Task = \"{1}\", which '{2}' already reads; each task has one head{3}");

    public static readonly DiagnosticDescriptor TaskNotTrained = Warning(
        "MD0028", "Task gets no training signal",
        "Task \"{0}\" of '{1}' {2}, so its token and head get no training signal; {3}");

    public static readonly DiagnosticDescriptor TargetNameTaken = Error(
        "MD0029", "Loss target name is taken",
        "'{0}' has Target = \"{1}\", which {2}; give each target a batch name of its own");

    public static readonly DiagnosticDescriptor CodebookWidthMismatch = Error(
        "MD0080", "Codebook query width differs from the codebook's",
        "'{0}' {1}, but the codebook '{2}' has codes of width {3} ([{4},{3}]); {5}");

    public static readonly DiagnosticDescriptor CodebookNeedsTokens = Error(
        "MD0081", "Codebook query reads no token sequence",
        "'{0}' scores the tokens of '{1}', which gives {2}; a codebook query reads tokens [B,L,E]: {3}");

    public static readonly DiagnosticDescriptor WeightingOverOneCode = Error(
        "MD0082", "Code weighting over a single code",
        "'{0}' weights the codes of '{1}' by {2}, but '{1}' has Codes = 1, so every sample gets weight 1 on that code and the feature is the same for all; give the codebook more codes");

    public static readonly DiagnosticDescriptor TopKDoesNotFit = Error(
        "MD0083", "Top-k does not fit the codebook or the weighting",
        "'{0}' has TopK = {1}, but {2}");

    public static readonly DiagnosticDescriptor CodebookPaddingMismatch = Error(
        "MD0084", "Padding input does not fit the tokens",
        "'{0}' has Padding = \"{1}\", but {2}; the padding input is the token ids [B,L] of the tokens it masks ('{3}' {4})");

    public static readonly DiagnosticDescriptor TeacherShapeMismatch = Error(
        "MD0085", "Teacher output cannot supervise the student output",
        "'{0}' distills '{1}' {2} from the teacher '{3}' {4}, but {5}");

    public static readonly DiagnosticDescriptor TrainableTeacher = Error(
        "MD0086", "Distillation from a tower that is not a teacher",
        "'{0}' distills from '{1}', {2}; declare it [Tower(Teacher = true)], which is frozen, runs in eval mode under no_grad and is not saved with the student");

    public static readonly DiagnosticDescriptor TokenSetWidthMismatch = Error(
        "MD0087", "Token sets of different widths",
        "'{0}' keeps '{1}' {2} orthogonal to '{3}' {4}, but their vectors have different widths, so their cosine is not defined; compare sets of one width");

    public static readonly DiagnosticDescriptor NotATokenSet = Error(
        "MD0088", "Regulariser reads no set of learnable vectors",
        "'{0}' has {1} = nameof({2}), which {3}");
    public static readonly DiagnosticDescriptor CapacityOutOfRange = Error(
        "MD0070", "Routing capacity outside (0, 1]",
        "'{0}' has Capacity = {1}; the fraction of the tokens routed through each routed block must lie in (0, 1]: 1 routes every token, 0.5 half of them");

    public static readonly DiagnosticDescriptor KeepRateOutOfRange = Error(
        "MD0071", "Pruning keep rate outside (0, 1]",
        "'{0}' has KeepRate = {1}; the fraction of the tokens kept in each block must lie in (0, 1]: 1 keeps every token, 0.7 is EViT's usual rate");

    public static readonly DiagnosticDescriptor MergesMoreThanLeft = Error(
        "MD0072", "Merging more tokens than are left",
        "'{0}' merges R = {1} tokens per block, but block {2} gets {3} tokens ({4} after the {5} prefix tokens), of which at most half ({6}) can merge; R = {7} fits every block of its range");

    public static readonly DiagnosticDescriptor SegmentRemovedInsideEncoder = Error(
        "MD0073", "Head reads a segment that merging or pruning removed",
        "'{0}' has Reads = \"{1}\", but '{2}' {3} inside '{4}', after which only the prefix tokens keep their place ({5}); read a prefix token, pool the whole sequence, or leave '{1}' out of the merging or pruning");

    public static readonly DiagnosticDescriptor HooksShareBlock = Error(
        "MD0074", "Two stages act inside the same block",
        "'{0}' acts inside block {1} of '{2}', and so does '{3}'{4}; at most one stage may route, merge or prune in a block: give them ranges that do not overlap");

    public static readonly DiagnosticDescriptor PruningWithoutClassToken = Error(
        "MD0075", "Pruning without a class token",
        "'{0}' ranks tokens by the class token's attention, but the sequence entering '{1}' has no prefix token; add a [ClsToken] before the encoder, or merge tokens with [TokenMerging], which needs none");

    public static readonly DiagnosticDescriptor PromptsMovedInsideEncoder = Error(
        "MD0076", "Merging or pruning where deep prompts keep fixed places",
        "'{0}' {1} inside '{2}' from block {3}, but '{4}' replaces its prompts at fixed places in blocks {5}; merged or pruned tokens would no longer be where they are replaced: start '{0}' after block {5}");

    public static readonly DiagnosticDescriptor InsideCausalEncoder = Error(
        "MD0078", "Routing, merging or pruning in a causal encoder",
        "'{0}' {1} inside '{2}', which has Causal = true; choosing tokens by the whole sequence (top-k, similarity, class attention) lets a token depend on later ones, and merged or pruned tokens lose their order: use it on a bidirectional encoder");

    public static readonly DiagnosticDescriptor GrowsToFewerTokens = Error(
        "MD0077", "Growing from a model that does not fit",
        "'{0}' has GrownFrom = {1} with Tokens = {2} (FfnTokens = {3}): {4}; GrownFrom is the Tokens of the smaller model, at most {2}");
    public static readonly DiagnosticDescriptor LanguageModelSequenceTooLong = Error(
        "MD0060", "Language model input longer than its position table",
        "'{0}' reads '{1}' {2}, {3}, but has Context = {4}: its position table has {4} rows, one per position; set Context to at least {5}, or shorten the input");

    public static readonly DiagnosticDescriptor CausalLmLossNeedsTwoTokens = Error(
        "MD0061", "Causal LM loss over sequences of one token",
        "'{0}' reads '{1}', whose logits are {2}: with one token per sequence there is no next token to predict, so the loss has no term; give the input at least 2 tokens");

    public static readonly DiagnosticDescriptor SoftPromptWithoutLanguageModel = Error(
        "MD0062", "Soft prompt or prefix without a language model",
        "'{0}' is a [{1}], whose {2} of a [LanguageModel], but the model declares none; declare the language model, or use [PromptTokens] for a [TokenEmbedding] text encoder");

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpRoot + id + ".md");

    private static DiagnosticDescriptor Info(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Info, isEnabledByDefault: true, helpLinkUri: HelpRoot + id + ".md");

    private static DiagnosticDescriptor Warning(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Warning, isEnabledByDefault: true, helpLinkUri: HelpRoot + id + ".md");
}
