"""Reading and writing safetensors files without the safetensors package (not packaged in Debian 12).

The format: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the
tensors' bytes, little-endian and contiguous.
"""

import json
import struct
from collections import OrderedDict
from typing import Dict

import torch

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def load(path: str) -> "OrderedDict[str, torch.Tensor]":
    """The tensors of a safetensors file, in file order, on the CPU."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length].decode("utf-8"))
    body = memoryview(data)[8 + length:]
    out = OrderedDict()
    for name, entry in sorted(((k, v) for k, v in header.items() if k != "__metadata__"), key=lambda kv: kv[1]["data_offsets"][0]):
        if entry["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor '{name}' has dtype {entry['dtype']}, which this reader does not know.")
        start, end = entry["data_offsets"]
        dtype = _DTYPES[entry["dtype"]]
        shape = entry["shape"]
        if end == start:
            out[name] = torch.zeros(shape, dtype=dtype)
            continue
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=dtype)
        out[name] = flat.reshape(shape).clone()
    return out


def save(tensors: Dict[str, torch.Tensor], path: str) -> None:
    """Writes tensors (made contiguous, moved to the CPU) as safetensors, in the given order."""
    header, chunks, offset = {}, [], 0
    for name, tensor in tensors.items():
        t = tensor.detach().cpu().contiguous()
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() > 0 else b""
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for raw in chunks:
            f.write(raw)
