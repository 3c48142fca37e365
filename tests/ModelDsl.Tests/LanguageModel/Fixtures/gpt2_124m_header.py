"""Writes gpt2_124m.header.json: the safetensors header of GPT-2 124M in the layout Hugging Face publishes `gpt2`
(model.safetensors of openai-community/gpt2): GPT2Model names without the `transformer.` prefix, float32, Conv1D
weights [in, out], the causal-mask buffers h.{i}.attn.bias [1,1,1024,1024], no lm_head (tied). The names and shapes
follow from the published config (vocab_size 50257, n_positions 1024, n_embd 768, n_layer 12, n_head 12,
n_inner null -> 3072); the file itself (548 MB) is not in the repository, and this header was not read from it.

    /usr/bin/python3 gpt2_124m_header.py > gpt2_124m.header.json
"""
import json

V, T, D, L = 50257, 1024, 768, 12
entries = [("wte.weight", [V, D]), ("wpe.weight", [T, D])]
for i in range(L):
    p = f"h.{i}."
    entries += [
        (p + "ln_1.weight", [D]), (p + "ln_1.bias", [D]),
        (p + "attn.bias", [1, 1, T, T]),
        (p + "attn.c_attn.weight", [D, 3 * D]), (p + "attn.c_attn.bias", [3 * D]),
        (p + "attn.c_proj.weight", [D, D]), (p + "attn.c_proj.bias", [D]),
        (p + "ln_2.weight", [D]), (p + "ln_2.bias", [D]),
        (p + "mlp.c_fc.weight", [D, 4 * D]), (p + "mlp.c_fc.bias", [4 * D]),
        (p + "mlp.c_proj.weight", [4 * D, D]), (p + "mlp.c_proj.bias", [D]),
    ]
entries += [("ln_f.weight", [D]), ("ln_f.bias", [D])]
header, offset = {"__metadata__": {"format": "pt"}}, 0
for name, shape in entries:
    size = 4
    for d in shape:
        size *= d
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
    offset += size
print(json.dumps(header, separators=(",", ":")))
