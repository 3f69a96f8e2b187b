"""PyTorch twin of :mod:`edgerec.infer._sasrec`, used for training only."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgerec.infer._sasrec import LN_EPS


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.ln1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.ff1 = nn.Linear(dim, 4 * dim)
        self.ff2 = nn.Linear(4 * dim, dim)
        self.ln2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.drop = nn.Dropout(dropout)
        self.attn_drop = nn.Dropout(attn_dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, width, dim = x.shape
        size = dim // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, width, self.heads, size).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        logits = q @ k.transpose(-1, -2) / math.sqrt(size) + bias
        attn = self.attn_drop(torch.softmax(logits, dim=-1))
        context = (attn @ v).transpose(1, 2).reshape(batch, width, dim)
        x = self.ln1(x + self.drop(self.o(context)))
        hidden = F.gelu(self.ff1(x), approximate="tanh")
        out: torch.Tensor = self.ln2(x + self.drop(self.ff2(hidden)))
        return out


class SASRecNet(nn.Module):
    """Causal transformer over item sequences with a tied item embedding table.

    Index ``num_items`` is padding; real items are ``0..num_items-1``.
    """

    def __init__(
        self,
        num_items: int,
        dim: int,
        max_len: int,
        num_layers: int,
        heads: int,
        dropout: float,
        attn_dropout: float,
    ) -> None:
        super().__init__()
        self.num_items = num_items
        self.max_len = max_len
        self.item_emb = nn.Embedding(num_items + 1, dim, padding_idx=num_items)
        self.pos_emb = nn.Embedding(max_len, dim)
        self.emb_ln = nn.LayerNorm(dim, eps=LN_EPS)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            _Block(dim, heads, dropout, attn_dropout) for _ in range(num_layers)
        )
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        # Truncated-normal-like small init, as the SASRec/BERT family uses.
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()

    def forward(
        self,
        seq: torch.Tensor,
        positions: torch.Tensor | None = None,
        segments: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, L) item indices -> (B, L, d) hidden states.

        Without ``positions``, ``seq`` is left-padded, one sequence a row. With them (and
        ``segments``), rows are packed (see ``_packing``): each slot's position index, and
        which sequence it belongs to; a slot attends only to earlier slots of its sequence.
        """
        if (positions is None) != (segments is None):
            # Packed rows without their segments would attend across sequences.
            raise ValueError("positions and segments go together")
        width = seq.shape[1]
        valid = seq != self.num_items
        x = self.item_emb(seq) * valid.unsqueeze(-1)
        if positions is None:
            x = x + self.pos_emb.weight[self.max_len - width :]
        else:
            x = x + self.pos_emb(positions)
        x = self.drop(self.emb_ln(x))
        causal = torch.ones(width, width, dtype=torch.bool, device=seq.device).tril()
        allowed = causal.unsqueeze(0) & valid.unsqueeze(1)
        if segments is not None:
            allowed = allowed & (segments.unsqueeze(2) == segments.unsqueeze(1))
        bias = torch.zeros(allowed.shape, device=seq.device).masked_fill(~allowed, -1e9)
        bias = bias.unsqueeze(1)
        for block in self.blocks:
            x = block(x, bias)
        hidden: torch.Tensor = x
        return hidden

    def item_table(self) -> torch.Tensor:
        return self.item_emb.weight[: self.num_items]

    def export_weights(self) -> dict[str, np.ndarray]:
        """Weights under the names :class:`edgerec.infer._sasrec.SASRecEncoder` expects."""

        def arr(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().numpy().astype(np.float32)

        out = {
            "pos_emb": arr(self.pos_emb.weight),
            "emb_ln.g": arr(self.emb_ln.weight),
            "emb_ln.b": arr(self.emb_ln.bias),
        }
        for index, block in enumerate(self.blocks):
            assert isinstance(block, _Block)
            p = f"l{index}."
            for name in ("q", "k", "v", "o", "ff1", "ff2"):
                linear = getattr(block, name)
                out[p + name + ".w"] = arr(linear.weight.T)
                out[p + name + ".b"] = arr(linear.bias)
            for name in ("ln1", "ln2"):
                norm = getattr(block, name)
                out[p + name + ".g"] = arr(norm.weight)
                out[p + name + ".b"] = arr(norm.bias)
        return out
