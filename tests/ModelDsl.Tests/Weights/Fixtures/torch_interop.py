"""PyTorch's side of the weights checks (needs torch; CI has none, see docs/weights.md).

  python3 torch_interop.py make-fixture OUT.pt
      Writes the state_dict of a PyTorch module with ChannelVit's registered names (tests/ModelDsl.Tests/
      Generated/TokenFamilyModels.cs) with torch.save, as a PyTorch user would. Every value is exact in
      float32: element i of the k-th tensor in state_dict order is ((i + k) % 17 - 8) / 16.
      PyTorchFileTests loads it into the generated ChannelVit and checks those values.

  python3 torch_interop.py check FILE.pt FILE.safetensors ...
      Loads each .pt written by ModelDsl with torch.load(weights_only=True) and compares every tensor
      with the same model's .safetensors file, read by hand (length, JSON header, raw bytes).
"""
import json
import struct
import sys

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(dim, 3 * dim)
        self.attn.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, 4 * dim)
        self.mlp.fc2 = nn.Linear(4 * dim, dim)


class ChannelVit(nn.Module):
    """Names and shapes only: 3 channels, patch 7, width 32, 16 patches per channel, depth 1, 10 classes."""

    def __init__(self, channels=3, patch=7, dim=32, patches=16, depth=1, classes=10):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.patch_embed = nn.Module()
        self.patch_embed.channel_embed = nn.Parameter(torch.zeros(1, channels, dim))
        self.patch_embed.pos_embed = nn.Parameter(torch.zeros(1, patches, dim))
        self.patch_embed.proj = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)


def make_fixture(path):
    model = ChannelVit()
    with torch.no_grad():
        for k, (name, value) in enumerate(model.state_dict().items()):
            pattern = ((torch.arange(value.numel()) + k) % 17 - 8).float() / 16
            value.copy_(pattern.reshape(value.shape))
    torch.save(model.state_dict(), path)
    print(f"wrote {path}: {len(model.state_dict())} tensors, torch {torch.__version__}")


def read_safetensors(path):
    raw = open(path, "rb").read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    header.pop("__metadata__", None)
    data = raw[8 + length:]
    tensors = {}
    for name, entry in header.items():
        assert entry["dtype"] == "F32", (name, entry["dtype"])
        begin, end = entry["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32).reshape(entry["shape"])
    return tensors


def check(pt, safetensors):
    state = torch.load(pt, weights_only=True)
    reference = read_safetensors(safetensors)
    assert list(state) == list(reference) or set(state) == set(reference), (sorted(state), sorted(reference))
    for name, value in state.items():
        assert value.dtype == torch.float32 and value.is_contiguous(), name
        assert torch.equal(value, reference[name]), name
    print(f"ok {pt}: {len(state)} tensors, torch.load(weights_only=True), equal to {safetensors}")


if __name__ == "__main__":
    if sys.argv[1] == "make-fixture":
        make_fixture(sys.argv[2])
    elif sys.argv[1] == "check":
        for i in range(2, len(sys.argv), 2):
            check(sys.argv[i], sys.argv[i + 1])
    else:
        sys.exit(__doc__)
