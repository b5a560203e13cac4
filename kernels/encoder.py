"""A Transformer encoder layer in torch whose self-attention runs on torch or on our Triton kernel.

`EncoderLayer` holds exactly the parameters of `torch.nn.TransformerEncoderLayer(batch_first=True)`
under the same state_dict keys (`self_attn.in_proj_weight`, `self_attn.in_proj_bias`,
`self_attn.out_proj.weight`/`bias`, `linear1.*`, `linear2.*`, `norm1.*`, `norm2.*`), so the
weights of a stock layer load into it and back unchanged. With x of shape (B, T, D):

    [q k v] = x W_in^T + b_in                          (B, T, 3D), split into H heads of Dh = D / H
    attn(x) = out_proj(concat_h softmax(q_h k_h^T / sqrt(Dh), masked) v_h)
    ff(x)   = linear2(dropout(act(linear1(x))))
    post-LN (norm_first=False):  x = norm1(x + dropout1(attn(x)));  y = norm2(x + dropout2(ff(x)))
    pre-LN  (norm_first=True):   x = x + dropout1(attn(norm1(x)));  y = x + dropout2(ff(norm2(x)))

Only the softmax(...) v step changes with `attention_backend`:
- "torch": `torch.nn.functional.scaled_dot_product_attention`, with dropout on the attention
  probabilities in training mode, as the stock layer does;
- "triton": `kernels.flash_attention`, forward and backward fused in Triton. The kernel has no
  dropout on the probabilities, so in training mode this backend needs `attention_dropout=0`
  (the residual and feed-forward dropouts still apply).

`key_padding_mask` is bool (B, T), True = padding. A sequence that is all padding gets zero
attention output (both backends), so its outputs come from the biases and LayerNorms alone and
stay finite. Gradients come from torch autograd; through the Triton kernel, from its backward.
Dropout draws its random numbers in the stock layer's order, so with the "torch" backend and
the same seed the two layers agree in training mode too. Unlike the stock layer, there is no
inference fast path: eval mode computes the same numbers as training mode without dropout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import nn

from kernels.flash_attention import flash_attention

__all__ = ["EncoderLayer", "SelfAttention", "BACKENDS", "ACTIVATIONS"]

BACKENDS = ("torch", "triton")
ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def _check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"attention_backend must be one of {BACKENDS}, got {backend!r}")
    return backend


class SelfAttention(nn.Module):
    """Multi-head self-attention with the parameters of `nn.MultiheadAttention(batch_first=True)`.

    `in_proj_weight` (3D, D) packs the query, key and value projections, in that order.
    """

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.d_model, self.nhead, self.dropout = d_model, nhead, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)  # as nn.MultiheadAttention
        nn.init.zeros_(self.out_proj.bias)

    def forward(
        self,
        x: Float[torch.Tensor, "B T D"],
        key_padding_mask: Bool[torch.Tensor, "B T"] | None = None,
        causal: bool = False,
        backend: str = "torch",
    ) -> Float[torch.Tensor, "B T D"]:
        B, T, D = x.shape
        H, Dh = self.nhead, D // self.nhead
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (B, T, 3D)
        qkv = qkv.view(B, T, 3, H, Dh).permute(2, 0, 3, 1, 4)  # (3, B, H, T, Dh)
        q, k, v = qkv.unbind(0)  # each (B, H, T, Dh)
        p_drop = self.dropout if self.training else 0.0
        if backend == "triton":
            if p_drop > 0:
                raise ValueError(
                    f"attention_backend='triton' has no dropout on the attention probabilities, "
                    f"but attention_dropout={self.dropout} in training mode: build the layer with "
                    "attention_dropout=0.0, or call .eval()"
                )
            o = flash_attention(q, k, v, key_padding_mask=key_padding_mask, causal=causal)
        else:
            visible = None
            if key_padding_mask is not None or causal:
                visible = torch.ones(T, T, dtype=torch.bool, device=x.device)  # (Tq, Tk)
                if causal:
                    visible = visible.tril()
                if key_padding_mask is not None:
                    visible = visible & ~key_padding_mask[:, None, None, :]  # (B, 1, Tq, Tk)
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=visible, dropout_p=p_drop)
        # Laid out in memory as (T, B, D), as nn.MultiheadAttention returns it: dropout then
        # draws its random numbers in the stock layer's order, so one seed gives equal outputs.
        o = o.permute(2, 0, 1, 3).reshape(T, B, D)  # (B, H, T, Dh) -> (T, B, H, Dh) -> (T, B, D)
        return self.out_proj(o).transpose(0, 1)  # (B, T, D), a view


class EncoderLayer(nn.Module):
    """`nn.TransformerEncoderLayer(batch_first=True)` with a choice of attention backend.

    Arguments as the stock layer (`d_model`, `nhead`, `dim_feedforward`, `dropout`, `activation`
    in {"relu", "gelu"}, `layer_norm_eps`, `norm_first`), plus `attention_dropout` (the dropout
    on the attention probabilities; None = `dropout`, as the stock layer) and
    `attention_backend` in {"torch", "triton"}, which `forward` may override per call.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        norm_first: bool = False,
        attention_dropout: float | None = None,
        attention_backend: str = "torch",
    ) -> None:
        super().__init__()
        if nhead < 1 or d_model % nhead != 0:
            raise ValueError(f"d_model={d_model} must be a multiple of nhead={nhead}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        for name, p in (("dropout", dropout), ("attention_dropout", attention_dropout)):
            if p is not None and not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        self.attention_backend = _check_backend(attention_backend)
        self.activation, self.norm_first = activation, norm_first
        attn_p = dropout if attention_dropout is None else attention_dropout
        self.self_attn = SelfAttention(d_model, nhead, attn_p)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def _check_inputs(self, x, key_padding_mask) -> None:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point torch.Tensor, got {_describe(x)}")
        D = self.self_attn.d_model
        if x.ndim != 3 or x.shape[-1] != D:
            raise ValueError(f"x must have shape (B, T, D={D}), got {tuple(x.shape)}")
        if key_padding_mask is None:
            return
        if not isinstance(key_padding_mask, torch.Tensor) or key_padding_mask.dtype != torch.bool:
            raise TypeError(
                f"key_padding_mask must be a bool torch.Tensor (True = padding), "
                f"got {_describe(key_padding_mask)}"
            )
        if tuple(key_padding_mask.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"key_padding_mask must have shape (B, T) = {tuple(x.shape[:2])}, "
                f"got {tuple(key_padding_mask.shape)}"
            )

    def forward(
        self,
        x: Float[torch.Tensor, "B T D"],
        key_padding_mask: Bool[torch.Tensor, "B T"] | None = None,
        causal: bool = False,
        attention_backend: str | None = None,
    ) -> Float[torch.Tensor, "B T D"]:
        """y (B, T, D); `causal=True` lets position i attend to positions j <= i only."""
        self._check_inputs(x, key_padding_mask)
        backend = _check_backend(attention_backend or self.attention_backend)

        def attn(h):
            return self.dropout1(self.self_attn(h, key_padding_mask, causal, backend))

        def ff(h):
            act = ACTIVATIONS[self.activation]
            return self.dropout2(self.linear2(self.dropout(act(self.linear1(h)))))

        if self.norm_first:
            x = x + attn(self.norm1(x))
            return x + ff(self.norm2(x))
        x = self.norm1(x + attn(x))
        return self.norm2(x + ff(x))


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of dtype {x.dtype} and shape {tuple(x.shape)}"
    return type(x).__name__
