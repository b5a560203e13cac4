"""Exact parameter keys, as torch's `load_state_dict(strict=True)`, in both backends.

Every forward accepts exactly the keys of one torch configuration (biases kept or dropped as torch
keeps or drops them) and names a missing, unexpected or misshapen key with its full prefix inside
a model ("encoder.layers.1.linear1.bias"). The optional-bias configurations still equal torch.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import minienc.jax as mj
import minienc.numpy as mn
from minienc._params import sub_params
from minienc.jax import classifier as jax_classifier
from minienc.numpy import classifier as np_classifier
from minienc.train import ClassifierConfig, init_classifier
from minienc.train.init import classifier_shapes

pytestmark = pytest.mark.usefixtures("jax_x64")

BACKENDS = ("numpy", "jax")
RNG = np.random.default_rng(0)


def run(backend, module, *args, **kwargs):
    """Call `module.forward` of the backend; the NumPy result without its cache."""
    if backend == "numpy":
        out, _ = getattr(mn, module).forward(*args, **kwargs)
        return out
    return getattr(mj, module).forward(*args, **kwargs)


def state(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def drop(params, key):
    return {k: v for k, v in params.items() if k != key}


torch.manual_seed(0)
MHA = torch.nn.MultiheadAttention(6, 2, batch_first=True).double()
LAYER = torch.nn.TransformerEncoderLayer(6, 2, 10, dropout=0.0, batch_first=True).double()
LSTM = torch.nn.LSTM(3, 4, batch_first=True).double()
X = RNG.standard_normal((2, 5, 6))


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_attention_bias_alone_is_a_missing_key(backend):
    params = drop(state(MHA), "in_proj_bias")  # out_proj.bias alone: no torch configuration
    with pytest.raises(KeyError, match=r"multi-head attention is missing \['in_proj_bias'\]"):
        run(backend, "mha", params, X, X, X, 2)
    params = drop(state(MHA), "out_proj.bias")
    with pytest.raises(KeyError, match=r"is missing \['out_proj.bias'\]"):
        run(backend, "mha", params, X, X, X, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bias_free_configurations_equal_torch(backend):
    torch.manual_seed(1)
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    mha = torch.nn.MultiheadAttention(6, 2, bias=False, batch_first=True).double()
    assert sorted(state(mha)) == ["in_proj_weight", "out_proj.weight"]
    want = mha(x, x, x, need_weights=False)[0].detach().numpy()
    got = run(backend, "mha", state(mha), x.numpy(), x.numpy(), x.numpy(), 2)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-12)

    lin = torch.nn.Linear(6, 3, bias=False).double()
    got = run(backend, "linear", state(lin), x.numpy())
    np.testing.assert_allclose(np.asarray(got), lin(x).detach().numpy(), atol=1e-12)

    lstm = torch.nn.LSTM(6, 4, num_layers=2, bias=False, batch_first=True).double()
    out, _ = run(backend, "lstm", state(lstm), x.numpy())
    np.testing.assert_allclose(np.asarray(out), lstm(x)[0].detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_lstm_with_some_biases_names_the_missing_ones(backend):
    params = drop(state(LSTM), "bias_hh_l0")
    with pytest.raises(KeyError, match=r"is missing \['bias_hh_l0'\]"):
        run(backend, "lstm", params, RNG.standard_normal((2, 5, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_recurrent_weight_is_the_one_named(backend):
    x = RNG.standard_normal((2, 5, 3))
    for bad in ((16, 5), (17, 4)):
        params = state(LSTM) | {"weight_hh_l0": np.zeros(bad)}
        with pytest.raises(ValueError, match=r"params\['weight_hh_l0'\] of lstm must have shape"):
            run(backend, "lstm", params, x)
    params = state(LSTM) | {"weight_ih_l0": np.zeros((15, 3))}
    with pytest.raises(ValueError, match=r"params\['weight_ih_l0'\] of lstm must have shape"):
        run(backend, "lstm", params, x)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("key", sorted(state(LAYER)))
def test_an_encoder_layer_needs_every_key(backend, key):
    with pytest.raises(KeyError, match=rf"encoder layer is missing \['{key}'\]"):
        run(backend, "encoder_layer", drop(state(LAYER), key), X, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_errors_inside_a_stack_name_the_full_key(backend):
    layer = state(LAYER)
    stack = {f"layers.{i}.{k}": v for i in range(2) for k, v in layer.items()}
    with pytest.raises(KeyError, match=r"missing \['layers.1.linear1.bias'\]"):
        run(backend, "encoder", drop(stack, "layers.1.linear1.bias"), X, 2)
    bad = stack | {"layers.1.linear1.weight": np.zeros((10, 5))}
    with pytest.raises(ValueError, match=r"params\['layers.1.linear1.weight'\]"):
        run(backend, "encoder", bad, X, 2)
    with pytest.raises(KeyError, match=r"encoder is missing \['norm.bias'\]"):
        run(backend, "encoder", stack | {"norm.weight": np.ones(6)}, X, 2)
    with pytest.raises(KeyError, match=r"unexpected keys \['layers.1.linear3.bias'\]"):
        run(backend, "encoder", stack | {"layers.1.linear3.bias": np.ones(6)}, X, 2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("module", "params", "args", "match"),
    [
        ("linear", {"weight": np.ones((2, 6)), "b": np.ones(2)}, (X,), r"unexpected keys \['b'\]"),
        ("layernorm", {"weight": np.ones(6)}, (X,), r"missing \['bias'\]"),
        ("embedding", {"weight": np.ones((4, 6)), "bias": np.ones(6)}, (np.zeros(3, int),), "bias"),
    ],
)
def test_small_layers_take_exact_keys(backend, module, params, args, match):
    with pytest.raises(KeyError, match=match):
        run(backend, module, params, *args)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weighted_mean_pooling_takes_exactly_its_weight(backend):
    mask = np.zeros((2, 5), bool)
    params = {"weight": np.ones((1, 6)), "bias": np.ones(1)}
    forward = (mn if backend == "numpy" else mj).pooling.forward
    with pytest.raises(KeyError, match=r"weighted_mean pooling has unexpected keys \['bias'\]"):
        forward(X, mask, "weighted_mean", params)


CONFIGS = [
    ClassifierConfig("transformer", 11, embed_dim=6, num_heads=2, num_layers=2, pool="cls"),
    ClassifierConfig("transformer", 11, embed_dim=6, num_heads=2, norm_first=True),
    ClassifierConfig("lstm", 11, embed_dim=5, hidden_size=3, num_layers=2, pool="weighted_mean"),
    ClassifierConfig("lstm", 11, embed_dim=5, hidden_size=3, bidirectional=False),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.encoder}-{c.pool}")
def test_classifier_shapes_are_those_init_makes(config):
    params = init_classifier(config)
    assert {k: v.shape for k, v in params.items()} == classifier_shapes(config)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.encoder}-{c.pool}")
def test_classifiers_take_exactly_the_keys_of_their_config(backend, config):
    module = np_classifier if backend == "numpy" else jax_classifier
    params = module.init(config)
    ids, lengths = np.array([[3, 4, 5], [6, 7, 0]]), np.array([3, 2])
    name = sorted(params)[len(params) // 2]
    with pytest.raises(KeyError, match=rf"missing \['{name}'\]"):
        module.predict(drop(params, name), ids, lengths, config)
    for extra in ("head.weight2", "encoder.norm.scale", "lstm.weight_hr_l0"):
        with pytest.raises(KeyError, match=rf"unexpected keys \['{extra}'\]"):
            module.predict(params | {extra: params["head.bias"]}, ids, lengths, config)
    with pytest.raises(ValueError, match=r"params\['head.weight'\] of the .* classifier"):
        module.predict(params | {"head.weight": params["head.weight"][:1]}, ids, lengths, config)


def test_a_missing_key_deep_in_a_classifier_is_named_in_full():
    config = CONFIGS[0]
    params = np_classifier.init(config)
    ids, lengths = np.array([[3, 4, 5]]), np.array([3])
    for module in (np_classifier, jax_classifier):
        p = drop(params, "encoder.layers.1.linear1.bias")
        with pytest.raises(KeyError, match=r"missing \['encoder.layers.1.linear1.bias'\]"):
            module.predict(p, ids, lengths, config)


def test_sub_params_passes_through_jit_and_keeps_its_prefix():
    layer = {f"layers.0.{k}": jnp.asarray(v) for k, v in state(LAYER).items()}
    p = sub_params(layer, "layers.0.")
    y = jax.jit(mj.encoder_layer.forward, static_argnums=2)(p, jnp.asarray(X), 2)
    assert y.shape == X.shape
    leaves, tree = jax.tree.flatten(p)
    assert jax.tree.unflatten(tree, leaves).prefix == "layers.0."
