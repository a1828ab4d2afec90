"""Fixed-point softmax: error bound, never above 1, monotone, hls4ml's traps."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.formats import PROB, SCORE, to_fixed, to_float
from golden.softmax import (
    SOFTMAX,
    SoftmaxFormat,
    exp_fx,
    exp_slope_table,
    exp_table,
    log2e_code,
    normalize,
    reciprocal,
    softmax_float,
    softmax_fx,
    softmax_widths,
)

SEED = 17
BOUND = 2.5e-4
ONE = 1 << PROB.frac


def _err(s, mask=None, fmt=SOFTMAX):
    p = softmax_fx(s, mask, fmt) / ONE
    return np.abs(p - softmax_float(to_float(s, SCORE), mask)).max()


@pytest.mark.parametrize("spread", [0.3, 2.0, 8.0, 40.0])
@pytest.mark.parametrize("n", [1, 7, 64, 1024])
def test_error_random_rows(spread, n):
    rng = np.random.default_rng(SEED + n)
    print("seed", SEED + n)
    s = to_fixed(rng.normal(0, spread, (40, n)), SCORE)
    assert _err(s) <= BOUND
    p = softmax_fx(s)
    assert p.max() <= ONE
    assert np.all(np.abs(p.sum(-1) / ONE - 1) <= n * 2.0**-16 + BOUND)


def test_error_adversarial_same_rounding():
    # 1023 keys at one level: all exp values round the same way, errors add up in the sum.
    worst = 0.0
    for level in np.arange(-16, -9, 1 / 16):
        s = np.full((1, 1024), int(level * 256))
        s[0, 0] = 0
        worst = max(worst, _err(s))
    assert worst <= BOUND
    print("adversarial worst", worst)


def test_one_dominant_is_exactly_one_and_never_above():
    s = np.array([[0, -SCORE.max_int, -SCORE.max_int], [5000, 5000 - 4096 - 8, -40000]])
    p = softmax_fx(s)
    assert p[0].tolist() == [ONE, 0, 0]
    assert p[1].tolist() == [ONE, 0, 0]               # 16 below the max: beyond the clamp
    assert softmax_fx(np.array([[123]]))[0, 0] == ONE


def test_uniform_rows():
    for n in (1, 3, 10, 1000):
        p = softmax_fx(np.full((1, n), -777))
        assert np.all(p == p[0, 0])
        assert abs(p[0, 0] / ONE - 1 / n) <= 2.0**-16 + 1e-9


def test_mask_excludes_keys():
    rng = np.random.default_rng(SEED)
    s = to_fixed(rng.normal(0, 3, (5, 30)), SCORE)
    mask = rng.random((5, 30)) < 0.5
    mask[0] = False
    p = softmax_fx(s, mask)
    assert np.all(p[~mask] == 0) and np.all(p[0] == 0)
    for i in range(1, 5):
        assert np.array_equal(p[i, mask[i]], softmax_fx(s[i, mask[i]]))


def test_table_too_small_trap():
    # hls4ml: a normalisation table that cannot represent 1/sum gives p > 1. Here the
    # reciprocal is exact to 2^-17 for any sum, so single-key and near-single-key rows
    # give exactly 1.0 and never more, for every sum from 1.0 to 1024.
    for n in (1, 2, 100, 1024):
        s = np.full((1, n), -SCORE.max_int)
        s[0, n // 2] = SCORE.max_int
        assert softmax_fx(s).max() == ONE
    rng = np.random.default_rng(SEED)
    s = to_fixed(rng.normal(0, 0.2, (200, 1024)), SCORE)
    s[:, 0] = SCORE.max_int // 2
    assert softmax_fx(s).max() <= ONE


def test_sign_bit_indexing_trap():
    # The table index comes from the non-negative magnitude: sweeping d over one
    # octave of the exponent must visit every table entry.
    d = -np.arange(0, 4 * 256)          # d in [-4, 0) in score LSBs
    u = -d
    t = (u * log2e_code() + (1 << (8 + 16 - 14 - 1))) >> (8 + 16 - 14)
    j = (t & ((1 << 14) - 1)) >> (14 - SOFTMAX.index_bits)
    assert set(j.tolist()) == set(range(1 << SOFTMAX.index_bits))
    e = exp_fx(d)
    assert np.all(np.diff(e) <= 0) and e[0] == 1 << SOFTMAX.exp_frac


def test_argmax_near_ties():
    rng = np.random.default_rng(SEED)
    base = to_fixed(rng.normal(0, 0.05, (300, 64)), SCORE)
    winner = rng.integers(0, 64, 300)
    base[np.arange(300), winner] = base.max(axis=1) + 1      # one LSB above the rest
    p = softmax_fx(base)
    assert np.all(p[np.arange(300), winner] == p.max(axis=1))
    pf = softmax_float(to_float(base, SCORE))
    assert np.all(np.argmax(pf, axis=1) == winner)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.lists(st.integers(-SCORE.max_int, SCORE.max_int), min_size=1, max_size=40),
       st.integers(0, 39), st.integers(1, 3000))
def test_property_monotone_bounded(scores, idx, bump):
    s = np.array([scores])
    idx %= s.shape[1]
    p = softmax_fx(s)
    assert p.max() <= ONE and p.min() >= 0
    assert p[0, np.argmax(s[0])] == p.max()             # argmax kept (ties only among equals)
    assert abs(p.sum() / ONE - 1) <= s.shape[1] * 2.0**-16 + BOUND
    order = np.argsort(s[0], kind="stable")
    assert np.all(np.diff(p[0, order]) >= 0)            # monotone in the score
    s2 = s.copy()
    s2[0, idx] = min(SCORE.max_int, s2[0, idx] + bump)
    assert softmax_fx(s2)[0, idx] >= p[0, idx]          # raising a score never lowers its p


def test_table_choices_error_ranking():
    rng = np.random.default_rng(SEED)
    s = to_fixed(rng.normal(0, 3, (200, 128)), SCORE)
    errs = {(b, i): _err(s, fmt=SoftmaxFormat(index_bits=b, interpolate=i))
            for b, i in ((4, False), (8, False), (4, True), (6, True))}
    print(errs)
    assert errs[(6, True)] < errs[(4, True)] < errs[(8, False)] < errs[(4, False)]
    assert errs[(8, False)] > BOUND / 2       # no interpolation needs a far larger table


def test_tables():
    t = exp_table()
    assert t.dtype == np.int64 and len(t) == 65
    assert t[0] == 1 << 17 and t[-1] == 1 << 16 and np.all(np.diff(t) < 0)
    assert np.array_equal(exp_slope_table(), t[:-1] - t[1:])
    w = softmax_widths(1024)
    assert w["sum_bits"] == 33 and w["u_bits"] == 13 and w["prob_bits"] == 16
    assert log2e_code() == 94548


def test_reciprocal_and_normalize():
    one = 1 << SOFTMAX.exp_frac
    total = np.array([one, one + 1, 3 * one, 1024 * one - 1])
    r, z = reciprocal(total)
    assert z.tolist() == [22, 22, 23, 31]
    assert np.all((r >= 1 << 16) & (r <= 1 << 17)) and r[0] == 1 << 17
    exact = 2.0 ** (17 + z) / total
    assert np.all(np.abs(r - exact) <= 0.5)
    assert normalize(np.array([one]), r[:1], z[:1])[0] == ONE
    assert normalize(np.array([one]), r[2:3], z[2:3])[0] == round(ONE / 3)
    with pytest.raises(ValueError, match="total must be >= 2\\*\\*exp_frac"):
        reciprocal(np.array([5]))


def test_softmax_wrong():
    with pytest.raises(ValueError, match="scores must fit S10.8"):
        softmax_fx(np.array([[1 << 18]]))
    with pytest.raises(TypeError, match="scores must be integer codes"):
        softmax_fx(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="mask must have the shape of scores"):
        softmax_fx(np.zeros((1, 2), int), np.ones((1, 3), bool))
    with pytest.raises(ValueError, match="index_bits must be in 1..t_frac"):
        SoftmaxFormat(index_bits=20)
    with pytest.raises(ValueError, match="d must be <= 0"):
        exp_fx(np.array([1]))
