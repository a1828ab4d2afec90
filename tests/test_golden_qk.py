"""Q x K: exact integer dot products and the folded score scale."""

import math

import numpy as np
import pytest

from golden.formats import SCORE, to_float
from golden.qk import qk_acc_bits, qk_dot, qk_float, qk_scores, score_multiplier
from golden.quant import dequantize, quant_scale, quantize

SEED = 5


def test_acc_bits():
    assert qk_acc_bits(64, 12) == 29
    worst = np.full((1, 64), 2047)
    assert qk_dot(worst, -worst, 12)[0, 0] == -64 * 2047**2
    assert (64 * 2047**2).bit_length() + 1 == qk_acc_bits(64, 12)


def test_score_multiplier_precision():
    for sq, sk in ((1e-3, 2e-3), (0.01, 0.05), (0.3, 0.2)):
        m, sh = score_multiplier(sq, sk, 64)
        assert 1 << 15 <= m < 1 << 16
        exact = sq * sk * 256 / 8
        assert abs(m / 2**sh - exact) <= exact * 2**-16


def test_scores_against_float():
    rng = np.random.default_rng(SEED)
    print("seed", SEED)
    q = rng.normal(size=(33, 64)) * 1.5
    k = rng.normal(size=(40, 64)) * 1.5
    sq, sk = quant_scale(q, 12), quant_scale(k, 12)
    qi, ki = quantize(q, sq, 12), quantize(k, sk, 12)
    m, sh = score_multiplier(sq, sk, 64)
    s = qk_scores(qk_dot(qi, ki, 12), m, sh)
    exact_q = qk_float(dequantize(qi, sq), dequantize(ki, sk))
    # score rounding (1/2 LSB) plus mantissa error (2^-16 relative)
    assert np.abs(to_float(s, SCORE) - exact_q).max() <= SCORE.lsb / 2 + np.abs(exact_q).max() * 2**-15
    # against unquantized float: 12-bit quantization error dominates, still small
    assert np.abs(to_float(s, SCORE) - qk_float(q, k)).max() < 0.05


def test_scores_saturate():
    big = np.full((1, 64), 2047)
    m, sh = score_multiplier(0.05, 0.05, 64)
    s = qk_scores(qk_dot(big, big, 12), m, sh)
    assert s[0, 0] == SCORE.max_int
    assert qk_scores(qk_dot(big, -big, 12), m, sh)[0, 0] == -SCORE.max_int


def test_batched_heads():
    rng = np.random.default_rng(SEED)
    q = rng.integers(-2047, 2048, (3, 4, 8))
    k = rng.integers(-2047, 2048, (3, 5, 8))
    d = qk_dot(q, k, 12)
    assert d.shape == (3, 4, 5)
    assert d[2, 3, 4] == int(np.dot(q[2, 3], k[2, 4]))
    assert math.isclose(qk_float(q, k)[1, 1, 1], np.dot(q[1, 1], k[1, 1]) / math.sqrt(8))


def test_qk_wrong():
    with pytest.raises(ValueError, match="q must fit value_bits=8"):
        qk_dot(np.array([[200]]), np.array([[1]]), 8)
    with pytest.raises(TypeError, match="k must be integer codes"):
        qk_dot(np.array([[1]]), np.array([[1.0]]), 8)
    with pytest.raises(ValueError, match="q and k must have matching shapes"):
        qk_dot(np.zeros((2, 4), int), np.zeros((2, 5), int), 8)
    with pytest.raises(ValueError, match="scale_q must be positive"):
        score_multiplier(0.0, 1.0, 64)
    with pytest.raises(ValueError, match="scale_q \\* scale_k must be below"):
        score_multiplier(100.0, 100.0, 64)
    with pytest.raises(ValueError, match="sh must be in 0..62"):
        qk_scores(np.zeros((1, 1), int), 3, 70)
    with pytest.raises(ValueError, match="head_dim must be >= 1"):
        qk_acc_bits(0, 12)
