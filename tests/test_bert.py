"""BERT in NumPy and JAX against transformers.BertModel and sentence-transformers.

A tiny random BERT in float64 (forward, every gradient, gradcheck) and the real all-MiniLM-L6-v2
in float32 (sentence embeddings ≤ 1e-5 on unit vectors, last hidden states), with padding present.
The oracles (transformers, sentence-transformers) are imported here only, never by minienc.
"""

import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before the oracles are imported: no network

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

import minienc
from minienc import gradcheck
from minienc.bert_config import BertConfig, expected_shapes
from minienc.data import sentiment
from minienc.data.pretrained import minilm_dir
from minienc.numpy import bert

transformers = pytest.importorskip("transformers")

TINY = BertConfig(
    vocab_size=30,
    hidden_size=8,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=12,
    max_position_embeddings=7,
    type_vocab_size=2,
    layer_norm_eps=1e-12,
)
LENGTHS = (5, 3, 1)  # B = 3, T = 5: padding in two rows
FAST = os.environ.get("MINIENC_FAST") == "1"


def tiny_torch_model() -> torch.nn.Module:
    """transformers.BertModel of the TINY sizes, float64, every tensor random and non-zero."""
    torch.manual_seed(0)
    fields = {k: getattr(TINY, k) for k in TINY.__dataclass_fields__}
    cfg = transformers.BertConfig(**fields, attn_implementation="eager")
    model = transformers.BertModel(cfg).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if "LayerNorm.weight" in name else 0.0))
    return model


def tiny_inputs(pad_id: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    B, T = len(LENGTHS), max(LENGTHS)
    mask = (np.arange(T)[None, :] < np.array(LENGTHS)[:, None]).astype(np.int64)  # (B, T)
    ids = np.where(mask == 1, rng.integers(1, TINY.vocab_size, (B, T)), pad_id)
    types_ = rng.integers(0, 2, (B, T)) * mask
    return ids, mask, types_


@pytest.fixture(scope="module")
def tiny():
    model = tiny_torch_model()
    params = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return model, params


def torch_run(model, ids, mask, types_, dy, dpool):
    """Torch outputs and the gradients of sum(dy * y) + sum(dpool * pooler)."""
    model.zero_grad()
    out = model(
        input_ids=torch.from_numpy(ids),
        attention_mask=torch.from_numpy(mask),
        token_type_ids=torch.from_numpy(types_),
    )
    loss = (out.last_hidden_state * torch.from_numpy(dy)).sum()
    (loss + (out.pooler_output * torch.from_numpy(dpool)).sum()).backward()
    grads = {k: p.grad.numpy() for k, p in model.named_parameters()}
    return out.last_hidden_state.detach().numpy(), out.pooler_output.detach().numpy(), grads


def test_tiny_numpy_equals_transformers_forward_and_every_gradient(tiny):
    model, params = tiny
    ids, mask, types_ = tiny_inputs()
    rng = np.random.default_rng(2)
    dy, dpool = rng.standard_normal((3, 5, 8)), rng.standard_normal((3, 8))
    y_ref, pool_ref, g_ref = torch_run(model, ids, mask, types_, dy, dpool)

    y, cache = bert.forward(params, ids, mask, types_, config=TINY)
    pool, pool_cache = bert.pooler(params, y)
    dh, grads = bert.pooler_backward(dpool, pool_cache)
    _, g_body = bert.backward(dy + dh, cache)
    grads |= g_body
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(pool, pool_ref, rtol=0, atol=1e-9)
    assert sorted(grads) == sorted(g_ref)
    for k in g_ref:
        np.testing.assert_allclose(grads[k], g_ref[k], rtol=0, atol=1e-9, err_msg=k)
        assert np.abs(g_ref[k]).max() > 0, k  # every tensor takes part
    assert not grads["embeddings.word_embeddings.weight"][TINY.pad_token_id].any()


def test_tiny_numpy_gradcheck(tiny):
    _, params = tiny
    params = {k: v for k, v in params.items() if not k.startswith("pooler.")}
    ids, mask, types_ = tiny_inputs(pad_id=3)  # a real id under the padding: row 0 stays unused

    def forward(p, ids, mask, types_):
        return bert.forward(p, ids, mask, types_, config=TINY)

    def backward(dy, cache):
        return (None, None, None), bert.backward(dy, cache)[1]

    result = gradcheck.check(forward, backward, params, (ids, mask, types_))
    # A key bias adds q·b_k to every score of a row, which softmax ignores: its gradient is
    # exactly zero, where a relative error only measures rounding. Check it is zero instead.
    zero = [k for k in result if k.endswith("attention.self.key.bias")]
    assert len(zero) == TINY.num_hidden_layers
    assert result.ok() or all(result[k] <= 1e-7 for k in result if k not in zero), result.report()
    for k in zero:
        assert abs(result.worst[k].analytic) <= 1e-12 and abs(result.worst[k].numeric) <= 1e-8


def test_partial_backward_gives_the_top_layers_gradients(tiny):
    _, params = tiny
    ids, mask, types_ = tiny_inputs()
    y, cache = bert.forward(params, ids, mask, types_, config=TINY)
    dy = np.random.default_rng(3).standard_normal(y.shape)
    _, full = bert.backward(dy, cache)
    _, top = bert.backward(dy, cache, layers=1)
    assert sorted(top) == sorted(k for k in full if k.startswith("encoder.layer.1."))
    for k in top:
        np.testing.assert_array_equal(top[k], full[k])
    with pytest.raises(ValueError, match="layers"):
        bert.backward(dy, cache, layers=3)


def test_training_dropout_is_seeded_and_differentiable(tiny):
    _, params = tiny
    ids, mask, types_ = tiny_inputs()
    config = BertConfig(**{**TINY.__dict__, "hidden_dropout_prob": 0.3})
    y_eval, _ = bert.forward(params, ids, mask, types_, config=config)
    y1, cache = bert.forward(params, ids, mask, types_, config=config, training=True, rng=5)
    y2, _ = bert.forward(params, ids, mask, types_, config=config, training=True, rng=5)
    np.testing.assert_array_equal(y1, y2)
    assert np.abs(y1 - y_eval).max() > 1e-3
    _, grads = bert.backward(np.ones_like(y1), cache)
    assert all(np.isfinite(g).all() for g in grads.values())


@pytest.fixture
def x64():
    """JAX in float64 for one test (conftest's `jax_x64` would keep it for the MiniLM tests)."""
    import jax

    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


def test_tiny_jax_equals_transformers(tiny, x64):
    import jax
    import jax.numpy as jnp

    from minienc.jax import bert as jbert

    model, params = tiny
    ids, mask, types_ = tiny_inputs()
    rng = np.random.default_rng(2)
    dy, dpool = rng.standard_normal((3, 5, 8)), rng.standard_normal((3, 8))
    y_ref, pool_ref, g_ref = torch_run(model, ids, mask, types_, dy, dpool)
    jparams = {k: jnp.asarray(v) for k, v in params.items()}

    def loss(p):
        y = jbert.forward(p, ids, mask, types_, config=TINY)
        return (y * dy).sum() + (jbert.pooler(p, y) * dpool).sum(), y

    grads, y = jax.jit(jax.grad(loss, has_aux=True))(jparams)
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-9)
    for k in g_ref:
        np.testing.assert_allclose(grads[k], g_ref[k], rtol=0, atol=1e-9, err_msg=k)


# ---- the real all-MiniLM-L6-v2 ----


@pytest.fixture(scope="module")
def minilm():
    from sentence_transformers import SentenceTransformer

    folder = minilm_dir()
    reference = SentenceTransformer(str(folder), device="cpu")
    tokenizer = transformers.BertTokenizerFast.from_pretrained(str(folder))
    texts = sentiment().texts
    sample = [texts[i] for i in np.random.default_rng(0).choice(len(texts), 64 if FAST else 256)]
    return folder, reference, tokenizer, sample


def test_minilm_config_and_params():
    folder = minilm_dir()
    config = bert.load_config(folder)
    assert config == BertConfig()  # the defaults are MiniLM's: 6 layers, D 384, 12 heads, ...
    params = bert.load_params(folder)
    shapes = expected_shapes(config) | {
        "pooler.dense.weight": (384, 384),
        "pooler.dense.bias": (384,),
    }
    assert {k: v.shape for k, v in params.items()} == shapes
    assert all(v.dtype == np.float32 for v in params.values())
    assert len(params) == 5 + 6 * 16 + 2


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_minilm_embeddings_equal_sentence_transformers(minilm, backend):
    folder, reference, tokenizer, sample = minilm
    expected = reference.encode(sample, batch_size=32)
    enc = tokenizer(sample, padding=True, return_tensors="np")
    ours = minienc.embed_ids(enc["input_ids"], enc["attention_mask"], backend, batch_size=32)
    assert ours.shape == expected.shape == (len(sample), 384)
    assert np.abs(ours - expected).max() <= 1e-5
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_minilm_hidden_states_equal_bert_model(minilm, backend):
    folder, reference, tokenizer, sample = minilm
    enc = tokenizer(sample[:8], padding=True, return_tensors="np")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert (mask == 0).any()  # padding present
    with torch.no_grad():
        out = reference[0].auto_model(
            input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
        )
    if backend == "numpy":
        params = bert.load_params(folder)
        y, _ = bert.forward(params, ids, mask, config=bert.load_config(folder))
        pool, _ = bert.pooler(params, y)
    else:
        import jax

        from minienc.jax import bert as jbert

        config = jbert.load_config(folder)

        @jax.jit
        def run(p):
            y = jbert.forward(p, ids, mask, config=config)
            return y, jbert.pooler(p, y)

        y, pool = run(jbert.load_params(folder))
    real = mask == 1
    y_ref = out.last_hidden_state.numpy()
    assert np.abs(np.asarray(y)[real] - y_ref[real]).max() <= 1e-5 * np.abs(y_ref).max()
    np.testing.assert_allclose(pool, out.pooler_output.numpy(), atol=1e-5)


def test_embed_tokenizes_with_wordpiece(minilm):
    """embed(sentences) with minienc's own WordPiece equals sentence-transformers end to end."""
    folder, reference, tokenizer, sample = minilm
    texts = sample[:3] + ["word " * 400]  # 402 tokens: truncated to 256, as sentence-transformers
    ours = minienc.embed(texts, batch_size=1)  # one text per batch: only the long one is long
    assert np.abs(ours - reference.encode(texts, batch_size=1)).max() <= 1e-5


def test_embed_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        minienc.embed([])
    with pytest.raises(TypeError, match=r"sentences\[1\]"):
        minienc.embed(["fine", 3])
    with pytest.raises(TypeError, match="list of strings"):
        minienc.embed("one string")
    with pytest.raises(ValueError, match="backend"):
        minienc.embed_ids(np.ones((1, 3), int), np.ones((1, 3), int), backend="torch")
    with pytest.raises(ValueError, match="empty"):
        minienc.embed_ids(np.ones((0, 3), int), np.ones((0, 3), int))


def test_bad_inputs_and_params(tiny):
    _, params = tiny
    ids, mask, types_ = tiny_inputs()
    long_ids = np.ones((1, TINY.max_position_embeddings + 1), dtype=np.int64)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        bert.forward(params, long_ids, np.ones_like(long_ids), config=TINY)
    with pytest.raises(ValueError, match="token_type_ids"):
        bert.forward(params, ids, mask, types_[:, :3], config=TINY)
    with pytest.raises(TypeError, match="input_ids"):
        bert.forward(params, ids.astype(float), mask, config=TINY)
    missing = {k: v for k, v in params.items() if k != "encoder.layer.1.output.dense.bias"}
    with pytest.raises(KeyError, match="encoder.layer.1.output.dense.bias"):
        bert.forward(missing, ids, mask, config=TINY)
    no_pooler = {k: v for k, v in params.items() if not k.startswith("pooler.")}
    with pytest.raises(KeyError, match="pooler"):
        bert.pooler(no_pooler, np.zeros((1, 2, 8)))
    wide = BertConfig(**{**TINY.__dict__, "intermediate_size": 16})
    with pytest.raises(ValueError, match="encoder.layer.0.intermediate.dense.weight"):
        bert.forward(params, ids, mask, config=wide)


def test_load_params_strips_the_bert_prefix_and_checks_the_config(tiny, tmp_path):
    _, params = tiny
    tensors = {f"bert.{k}": np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()}
    tensors["cls.predictions.bias"] = np.zeros(TINY.vocab_size, np.float32)  # a head: left out
    save_file(tensors, str(tmp_path / "model.safetensors"))
    config = TINY.__dict__ | {"model_type": "bert"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = bert.load_params(tmp_path)
    assert sorted(loaded) == sorted(params)
    assert bert.load_config(tmp_path) == TINY
    (tmp_path / "config.json").write_text(json.dumps(config | {"hidden_size": 6}))
    with pytest.raises(ValueError, match="embeddings.word_embeddings.weight"):
        bert.load_params(tmp_path)
    del tensors["bert.embeddings.LayerNorm.bias"]
    save_file(tensors, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(KeyError, match="embeddings.LayerNorm.bias"):
        bert.load_params(tmp_path)
