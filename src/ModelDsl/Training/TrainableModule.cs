using System;
using System.Collections.Generic;
using ModelDsl.Data;
using static TorchSharp.torch;

namespace ModelDsl.Training;

/// <summary>
/// A module that knows how to train itself: the generated model classes derive from it. A batch of
/// named tensors becomes a typed <typeparamref name="TBatch"/>; a training or validation step
/// returns the loss and metrics; <see cref="Fit"/> runs <see cref="Trainer"/>.
/// </summary>
/// <typeparam name="TBatch">The model's typed batch (e.g. a record of <c>image</c> and <c>label</c>).</typeparam>
public abstract class TrainableModule<TBatch> : nn.Module
{
    /// <summary>Creates the module; the subclass registers its components.</summary>
    protected TrainableModule(string name) : base(name) { }

    /// <summary>Takes the model's inputs from a batch by name (a missing name throws, listing the names there are).</summary>
    public abstract TBatch CreateBatch(NamedBatch batch);

    /// <summary>The forward pass and loss of one training batch.</summary>
    public abstract StepOutput TrainingStep(TBatch batch);

    /// <summary>The forward pass, loss and metrics of one validation batch (run under <c>no_grad</c> in eval mode).</summary>
    public abstract StepOutput ValidationStep(TBatch batch);

    /// <summary>
    /// Registered parameter names (or module prefixes) that get no weight decay, like timm's
    /// <c>no_weight_decay()</c>: <c>cls_token</c>, <c>reg_token</c>, <c>pos_embed</c>. Biases and
    /// other 1-d parameters never get weight decay anyway.
    /// </summary>
    public virtual IReadOnlyCollection<string> NoWeightDecayNames => Array.Empty<string>();

    /// <summary>Trains the model; see <see cref="Trainer.Fit{TBatch}(TrainableModule{TBatch}, TensorDataset, TensorDataset, TrainOptions)"/>.</summary>
    public TrainReport Fit(TensorDataset train, TensorDataset? validation = null, TrainOptions? options = null) =>
        Trainer.Fit(this, train, validation, options);

    /// <summary>The sample-weighted mean validation loss and metrics over <paramref name="data"/>.</summary>
    public IReadOnlyDictionary<string, double> Evaluate(TensorDataset data, TrainOptions? options = null) =>
        Trainer.Evaluate(this, data, options);
}
