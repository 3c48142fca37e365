"""An independent GPT-2 forward pass, for the parity fixture of ModelDsl's DecoderLanguageModel.

    /usr/bin/python3 gpt2_reference.py OUT_DIR

Needs only torch (1.13 works; no transformers, no safetensors package). Writes into OUT_DIR:

  gpt2_tiny.safetensors     random weights of a tiny GPT-2 (2 layers, width 64, 4 heads, vocab 100, context 32)
                            in the layout Hugging Face publishes `gpt2` in: GPT2Model names without the
                            `transformer.` prefix (wte.weight, h.0.attn.c_attn.weight, ...), Conv1D weights
                            stored [in, out], the causal-mask buffers h.{i}.attn.bias [1,1,32,32] (uint8 here;
                            bool/uint8/float in HF's files) and h.{i}.attn.masked_bias present, no lm_head (tied).
  gpt2_tiny_io.safetensors  input_ids [2,12] int64 (row 1 left-padded by 4 with id 0), attention_mask [2,12]
                            int64, position_ids [2,12] int64 (cumsum(mask) - 1, 0 on padding), logits [2,12,100]
                            float32 computed in float64 from the float32 weights; and ids_plain [1,32] int64 with
                            logits_plain [1,32,100] (no padding, positions 0..31, the whole context).

The forward pass is written here from GPT-2's published definition (Radford et al. 2019 and OpenAI's
gpt-2 `model.py`): x = wte[ids] + wpe[pos]; per block x += attn(ln_1(x)); x += mlp(ln_2(x)); ln_f; logits =
x wte^T. LayerNorm eps 1e-5; attention softmax(q k^T / sqrt(d_head) + mask) v with q, k, v the three D-wide
column blocks of x c_attn.weight + c_attn.bias; mlp = c_proj(gelu_tanh(c_fc(x))) with
gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). A padded key gets the float64 minimum added
(as Hugging Face does), a future key -inf.
"""
import json
import math
import struct
import sys
from pathlib import Path

import torch

VOCAB, CONTEXT, DIM, DEPTH, HEADS = 100, 32, 64, 2, 4
EPS = 1e-5

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.uint8: "U8"}


def write_safetensors(path, tensors, metadata=None):
    """The safetensors format by hand: u64 little-endian header length, JSON header, raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, value in tensors.items():
        value = value.contiguous()
        data = value.numpy().tobytes() if value.dtype != torch.uint8 else bytes(value.flatten().tolist())
        header[name] = {"dtype": DTYPES[value.dtype], "shape": list(value.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)


def random_weights(generator):
    def normal(*shape, std):
        return (torch.randn(*shape, generator=generator) * std).float()

    w = {"wte.weight": normal(VOCAB, DIM, std=0.5), "wpe.weight": normal(CONTEXT, DIM, std=0.2)}
    for i in range(DEPTH):
        p = f"h.{i}."
        w[p + "ln_1.weight"] = 1 + normal(DIM, std=0.1)
        w[p + "ln_1.bias"] = normal(DIM, std=0.1)
        w[p + "attn.bias"] = torch.tril(torch.ones(CONTEXT, CONTEXT, dtype=torch.uint8)).view(1, 1, CONTEXT, CONTEXT)
        w[p + "attn.masked_bias"] = torch.tensor(-1e4, dtype=torch.float32)
        w[p + "attn.c_attn.weight"] = normal(DIM, 3 * DIM, std=0.15)   # Conv1D: [in, out]
        w[p + "attn.c_attn.bias"] = normal(3 * DIM, std=0.1)
        w[p + "attn.c_proj.weight"] = normal(DIM, DIM, std=0.15)
        w[p + "attn.c_proj.bias"] = normal(DIM, std=0.1)
        w[p + "ln_2.weight"] = 1 + normal(DIM, std=0.1)
        w[p + "ln_2.bias"] = normal(DIM, std=0.1)
        w[p + "mlp.c_fc.weight"] = normal(DIM, 4 * DIM, std=0.15)
        w[p + "mlp.c_fc.bias"] = normal(4 * DIM, std=0.1)
        w[p + "mlp.c_proj.weight"] = normal(4 * DIM, DIM, std=0.1)
        w[p + "mlp.c_proj.bias"] = normal(DIM, std=0.1)
    w["ln_f.weight"] = 1 + normal(DIM, std=0.1)
    w["ln_f.bias"] = normal(DIM, std=0.1)
    return w


def layer_norm(x, g, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS) * g + b


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(w, ids, positions, mask):
    """ids, positions [B,T] int64; mask [B,T] (1 real, 0 padding). Float64 throughout."""
    w = {k: v.double() for k, v in w.items() if k.split(".")[-2:] not in (["attn", "bias"], ["attn", "masked_bias"])}
    b, t = ids.shape
    hd = DIM // HEADS
    x = w["wte.weight"][ids] + w["wpe.weight"][positions]
    future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    bias = torch.zeros(b, 1, t, t, dtype=torch.float64)
    bias = bias.masked_fill((mask == 0).view(b, 1, 1, t), torch.finfo(torch.float64).min)
    bias = bias.masked_fill(future.view(1, 1, t, t), float("-inf"))
    for i in range(DEPTH):
        p = f"h.{i}."
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"])
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = qkv[..., :DIM], qkv[..., DIM:2 * DIM], qkv[..., 2 * DIM:]
        q, k, v = (z.reshape(b, t, HEADS, hd).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd) + bias
        a = torch.softmax(scores, -1) @ v
        a = a.transpose(1, 2).reshape(b, t, DIM)
        x = x + a @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"])
        m = gelu_tanh(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"])
    return x @ w["wte.weight"].T


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(20261207)
    w = random_weights(g)
    write_safetensors(out / "gpt2_tiny.safetensors", w, {"format": "pt"})

    ids = torch.randint(0, VOCAB, (2, 12), generator=g)
    mask = torch.ones(2, 12, dtype=torch.int64)
    mask[1, :4] = 0
    ids[1, :4] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = forward(w, ids, positions, mask).float()

    ids_plain = torch.randint(0, VOCAB, (1, CONTEXT), generator=g)
    logits_plain = forward(w, ids_plain, torch.arange(CONTEXT).view(1, -1), torch.ones(1, CONTEXT, dtype=torch.int64)).float()
    write_safetensors(out / "gpt2_tiny_io.safetensors", {
        "input_ids": ids, "attention_mask": mask, "position_ids": positions, "logits": logits,
        "ids_plain": ids_plain, "logits_plain": logits_plain,
    })
    print(f"wrote {out}/gpt2_tiny.safetensors and gpt2_tiny_io.safetensors (torch {torch.__version__}); "
          f"logits std {logits_plain.std():.3f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
