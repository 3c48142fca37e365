"""The blocks of a ModelDsl twin, under timm's VisionTransformer names (see docs/weights.md)."""

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# timm's ViT LayerNorm epsilon; ModelDsl's EncoderBlock.NormEps.
NORM_EPS = 1e-6


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v over [B,H,N,d], fused where PyTorch has it (2.0 and later)."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
    if causal:
        n, m = scores.shape[-2], scores.shape[-1]
        mask = torch.ones(n, m, dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


class PatchEmbed(nn.Module):
    """timm's PatchEmbed: a P x P convolution with stride P, [B,C,H,W] -> [B,(H/P)*(W/P),D]."""

    def __init__(self, in_chans: int, patch_size: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.proj(image).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (timm's Attention): [B,N,D] -> [B,N,D]."""

    def __init__(self, dim: int, heads: int, causal: bool = False):
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"Attention: {heads} heads do not divide the width {dim}.")
        self.heads = heads
        self.causal = causal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        o = _attend(q, k, v, self.causal)                    # [B,H,N,hd]
        return self.proj(o.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """fc1, exact GELU, fc2 (timm's Mlp)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """A pre-norm transformer block (timm's Block without layer scale or drop path)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, causal: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=NORM_EPS)
        self.attn = Attention(dim, heads, causal)
        self.norm2 = nn.LayerNorm(dim, eps=NORM_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def forward_queries(self, x: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """VQT (EncoderBlock.ForwardQueries): query tokens [1,T,D] attend over the block's input tokens only (keys and
        values from x, with the block's own qkv and proj), then the block's MLP; x itself is not changed."""
        b, n, d = x.shape
        heads = self.attn.heads
        q = queries.expand(b, -1, -1)
        w, bias = self.attn.qkv.weight, self.attn.qkv.bias
        query = F.linear(self.norm1(q), w[:d], bias[:d]).reshape(b, -1, heads, d // heads).transpose(1, 2)
        k, v = F.linear(self.norm1(x), w[d:], bias[d:]).reshape(b, n, 2, heads, d // heads).permute(2, 0, 3, 1, 4).unbind(0)
        h = q + self.attn.proj(_attend(query, k, v).transpose(1, 2).reshape(b, -1, d))
        return h + self.mlp(self.norm2(h))


class Encoder(nn.ModuleList):
    """depth blocks, registered as blocks.0, blocks.1, ... (the C# TransformerEncoder). Hooks act before the blocks of
    their range, as TransformerEncoder.Forward(x, hooks) calls them."""

    def __init__(self, dim: int, depth: int, heads: int, mlp_ratio: float, causal: bool = False):
        super().__init__([Block(dim, heads, mlp_ratio, causal) for _ in range(depth)])

    def forward(self, x: torch.Tensor, hooks: Sequence = ()) -> torch.Tensor:
        for i, block in enumerate(self):
            for hook in hooks:
                if hook.covers(i):
                    x = hook.before_block(i, block, x)
            x = block(x)
        return x


class DeepPrompts:
    """VPT-deep (Blocks.DeepPrompts): before the first block of its range the prompts [P,D] of that block are inserted at
    `offset` (after the prefix tokens); before each next block they replace the previous block's prompt outputs."""

    def __init__(self, prompts: torch.Tensor, first_layer: int, offset: int):
        self.prompts, self.first_layer, self.offset = prompts, first_layer, offset

    def covers(self, layer: int) -> bool:
        return self.first_layer <= layer < self.first_layer + self.prompts.shape[0]

    def before_block(self, layer: int, block: Block, x: torch.Tensor) -> torch.Tensor:
        p = self.prompts[layer - self.first_layer]
        skip = p.shape[0] if layer > self.first_layer else 0
        return torch.cat([x[:, :self.offset], p.unsqueeze(0).expand(x.shape[0], -1, -1), x[:, self.offset + skip:]], dim=1)


class AttentionPoolLatent(nn.Module):
    """timm's 'map' pooling: a learned latent query attends over the tokens, then an MLP: [B,N,D] -> [B,D]."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"AttentionPoolLatent: {heads} heads do not divide the width {dim}.")
        self.heads = heads
        self.latent = nn.Parameter(torch.zeros(1, 1, dim))
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, eps=NORM_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        hd = d // self.heads
        q = self.q(self.latent.expand(b, -1, -1)).reshape(b, 1, self.heads, hd).transpose(1, 2)
        k, v = self.kv(x).reshape(b, n, 2, self.heads, hd).permute(2, 0, 3, 1, 4).unbind(0)
        o = self.proj(_attend(q, k, v).transpose(1, 2).reshape(b, 1, d))
        o = o + self.mlp(self.norm(o))
        return o[:, 0]


class LinearHead(nn.Module):
    """weight [C,D] and bias [C] registered on the head itself (timm's head: head.weight, head.bias)."""

    def __init__(self, dim: int, outputs: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(outputs, dim))
        self.bias = nn.Parameter(torch.zeros(outputs))
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


def tokens(count: int, dim: int) -> nn.Parameter:
    """Learnable tokens [1,count,D] (cls_token, reg_token), zero until weights are loaded or trained."""
    return nn.Parameter(torch.zeros(1, count, dim))


class LayerQueries:
    """VQT (Blocks.LayerQueries): before each block of its range the block's query tokens read the block's input;
    outputs() stacks what every block of the range gave, [B,L,T,D]. The tokens x pass unchanged."""

    def __init__(self, queries: torch.Tensor, first_layer: int):
        self.queries, self.first_layer, self.collected = queries, first_layer, []

    def covers(self, layer: int) -> bool:
        return self.first_layer <= layer < self.first_layer + self.queries.shape[0]

    def before_block(self, layer: int, block: Block, x: torch.Tensor) -> torch.Tensor:
        self.collected.append(block.forward_queries(x, self.queries[layer - self.first_layer].unsqueeze(0)))
        return x

    def outputs(self) -> torch.Tensor:
        return torch.stack(self.collected, dim=1)


def layered_tokens(depth: int, count: int, dim: int) -> nn.Parameter:
    """One set of learnable tokens per block of a range, [depth,count,D] (deep prompts, query tokens)."""
    return nn.Parameter(torch.zeros(depth, count, dim))


def prepend(x: torch.Tensor, prefix: Sequence[torch.Tensor]) -> torch.Tensor:
    """[CLS | registers | ... | x]: each [1,n,D] token set expanded over the batch, in order (Blocks.Tokens.Prepend)."""
    return torch.cat([t.expand(x.shape[0], -1, -1) for t in prefix] + [x], dim=1)


def append(x: torch.Tensor, after: Sequence[torch.Tensor]) -> torch.Tensor:
    """[x | tokens ...]: each [1,n,D] token set expanded over the batch (Blocks.Tokens.Append)."""
    return torch.cat([x] + [t.expand(x.shape[0], -1, -1) for t in after], dim=1)
