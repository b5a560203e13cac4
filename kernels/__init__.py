"""Triton kernels for minienc, each with a plain reference to test it against.

`flash_attention` is a fused attention forward and backward pass (FlashAttention-2 style) with
key-padding masks; `attention_reference` is the same function in plain torch and
`blocked_attention_numpy` the kernel's tiled online-softmax algorithm in NumPy.
Set `TRITON_INTERPRET=1` before importing this package to run the kernels on a CPU.
"""

from kernels.flash_attention import flash_attention
from kernels.reference import attention_reference, blocked_attention_numpy

__all__ = ["flash_attention", "attention_reference", "blocked_attention_numpy"]
