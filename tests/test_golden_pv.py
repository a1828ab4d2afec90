"""prob x V: exact accumulation width, saturation, output rounding."""

import numpy as np
import pytest

from golden.formats import OUT_FRAC, PROB
from golden.pv import out_format, pv, pv_acc, pv_acc_bits, pv_float, pv_output

SEED = 11


def test_acc_bits_holds_worst_case():
    assert pv_acc_bits(1024, 12) == 28
    n = 1024
    p = np.full((1, n), (1 << 15) // n + 1)       # sum of probabilities slightly above 1
    v = np.full((n, 4), 2047)
    acc = pv_acc(p, v, 12)
    assert acc.max() < 1 << (pv_acc_bits(n, 12) - 1)


def test_output_against_float():
    rng = np.random.default_rng(SEED)
    print("seed", SEED)
    logits = rng.normal(size=(20, 100)) * 3
    pf = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    p = np.floor(pf * 2**15 + 0.5).astype(np.int64)
    v = rng.integers(-2047, 2048, (100, 64))
    out = pv(p, v, 12)
    ref = pv_float(p / 2**15, v)
    assert np.abs(out / 2**OUT_FRAC - ref).max() <= 2.0**-(OUT_FRAC + 1)
    assert out_format(12).bits == 16


def test_output_saturates_and_rounds():
    p = np.array([[1 << 15, 1 << 15]])            # sum 2.0 (beyond any softmax row)
    v = np.array([[2047], [2047]])
    assert pv(p, v, 12)[0, 0] == out_format(12).max_int
    assert pv_output(np.array([1 << (PROB.frac - OUT_FRAC - 1)]), 12)[0] == 1    # half up
    assert pv_output(np.array([-(1 << (PROB.frac - OUT_FRAC - 1))]), 12)[0] == 0


def test_narrow_accumulator_saturates():
    p = np.array([[1 << 15, 1 << 15, 1 << 15]])
    v = np.array([[100], [100], [-100]])
    # exact: 100 * 2^15 = 3276800; 22-bit max 2097151 saturates at each step
    acc = pv_acc(p, v, 12, acc_bits=22)
    assert acc[0, 0] == 2097151 - 100 * 2**15
    assert pv_acc(p, v, 12)[0, 0] == 100 * 2**15


def test_pv_wrong():
    with pytest.raises(ValueError, match="prob and v must have shapes"):
        pv(np.zeros((2, 3), int), np.zeros((4, 2), int), 12)
    with pytest.raises(ValueError, match="v must fit value_bits=8"):
        pv(np.zeros((2, 3), int), np.full((3, 2), 300), 8)
    with pytest.raises(ValueError, match="prob must be codes in 0..32768"):
        pv(np.full((1, 1), 40000), np.zeros((1, 1), int), 12)
    with pytest.raises(TypeError, match="prob must be integer codes"):
        pv(np.zeros((1, 1)), np.zeros((1, 1), int), 12)
    with pytest.raises(ValueError, match="n_max must be >= 1"):
        pv_acc_bits(0, 12)
