"""NumPy LSTM equals torch's nn.LSTM, forward and backward through time.

Every case: random inputs, random h0 and c0, random upstream dout, dh_n and dc_n, torch's (non-zero)
init with its two biases; ragged cases go through pack_padded_sequence on the torch side. The checks
live in `_recurrent_cases`, shared with the RNN tests.
"""

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

KIND = "lstm"


def ids(case: Case) -> str:
    return case.id


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_matches_torch_float64(case):
    check_matches_torch_float64(KIND, case)


@pytest.mark.parametrize("case", [Case(2, True, 17, True)], ids=ids)
def test_matches_torch_float32(case):
    check_matches_torch_float32(KIND, case)


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=ids)
def test_gradcheck(case):
    check_gradients(KIND, case, with_initial=case.ragged)


def test_padding_changes_nothing():
    check_padding_ignored(KIND)


def test_full_lengths_and_default_states():
    check_full_lengths_equal_none(KIND)


def test_backward_twice_same():
    check_backward_twice(KIND)


def test_large_inputs_stay_finite():
    check_large_inputs_finite(KIND)


BAD = bad_input_cases(KIND)


@pytest.mark.parametrize("edit, exc, match", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input(edit, exc, match):
    check_bad_input(KIND, edit, exc, match)


def test_bad_backward_input():
    check_bad_backward_input(KIND)
