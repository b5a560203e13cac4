"""The NumPy text classifier (LSTM and Transformer): its hand-written backward, keys, padding.

The whole model's backward is gradient-checked on tiny models (every pooling mode, dropout on,
padding present). Training it is tested with the JAX twin in `tests/test_train.py`.
"""

from __future__ import annotations

import numpy as np
import pytest

from minienc import gradcheck
from minienc.numpy import classifier, pooling
from minienc.train import ClassifierConfig

IDS = np.array([[3, 4, 5, 2, 0, 0, 0], [6, 7, 0, 0, 0, 0, 0], [2, 3, 4, 5, 6, 7, 3]])
LENGTHS = np.array([4, 2, 7])


def tiny_config(encoder: str, pool: str = "mean", **kw) -> ClassifierConfig:
    base = dict(
        vocab_size=8,
        num_classes=3,
        embed_dim=6,
        hidden_size=5,
        num_heads=2,
        ffn_dim=7,
        pool=pool,
        dropout=0.2,
        activation="gelu",
    )
    return ClassifierConfig(encoder, **(base | kw))


def noisy_params(config: ClassifierConfig, seed: int = 1) -> dict[str, np.ndarray]:
    """Float64 params whose biases and LayerNorm parameters are random, not 0 and 1."""
    rng = np.random.default_rng(seed)
    params = classifier.init(config, seed, dtype=np.float64)
    return {
        k: v + 0.3 * rng.standard_normal(v.shape) if ("bias" in k or "norm" in k) else v
        for k, v in params.items()
    }


GRADCHECK_CASES = [
    *(("lstm", pool, {}) for pool in pooling.MODES),
    *(("transformer", pool, {}) for pool in pooling.MODES),
    ("lstm", "last", {"bidirectional": False, "num_layers": 2}),
    ("transformer", "cls", {"norm_first": True, "num_layers": 2, "activation": "relu"}),
]


@pytest.mark.parametrize(
    "encoder, pool, extra",
    GRADCHECK_CASES,
    ids=[f"{e}-{p}" + ("-deeper" if x else "") for e, p, x in GRADCHECK_CASES],
)
def test_whole_model_gradcheck(encoder, pool, extra):
    config = tiny_config(encoder, pool, **extra)
    params = noisy_params(config)
    result = gradcheck.check(
        classifier.forward,
        classifier.backward,
        params,
        IDS,
        lengths=LENGTHS,
        config=config,
        training=True,
        rng=3,
    )
    assert result.ok(1e-7), result.report(1e-7)
    assert set(result) == set(params)  # every parameter was checked (ids are not differentiable)


def test_param_keys_are_torch_names():
    lstm = classifier.init(tiny_config("lstm", "weighted_mean"))
    assert set(lstm) == {
        "embedding.weight",
        "pool.weight",
        "head.weight",
        "head.bias",
        *(
            f"lstm.{w}_{k}_l0{r}"
            for w in ("weight", "bias")
            for k in ("ih", "hh")
            for r in ("", "_reverse")
        ),
    }
    tf = classifier.init(tiny_config("transformer", "cls", norm_first=True))
    assert {
        "cls_token",
        "encoder.layers.0.self_attn.in_proj_weight",
        "encoder.norm.weight",
        "encoder.layers.0.norm2.bias",
    } <= set(tf)
    assert tf["cls_token"].shape == (1, 1, 6) and tf["embedding.weight"].dtype == np.float32
    assert not tf["embedding.weight"][0].any()  # <pad> row is zero


@pytest.mark.parametrize("encoder", ["lstm", "transformer"])
@pytest.mark.parametrize("pool", ["cls", "mean", "max"])
def test_padding_does_not_change_the_logits(encoder, pool):
    config = tiny_config(encoder, pool)
    params = noisy_params(config)
    alone = classifier.predict(params, IDS[1:2, :2], LENGTHS[1:2], config)
    batched = classifier.predict(params, IDS, LENGTHS, config)
    np.testing.assert_allclose(batched[1:2], alone, atol=1e-12)


def test_bad_inputs_raise_clear_errors():
    config = tiny_config("transformer")
    params = classifier.init(config)
    with pytest.raises(ValueError, match=r"lengths has shape \(2,\) but ids of shape \(3, 7\)"):
        classifier.forward(params, IDS, LENGTHS[:2], config)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T = 7\]"):
        classifier.forward(params, IDS, np.array([4, 0, 7]), config)
    with pytest.raises(TypeError, match="ids must be an integer array"):
        classifier.forward(params, IDS.astype(float), LENGTHS, config)
    with pytest.raises(KeyError, match=r"missing \['cls_token'\]"):
        classifier.forward(params, IDS, LENGTHS, tiny_config("transformer", "cls"))
    with pytest.raises(ValueError, match="num_heads = 4 must divide the model width embed_dim = 6"):
        tiny_config("transformer", num_heads=4)
    with pytest.raises(ValueError, match="encoder must be one of"):
        tiny_config("gru")
    with pytest.raises(ValueError, match=r"embeddings must have shape \(vocab_size, embed_dim\)"):
        classifier.init(config, embeddings=np.zeros((8, 5)))
