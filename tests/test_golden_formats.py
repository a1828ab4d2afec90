"""Fixed-point helpers: rounding rule, saturation, format checks."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.formats import (
    PROB,
    SCORE,
    Fmt,
    check_fits,
    round_div,
    round_shift,
    saturate,
    signed_bits_for,
    to_fixed,
    to_float,
    unsigned_bits_for,
)


def test_round_shift_half_up():
    x = np.array([-3, -2, -1, 0, 1, 2, 3, 5, 6, 7])
    # x / 4 rounded half up: ties (-2/4, 2/4, 6/4) go towards +inf
    assert round_shift(x, 2).tolist() == [-1, 0, 0, 0, 0, 1, 1, 1, 2, 2]
    assert round_shift(x, 0).tolist() == x.tolist()
    assert round_shift(x, -2).tolist() == (x * 4).tolist()


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.integers(-2**40, 2**40), st.integers(1, 20))
def test_round_shift_matches_floor_half(x, sh):
    assert int(round_shift(x, sh)) == (2 * x + (1 << sh)) // (2 << sh)
    assert abs(int(round_shift(x, sh)) * 2**sh - x) <= 2**(sh - 1)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.integers(-2**40, 2**40), st.integers(1, 2**20))
def test_round_div_exact(num, den):
    q = int(round_div(num, den))
    assert abs(2 * (q * den - num)) <= den
    assert 2 * (q * den - num) != -den     # a tie rounds up, never down
    assert q == math.floor(Fraction(num, den) + Fraction(1, 2))


def test_saturate_symmetric():
    f = Fmt(signed=True, bits=8, frac=0)
    assert (f.min_int, f.max_int) == (-127, 127)
    assert saturate([-1000, -128, 5, 1000], f).tolist() == [-127, -127, 5, 127]
    u = Fmt(signed=False, bits=4, frac=2)
    assert saturate([-3, 16, 15], u).tolist() == [0, 15, 15]
    assert str(SCORE) == "S10.8" and str(PROB) == "U1.15"


def test_to_fixed_roundtrip():
    x = np.array([0.5, -0.5, 1 / 512, -1 / 512, 3.14159, 600.0, -600.0])
    codes = to_fixed(x, SCORE)
    assert codes.tolist()[:4] == [128, -128, 1, 0]     # half up: +-0.5 LSB -> +1, 0
    assert codes[-2] == SCORE.max_int and codes[-1] == -SCORE.max_int
    assert abs(to_float(codes[4], SCORE) - 3.14159) <= SCORE.lsb / 2


def test_bits_helpers():
    assert signed_bits_for(127) == 8 and signed_bits_for(128) == 9
    assert unsigned_bits_for(0) == 1 and unsigned_bits_for(255) == 8


def test_check_fits_wrong():
    with pytest.raises(ValueError, match="scores must fit S10.8"):
        check_fits("scores", [1 << 20], SCORE)


def test_fmt_wrong():
    with pytest.raises(ValueError, match="bits must be in 2..62, not 1"):
        Fmt(signed=True, bits=1, frac=0)
    with pytest.raises(TypeError, match="bits must be an integer"):
        Fmt(signed=True, bits=3.5, frac=0)
    with pytest.raises(ValueError, match="value must be finite"):
        to_fixed([np.nan], SCORE)
    with pytest.raises(ValueError, match="den must be positive"):
        round_div(1, 0)
