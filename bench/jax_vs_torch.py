"""JAX (jit) vs torch (eager) on CPU: encoder forward, encoder training step, LSTM forward.

    python bench/jax_vs_torch.py [--out bench/results/jax_vs_torch_cpu.json] [--repeats 10]

Cases (DESIGN §7), float32, both sides with the same weights and inputs, timed in one run:

- encoder fwd: 4 post-LN layers, D = 256, H = 4, FFN 1024, ReLU, B = 32, T = 128, no padding.
  Ours: `jax.jit(minienc.jax.encoder.forward)`. Peer: `nn.TransformerEncoder` in eval mode under
  `inference_mode` (its fused fast path). Target ≥ 1.3× torch tokens/s.
- encoder train step: the same encoder, loss = mean(y²), backward, AdamW (lr 1e-4, weight decay
  0.01 on every tensor). Ours: one jitted function (`jax.value_and_grad` + `optax.adamw`, params
  and optimizer state donated). Peer: train mode with dropout 0, `loss.backward()`,
  `torch.optim.AdamW.step()`. Target ≥ 1.0×.
- LSTM fwd: one layer, I = H = 256, B = 32, T = 128. Ours: `jax.jit(minienc.jax.lstm.forward)`
  (`lax.scan` over time). Peer: `nn.LSTM` under `inference_mode`. Target ≥ 0.7×.
- matmul (a reference, no target): one (4096, 256) @ (256, 1024) product, the speed of each
  side's matrix multiply, which bounds the three cases above (nearly all of their FLOPs).

Each case is timed as the best of `--repeats` calls after a warm-up (which compiles the JAX side),
ours and the peer taking turns so that a busy neighbour slows both alike. Prints one line per case:
shape, ours, peer (tokens/s and the GFLOP/s of their matrix products), ratio, the largest
difference between the two outputs, versions. On a machine shared with other busy processes the
numbers move by tens of percent from run to run: run it more than once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
import optax
import torch
from _timing import best_seconds  # bench/ is sys.path[0] when a script here runs

from minienc.jax import encoder, lstm

N_LAYERS, D, H, FFN, B, T = 4, 256, 4, 1024, 32, 128
LSTM_I = LSTM_H = 256
LR, WEIGHT_DECAY = 1e-4, 0.01


def torch_encoder() -> torch.nn.TransformerEncoder:
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(D, H, FFN, dropout=0.0, batch_first=True)
    return torch.nn.TransformerEncoder(layer, N_LAYERS, enable_nested_tensor=False)


def to_jax(module: torch.nn.Module) -> dict[str, jax.Array]:
    return {k: jnp.asarray(v.detach().numpy()) for k, v in module.state_dict().items()}


def case_encoder_forward(repeats: int) -> dict:
    module = torch_encoder().eval()
    params = to_jax(module)
    x = np.random.default_rng(0).standard_normal((B, T, D), dtype=np.float32)
    xj, xt = jnp.asarray(x), torch.from_numpy(x)
    forward = jax.jit(encoder.forward, static_argnums=2)

    def ours():
        return forward(params, xj, H).block_until_ready()

    def peer():
        with torch.inference_mode():
            return module(xt)

    err = float(np.abs(np.asarray(ours()) - peer().numpy()).max())
    best = best_seconds({"ours": ours, "peer": peer}, repeats)
    return {
        "case": "encoder fwd",
        "shape": f"L={N_LAYERS} D={D} H={H} FFN={FFN} B={B} T={T} fp32 eval",
        "peer": "torch.nn.TransformerEncoder (eval, inference_mode)",
        "unit": "tokens/s",
        "ours": B * T / best["ours"],
        "theirs": B * T / best["peer"],
        "max_abs_diff": err,
    }


def case_encoder_train_step(repeats: int) -> dict:
    module = torch_encoder().train()
    params = to_jax(module)
    x = np.random.default_rng(1).standard_normal((B, T, D), dtype=np.float32)
    xj, xt = jnp.asarray(x), torch.from_numpy(x)
    tx = optax.adamw(LR, weight_decay=WEIGHT_DECAY)

    def loss_fn(p, x):
        return jnp.mean(encoder.forward(p, x, H) ** 2)

    def step(p, state, x):
        loss, grads = jax.value_and_grad(loss_fn)(p, x)
        updates, state = tx.update(grads, state, p)
        return optax.apply_updates(p, updates), state, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    torch_opt = torch.optim.AdamW(module.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    state = {"p": params, "s": tx.init(params), "loss": None}

    def ours():
        state["p"], state["s"], loss = step(state["p"], state["s"], xj)
        state["loss"] = float(loss)  # blocks until the step is done

    def peer():
        torch_opt.zero_grad(set_to_none=True)
        loss = module(xt).pow(2).mean()
        loss.backward()
        torch_opt.step()
        return loss.item()

    # Same first loss (same weights), and the same weights after one step of each.
    ours()
    first = peer()
    err = float(
        max(
            np.abs(np.asarray(state["p"][k]) - v.detach().numpy()).max()
            for k, v in module.state_dict().items()
        )
    )
    err_loss = abs(state["loss"] - first)
    best = best_seconds({"ours": ours, "peer": peer}, repeats)
    return {
        "case": "encoder train step",
        "shape": f"L={N_LAYERS} D={D} H={H} FFN={FFN} B={B} T={T} fp32 fwd+bwd+AdamW",
        "peer": "torch.nn.TransformerEncoder + torch.optim.AdamW (eager)",
        "unit": "tokens/s",
        "ours": B * T / best["ours"],
        "theirs": B * T / best["peer"],
        "max_abs_diff": max(err, err_loss),
    }


def case_lstm_forward(repeats: int) -> dict:
    torch.manual_seed(0)
    module = torch.nn.LSTM(LSTM_I, LSTM_H, batch_first=True).eval()
    params = to_jax(module)
    x = np.random.default_rng(2).standard_normal((B, T, LSTM_I), dtype=np.float32)
    xj, xt = jnp.asarray(x), torch.from_numpy(x)
    forward = jax.jit(lstm.forward)

    def ours():
        return forward(params, xj)[0].block_until_ready()

    def peer():
        with torch.inference_mode():
            return module(xt)[0]

    err = float(np.abs(np.asarray(ours()) - peer().numpy()).max())
    best = best_seconds({"ours": ours, "peer": peer}, repeats)
    return {
        "case": "lstm fwd",
        "shape": f"I={LSTM_I} H={LSTM_H} B={B} T={T} fp32",
        "peer": "torch.nn.LSTM (inference_mode)",
        "unit": "tokens/s",
        "ours": B * T / best["ours"],
        "theirs": B * T / best["peer"],
        "max_abs_diff": err,
    }


def case_matmul(repeats: int) -> dict:
    """Not a target: one (B·T, D) @ (D, FFN) product, the machine's matmul speed on each side."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((B * T, D), dtype=np.float32)
    w = rng.standard_normal((D, FFN), dtype=np.float32)
    aj, wj, at, wt = jnp.asarray(a), jnp.asarray(w), torch.from_numpy(a), torch.from_numpy(w)
    matmul = jax.jit(jnp.matmul)

    def ours():
        return matmul(aj, wj).block_until_ready()

    def peer():
        with torch.inference_mode():
            return at @ wt

    err = float(np.abs(np.asarray(ours()) - peer().numpy()).max())
    best = best_seconds({"ours": ours, "peer": peer}, repeats)
    return {
        "case": "matmul",
        "shape": f"({B * T}, {D}) @ ({D}, {FFN}) fp32",
        "peer": "torch.matmul",
        "unit": "rows/s",
        "ours": B * T / best["ours"],
        "theirs": B * T / best["peer"],
        "max_abs_diff": err,
    }


TARGETS = {"encoder fwd": 1.3, "encoder train step": 1.0, "lstm fwd": 0.7, "matmul": None}

# Matmul FLOPs per call (2 per multiply-add), to show how close each side runs to the machine's
# matmul peak. Encoder layer: Q/K/V and output projections, q kᵀ and p v, the two FFN matmuls.
_LAYER_FLOPS = 2 * B * T * D * (4 * D + 2 * FFN) + 4 * B * T * T * D
FLOPS = {
    "encoder fwd": N_LAYERS * _LAYER_FLOPS,
    "encoder train step": 3 * N_LAYERS * _LAYER_FLOPS,  # backward ≈ twice the forward
    "lstm fwd": 2 * B * T * 4 * LSTM_H * (LSTM_I + LSTM_H),
    "matmul": 2 * B * T * D * FFN,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    versions = {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "optax": optax.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(jax.devices()[0]),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset"),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", "unset"),
    }
    results = []
    for case in (case_encoder_forward, case_encoder_train_step, case_lstm_forward, case_matmul):
        r = case(args.repeats)
        r["ratio"] = r["ours"] / r["theirs"]
        r["target"] = TARGETS[r["case"]]
        flops_per_token = FLOPS[r["case"]] / (B * T)
        r["ours_gflops"] = r["ours"] * flops_per_token / 1e9
        r["theirs_gflops"] = r["theirs"] * flops_per_token / 1e9
        results.append(r)
        print(
            f"{r['case']} {r['shape']} | ours (JAX jit) {r['ours']:,.0f} {r['unit']} "
            f"({r['ours_gflops']:.0f} GFLOP/s) | {r['peer']} {r['theirs']:,.0f} {r['unit']} "
            f"({r['theirs_gflops']:.0f} GFLOP/s) | ratio {r['ratio']:.2f}x "
            + (f"(target ≥ {r['target']}x)" if r["target"] else "(reference, no target)")
            + f" | max abs diff {r['max_abs_diff']:.1e} | "
            + " ".join(f"{k} {v}" for k, v in versions.items()),
            flush=True,
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"results": results, "versions": versions}, indent=2) + "\n")


if __name__ == "__main__":
    main()
