"""ModelDsl's training recipe for an exported twin, alone or under torchrun (DistributedDataParallel).

What the C# Trainer does, in PyTorch: AdamW with two parameter groups (no weight decay on tokens, position tables,
norms and biases: parameters with ndim <= 1, names ending in .bias, and the model's no-weight-decay names), warmup then
cosine / linear / constant decay stepped per optimizer step, gradient clipping by global norm, the model's own
training_step (its loss with label smoothing and its metrics), metrics as JSON lines in the C# columns, and
checkpoints written atomically. Under torchrun each rank reads its share of every global batch through a
DistributedSampler (gloo on CPUs, NCCL on GPUs), so a run on N processes takes the steps a single process would take
with the same global batch. Written for PyTorch 1.13 and 2.x.

    torchrun --nproc_per_node=2 train.py            # in the export folder; or: python train.py
    python -m modeldsl_torch.torchrun --nproc_per_node=2 train.py   # PyTorch 1.13 on Python 3.11 (Debian 12)
"""

import argparse
import importlib
import json
import math
import os
import sys
import time
from typing import Dict, List

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from . import safetensors_io


def schedule_factor(step: int, total: int, warmup: int, min_ratio: float, kind: str) -> float:
    """The learning-rate factor at an optimizer step (ModelDsl.Training.LearningRateSchedule.FactorAt)."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, total - 1 - warmup)
    progress = min(max((step - warmup) / span, 0.0), 1.0)
    if kind == "Cosine":
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if kind == "Linear":
        return 1 - (1 - min_ratio) * progress
    return 1.0


def parameter_groups(model: torch.nn.Module, no_decay_names: List[str], weight_decay: float, lr: float, lr_scales: Dict[str, float]):
    """timm's param_groups_weight_decay with the model's own names (ModelDsl.Training.ParameterGroups): no decay for
    ndim <= 1, .bias and the no-weight-decay names; a parameter under a name of lr_scales (the longest that matches)
    learns at that multiple of the rate."""
    def under(name: str, key: str) -> bool:
        return name == key or name.startswith(key + ".")

    groups: Dict[tuple, list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exempt = p.ndim <= 1 or name.endswith(".bias") or any(under(name, n) for n in no_decay_names)
        keys = [k for k in lr_scales if under(name, k)]
        scale = lr_scales[max(keys, key=len)] if keys else 1.0
        groups.setdefault((exempt, scale), []).append(p)
    return [{"params": params, "weight_decay": 0.0 if exempt else weight_decay, "lr": lr * scale, "initial_lr": lr * scale}
            for (exempt, scale), params in sorted(groups.items(), key=lambda kv: kv[0])]


def _save_atomic(obj, path: str, write) -> None:
    temporary = path + ".tmp"
    write(obj, temporary)
    os.replace(temporary, path)


def _batches(columns: Dict[str, torch.Tensor], indices: List[int], size: int, device):
    for start in range(0, len(indices), size):
        chosen = torch.tensor(indices[start:start + size], dtype=torch.long)
        yield {k: v.index_select(0, chosen).to(device) for k, v in columns.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Train an exported ModelDsl twin (alone, or under torchrun with DDP).")
    parser.add_argument("--export", default=os.path.dirname(os.path.abspath(sys.argv[0])), help="the export folder")
    parser.add_argument("--out", default=None, help="where metrics, checkpoints and trained weights go (default: EXPORT/run)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    args = parser.parse_args(argv)

    root = os.path.abspath(args.export)
    out = os.path.abspath(args.out or os.path.join(root, "run"))
    manifest = json.load(open(os.path.join(root, "export.json")))
    config = json.load(open(os.path.join(root, "train.json")))

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(config["seed"])

    sys.path.insert(0, root)
    twin = getattr(importlib.import_module(manifest["module"]), manifest["class"])()
    twin.load_state_dict(safetensors_io.load(os.path.join(root, manifest["weights"])), strict=True)
    twin.to(device)
    model = DistributedDataParallel(twin) if distributed else twin

    data = safetensors_io.load(os.path.join(root, config["data"]))
    train = {k[len("train."):]: v for k, v in data.items() if k.startswith("train.")}
    val = {k[len("val."):]: v for k, v in data.items() if k.startswith("val.")}
    count = next(iter(train.values())).shape[0]
    global_batch = config["batch_size"]
    if global_batch % world != 0:
        raise SystemExit(f"The global batch {global_batch} does not divide over {world} processes; choose a multiple of {world}.")
    local_batch = global_batch // world
    steps_per_epoch = math.ceil(count / global_batch)
    total = steps_per_epoch * config["epochs"]
    warmup = min(total, config["warmup_steps"] if config["warmup_steps"] is not None else round(config["warmup_fraction"] * total))

    groups = parameter_groups(twin, config["no_weight_decay"], config["weight_decay"], config["learning_rate"], config.get("lr_scales") or {})
    optimizer = torch.optim.AdamW(groups, lr=config["learning_rate"], betas=tuple(config["betas"]), eps=config["epsilon"])
    sampler = DistributedSampler(range(count), num_replicas=world, rank=rank, shuffle=True, seed=config["seed"], drop_last=False)

    if rank == 0:
        os.makedirs(out, exist_ok=True)
    metrics = open(os.path.join(out, "metrics.jsonl"), "a") if rank == 0 else None
    steps_log = open(os.path.join(out, "steps.jsonl"), "a") if rank == 0 else None
    step = 0
    for epoch in range(config["epochs"]):
        sampler.set_epoch(epoch)
        model.train()
        started, sums, samples = time.time(), {}, 0
        for batch in _batches(train, list(sampler), local_batch, device):
            factor = schedule_factor(step, total, warmup, config["min_lr_ratio"], config["schedule"])
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * factor
            # Through the (DDP-wrapped) module's forward, so DDP synchronises the gradients.
            terms = twin.terms(model(**{k: batch[k] for k in twin.forward_inputs}), batch)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            if config["gradient_clip_norm"] is not None:
                torch.nn.utils.clip_grad_norm_(twin.parameters(), config["gradient_clip_norm"])
            optimizer.step()
            # The global batch's means: each rank's means weighted by its samples.
            n = next(iter(batch.values())).shape[0]
            values = torch.tensor([float(terms[k].detach()) * n for k in sorted(terms)] + [float(n)], dtype=torch.float64)
            if distributed:
                dist.all_reduce(values)
            for k, v in zip(sorted(terms), values[:-1].tolist()):
                sums[k] = sums.get(k, 0.0) + v
            samples += int(values[-1])
            if steps_log is not None:
                steps_log.write(json.dumps({"step": step, "loss": values[sorted(terms).index("loss")].item() / values[-1].item()}) + "\n")
                steps_log.flush()
            step += 1
            if args.max_steps is not None and step >= args.max_steps:
                break
        record = {"epoch": epoch + 1, "step": step, "train_loss": sums["loss"] / samples}
        record.update({"train_" + k: v / samples for k, v in sums.items() if k != "loss"})
        if val:
            record.update(_evaluate(twin, val, config["batch_size"], device))
        record["lr"] = config["learning_rate"] * schedule_factor(step - 1, total, warmup, config["min_lr_ratio"], config["schedule"])
        record["seconds"] = round(time.time() - started, 3)
        record["samples_per_second"] = round(samples / max(time.time() - started, 1e-9), 1)
        if rank == 0:
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()
            _save_atomic({"model": twin.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "epoch": epoch + 1},
                         os.path.join(out, "last.pt"), torch.save)
        if args.max_steps is not None and step >= args.max_steps:
            break
    if rank == 0:
        _save_atomic(twin.state_dict(), os.path.join(out, "weights.trained.safetensors"), safetensors_io.save)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return 0


@torch.no_grad()
def _evaluate(twin: torch.nn.Module, columns: Dict[str, torch.Tensor], size: int, device) -> Dict[str, float]:
    twin.eval()
    sums, samples = {}, 0
    count = next(iter(columns.values())).shape[0]
    for batch in _batches(columns, list(range(count)), size, device):
        terms = twin.training_step(batch)
        n = next(iter(batch.values())).shape[0]
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v) * n
        samples += n
    return {("val_loss" if k == "loss" else "val_" + k): v / samples for k, v in sums.items()}
