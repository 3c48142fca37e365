using ModelDsl.Examples;
using UserStageExample;

// A stage kind the library does not ship, declared in this project and checked like a built-in one:
// ChannelViT's per-channel patch embedding (ChannelPatches.cs), used by UserChannelVit (Models.cs).
return ExampleOptions.RunFromCommandLine(args, "examples/UserStage", "runs/user-stage", UserStageExperiment.Run);
