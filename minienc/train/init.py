"""Fresh classifier parameters drawn as torch draws them, written once for both backends.

`init_classifier(config, rng)` returns a dict of NumPy arrays with torch's keys;
`minienc.numpy.classifier.init` returns it as is and `minienc.jax.classifier.init` moves it to
JAX, so the same config and seed start both backends from the same numbers. torch's defaults:

- `nn.Linear` (in → out): weight and bias ~ U(-1/√in, 1/√in);
- `nn.Embedding`: weight ~ N(0, 1), the `<pad>` row (id 0) zero;
- `nn.LSTM`: every weight and bias ~ U(-1/√hidden, 1/√hidden);
- `nn.MultiheadAttention`: in_proj_weight Xavier-uniform U(±√(6 / (D + 3D))), biases zero,
  out_proj.weight U(±1/√D); `nn.LayerNorm`: weight one, bias zero.

One departure: the Transformer's embedding (and [CLS] token) is N(0, 1/D), so that √D · E[ids]
has entries of unit size, like the sinusoidal positions added to it.
"""

from __future__ import annotations

import math

import numpy as np
from jaxtyping import Float

from minienc._params import check_keys, check_params
from minienc.train.config import ClassifierConfig

__all__ = ["init_classifier", "classifier_shapes", "check_classifier_params"]


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], bound: float) -> np.ndarray:
    return rng.uniform(-bound, bound, shape)


def _linear(rng: np.random.Generator, n_in: int, n_out: int, prefix: str) -> dict:
    bound = 1 / math.sqrt(n_in)
    return {
        f"{prefix}weight": _uniform(rng, (n_out, n_in), bound),
        f"{prefix}bias": _uniform(rng, (n_out,), bound),
    }


def _lstm(rng: np.random.Generator, cfg: ClassifierConfig) -> dict:
    E, hidden, dirs = cfg.embed_dim, cfg.hidden_size, 2 if cfg.bidirectional else 1
    params = {}
    for layer in range(cfg.num_layers):
        n_in = E if layer == 0 else dirs * hidden
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            for name, shape in (
                (f"weight_ih{sfx}", (4 * hidden, n_in)),
                (f"weight_hh{sfx}", (4 * hidden, hidden)),
                (f"bias_ih{sfx}", (4 * hidden,)),
                (f"bias_hh{sfx}", (4 * hidden,)),
            ):
                params[f"lstm.{name}"] = _uniform(rng, shape, 1 / math.sqrt(hidden))
    return params


def _encoder(rng: np.random.Generator, cfg: ClassifierConfig) -> dict:
    D, F = cfg.embed_dim, cfg.ffn
    params = {}
    for i in range(cfg.num_layers):
        p = f"encoder.layers.{i}."
        params[p + "self_attn.in_proj_weight"] = _uniform(rng, (3 * D, D), math.sqrt(6 / (4 * D)))
        params[p + "self_attn.in_proj_bias"] = np.zeros(3 * D)
        params[p + "self_attn.out_proj.weight"] = _uniform(rng, (D, D), 1 / math.sqrt(D))
        params[p + "self_attn.out_proj.bias"] = np.zeros(D)
        params |= _linear(rng, D, F, p + "linear1.") | _linear(rng, F, D, p + "linear2.")
        for norm in ("norm1.", "norm2."):
            params[p + norm + "weight"], params[p + norm + "bias"] = np.ones(D), np.zeros(D)
    if cfg.norm_first:  # pre-LN leaves the residual stream unnormalised: one final LayerNorm
        params["encoder.norm.weight"], params["encoder.norm.bias"] = np.ones(D), np.zeros(D)
    return params


def classifier_shapes(config: ClassifierConfig) -> dict[str, tuple[int, ...]]:
    """Every key `init_classifier(config)` makes, with its shape: the exact set the classifiers'
    forward accepts, as torch's `load_state_dict(strict=True)` would."""
    V, E, D, C = config.vocab_size, config.embed_dim, config.pooled_dim, config.num_classes
    shapes = {"embedding.weight": (V, E)}
    if config.encoder == "lstm":
        hidden, dirs = config.hidden_size, 2 if config.bidirectional else 1
        for layer in range(config.num_layers):
            n_in = E if layer == 0 else dirs * hidden
            for sfx in [f"_l{layer}", f"_l{layer}_reverse"][:dirs]:
                shapes |= {f"lstm.weight_ih{sfx}": (4 * hidden, n_in)}
                shapes |= {f"lstm.weight_hh{sfx}": (4 * hidden, hidden)}
                shapes |= {f"lstm.bias_ih{sfx}": (4 * hidden,), f"lstm.bias_hh{sfx}": (4 * hidden,)}
    else:
        if config.pool == "cls":
            shapes["cls_token"] = (1, 1, E)
        F, attn = config.ffn, {"in_proj_weight": (3 * E, E), "in_proj_bias": (3 * E,)}
        attn |= {"out_proj.weight": (E, E), "out_proj.bias": (E,)}
        layer = {f"self_attn.{k}": s for k, s in attn.items()}
        layer |= {"linear1.weight": (F, E), "linear1.bias": (F,)}
        layer |= {"linear2.weight": (E, F), "linear2.bias": (E,)}
        layer |= {f"{n}.{k}": (E,) for n in ("norm1", "norm2") for k in ("weight", "bias")}
        for i in range(config.num_layers):
            shapes |= {f"encoder.layers.{i}.{k}": s for k, s in layer.items()}
        if config.norm_first:
            shapes |= {"encoder.norm.weight": (E,), "encoder.norm.bias": (E,)}
    if config.pool == "weighted_mean":
        shapes["pool.weight"] = (1, D)
    return shapes | {"head.weight": (C, D), "head.bias": (C,)}


def init_classifier(
    config: ClassifierConfig,
    rng: int | np.random.Generator = 0,
    embeddings: Float[np.ndarray, "V E"] | None = None,
    dtype: np.dtype | type = np.float32,
) -> dict[str, np.ndarray]:
    """Fresh parameters for `config` as NumPy arrays of `dtype`, keyed by torch's names.

    Args:
        config: a `ClassifierConfig`.
        rng: a seed or a NumPy Generator.
        embeddings: a (vocab_size, embed_dim) matrix (e.g. from `pretrained_embeddings`) that
            replaces the random embedding; its `<pad>` row is set to zero.
        dtype: the floating dtype of every array.
    """
    if not isinstance(config, ClassifierConfig):
        raise TypeError(f"config must be a ClassifierConfig, got {type(config).__name__}")
    rng = np.random.default_rng(rng)
    V, E = config.vocab_size, config.embed_dim
    std = 1.0 if config.encoder == "lstm" else 1 / math.sqrt(E)
    emb = std * rng.standard_normal((V, E))
    if embeddings is not None:
        if np.shape(embeddings) != (V, E):
            raise ValueError(
                f"embeddings must have shape (vocab_size, embed_dim) = {(V, E)}, "
                f"got {np.shape(embeddings)}"
            )
        emb = np.array(embeddings, dtype=np.float64)
    emb[0] = 0.0  # <pad>
    params = {"embedding.weight": emb}
    if config.encoder == "lstm":
        params |= _lstm(rng, config)
    else:
        if config.pool == "cls":
            params["cls_token"] = std * rng.standard_normal((1, 1, E))
        params |= _encoder(rng, config)
    if config.pool == "weighted_mean":
        D = config.pooled_dim
        params["pool.weight"] = _uniform(rng, (1, D), 1 / math.sqrt(D))
    params |= _linear(rng, config.pooled_dim, config.num_classes, "head.")
    return {k: np.asarray(v, dtype=dtype) for k, v in params.items()}


def check_classifier_params(params: object, config: object) -> None:
    """Both classifiers' check: `config` is a ClassifierConfig and `params` has exactly the keys
    and shapes of `classifier_shapes(config)` (the blocks check the dtypes)."""
    if not isinstance(config, ClassifierConfig):
        raise TypeError(f"config must be a ClassifierConfig, got {type(config).__name__}")
    shapes = classifier_shapes(config)
    check_keys(params, shapes, f"the {config.encoder} classifier")
    check_params(params, shapes, f"the {config.encoder} classifier")
