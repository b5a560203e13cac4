"""NumPy RNN (tanh and relu) equals torch's nn.RNN, forward and backward through time.

Every case: random inputs, random h0, random upstream dout and dh_n, torch's (non-zero) init;
ragged cases go through pack_padded_sequence on the torch side. The checks live in
`_recurrent_cases`, shared with the LSTM tests.
"""

import numpy as np
import pytest
from _recurrent_cases import (
    CASES,
    GRADCHECK_CASES,
    Case,
    bad_input_cases,
    check_backward_twice,
    check_bad_backward_input,
    check_bad_input,
    check_full_lengths_equal_none,
    check_gradients,
    check_large_inputs_finite,
    check_matches_torch_float32,
    check_matches_torch_float64,
    check_padding_ignored,
)

from minienc.numpy import rnn

KINDS = ("tanh", "relu")


def ids(case: Case) -> str:
    return case.id


@pytest.mark.parametrize("case", CASES, ids=ids)
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch_float64(kind, case):
    check_matches_torch_float64(kind, case)


@pytest.mark.parametrize("case", [Case(2, True, 17, True)], ids=ids)
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torch_float32(kind, case):
    check_matches_torch_float32(kind, case)


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=ids)
@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck(kind, case):
    check_gradients(kind, case, with_initial=case.ragged)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_changes_nothing(kind):
    check_padding_ignored(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_full_lengths_and_default_h0(kind):
    check_full_lengths_equal_none(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_backward_twice_same(kind):
    check_backward_twice(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_large_inputs_stay_finite(kind):
    check_large_inputs_finite(kind)


BAD = bad_input_cases("tanh")


@pytest.mark.parametrize("edit, exc, match", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input(edit, exc, match):
    check_bad_input("tanh", edit, exc, match)


def test_bad_backward_input():
    check_bad_backward_input("tanh")


def test_bad_nonlinearity():
    with pytest.raises(ValueError, match=r"nonlinearity must be one of \('tanh', 'relu'\)"):
        rnn.forward({}, np.zeros((1, 2, 3)), nonlinearity="sigmoid")
