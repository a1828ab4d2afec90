"""Q x K: integer dot products and the fixed-point score.

``dot[i, j] = sum_d q[i, d] * k[j, d]`` is exact on ``B``-bit symmetric codes in
an accumulator of :func:`qk_acc_bits` bits (it cannot overflow). The real score
is ``dot * s_q * s_k / sqrt(D)``; in score units (``SCORE.frac`` fraction bits)
that is ``dot * M`` with ``M = s_q s_k 2**frac / sqrt(D)``. The host folds ``M``
into a ``SCALE_MANT_BITS``-bit mantissa ``m`` and a right shift ``sh``
(:func:`score_multiplier`), so the hardware does one multiply and one rounding
shift per score: ``score = sat(round_half_up(dot * m / 2**sh))``.
"""

from __future__ import annotations

import math

import numpy as np

from .formats import SCALE_MANT_BITS, SCORE, as_int, round_shift, saturate, signed_bits_for
from .quant import max_code

__all__ = ["qk_acc_bits", "score_multiplier", "qk_dot", "qk_scores", "qk_float"]


def qk_acc_bits(head_dim, value_bits):
    """Width of the exact Q.K accumulator for ``B = value_bits`` codes."""
    head_dim = as_int("head_dim", head_dim)
    if head_dim < 1:
        raise ValueError(f"head_dim must be >= 1, not {head_dim}")
    return signed_bits_for(head_dim * max_code(value_bits) ** 2)


def score_multiplier(scale_q, scale_k, head_dim, fmt=SCORE, mant_bits=SCALE_MANT_BITS):
    """``(m, sh)`` with ``m / 2**sh ~= s_q s_k 2**fmt.frac / sqrt(head_dim)``, ``m`` of ``mant_bits`` bits."""
    head_dim = as_int("head_dim", head_dim)
    for name, s in (("scale_q", scale_q), ("scale_k", scale_k)):
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"{name} must be positive and finite, not {s!r}")
    if head_dim < 1:
        raise ValueError(f"head_dim must be >= 1, not {head_dim}")
    big_m = float(scale_q) * float(scale_k) * 2.0 ** fmt.frac / math.sqrt(head_dim)
    sh = mant_bits - 1 - math.floor(math.log2(big_m))
    m = math.floor(big_m * 2.0 ** sh + 0.5)
    if m >= 1 << mant_bits:       # rounding carried into a new bit
        m, sh = (m + 1) >> 1, sh - 1
    if sh < 0:
        raise ValueError(f"scale_q * scale_k must be below {2.0 ** (mant_bits - fmt.frac):g} "
                         f"(one dot LSB > {2 ** mant_bits} score LSBs), not {big_m / 2 ** fmt.frac:g}")
    if sh > 62:
        raise ValueError(f"scale_q * scale_k too small: score shift {sh} exceeds 62")
    return m, sh


def _codes(name, x, bits):
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} must be integer codes, not {x.dtype}")
    lim = max_code(bits)
    if x.size and np.abs(x).max() > lim:
        raise ValueError(f"{name} must fit value_bits={bits} (|code| <= {lim}), "
                         f"found {int(np.abs(x).max())}")
    return x.astype(np.int64)


def qk_dot(q, k, value_bits):
    """Exact ``q @ k.T`` for codes ``q (rows, D)``, ``k (n, D)`` (or batched ``(H, ., D)``)."""
    q = _codes("q", q, value_bits)
    k = _codes("k", k, value_bits)
    if q.shape[-1] != k.shape[-1] or q.ndim != k.ndim or q.shape[:-2] != k.shape[:-2]:
        raise ValueError(f"q and k must have matching shapes (..., rows, D), (..., n, D), "
                         f"not {q.shape} and {k.shape}")
    # float64 matmul is exact here: |dot| < 2**53 (checked), and BLAS makes it fast.
    if qk_acc_bits(q.shape[-1], value_bits) > 53:
        raise ValueError(f"value_bits={value_bits} with D={q.shape[-1]} exceeds exact float64 range")
    return np.rint(q.astype(np.float64) @ np.swapaxes(k, -1, -2).astype(np.float64)).astype(np.int64)


def qk_scores(dot, m, sh, fmt=SCORE):
    """Fixed-point scores ``sat(round_half_up(dot * m / 2**sh))`` in ``fmt``."""
    m, sh = as_int("m", m), as_int("sh", sh)
    if not 0 < m < 1 << 20:
        raise ValueError(f"m must be in 1..{(1 << 20) - 1}, not {m}")
    if not 0 <= sh <= 62:
        raise ValueError(f"sh must be in 0..62, not {sh}")
    dot = np.asarray(dot, dtype=np.int64)
    if dot.size and int(np.abs(dot).max()) * m >= 1 << 62:
        raise ValueError("dot * m exceeds 62 bits")
    return saturate(round_shift(dot * m, sh), fmt)


def qk_float(q, k):
    """Float twin: ``q @ k.T / sqrt(D)`` in float64."""
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share D, not {q.shape} and {k.shape}")
    return q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])

