"""Fixed-point softmax, exactly as the hardware computes it.

Per row of scores ``s`` (``fmt.score``, 8 fraction bits) over the visible keys:

1. ``d = s - max(s) <= 0``; ``u = min(-d, clamp)`` (``exp(-16) < 2**-22``: nothing
   below the clamp survives the exp format, and ``u`` stays 13 bits).
2. ``t = round(u * LOG2E)`` with ``t_frac`` fraction bits, so ``exp(d) = 2**-t``;
   ``n = t >> t_frac`` is a right shift, ``f`` the fraction. The table is indexed
   by the fraction of the non-negative magnitude ``t``: every entry is used
   (no sign bit in the index, the trap that wastes half a table).
3. ``v = 2**-f`` from a table ``E[j] = round(2**(-j / 2**b) 2**table_frac)``,
   ``j = 0 .. 2**b`` (one extra entry, 0.5, for the last interval), linearly
   interpolated with the remaining ``t_frac - b`` bits:
   ``v = E[j] - round((E[j] - E[j+1]) rem / 2**r)``. Without interpolation the
   nearest entry is used.
4. ``e = round(v 2**(exp_frac - table_frac) / 2**n)``; the row max gives exactly
   ``e = 1.0``. ``S = sum(e)`` exactly (``S >= 1.0``).
5. ``z = floor(log2 S)`` (leading-zero count), ``R = round(2**(recip_bits + z) / S)``:
   one ``recip_bits + 1``-bit reciprocal per row, by any exact divider.
6. ``p = min(round(e' R / 2**(recip_bits + z - exp_frac + norm_frac - prob.frac)), 1.0)``
   with ``e' = round(e / 2**(exp_frac - norm_frac))``: one 18 x 18 multiply per
   element. Every step is monotone, so ``p`` is monotone in ``s`` and the
   row's largest score always gets the largest probability.

All roundings are half up. Measured against ``softmax_float`` of the same
fixed-point scores (tests and ``gen.golden_report``): max abs error about
2e-5 on random rows, bound 2.5e-4 asserted, including adversarial rows of 1024
keys whose exp values all round the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .formats import EXP_INDEX_BITS, EXP_INTERPOLATE, PROB, SCORE, Fmt, check_fits, round_div

__all__ = ["SoftmaxFormat", "SOFTMAX", "exp_table", "exp_slope_table", "log2e_code",
           "softmax_widths", "softmax_fx", "softmax_float", "exp_fx", "reciprocal", "normalize"]


@dataclass(frozen=True)
class SoftmaxFormat:
    """Widths of the fixed-point softmax (defaults: the chosen formats)."""

    score: Fmt = SCORE
    clamp: int = 16
    log2e_frac: int = 16
    t_frac: int = 14
    index_bits: int = EXP_INDEX_BITS
    interpolate: bool = EXP_INTERPOLATE
    table_frac: int = 17
    exp_frac: int = 22
    norm_frac: int = 17
    recip_bits: int = 17
    prob: Fmt = PROB

    def __post_init__(self):
        if not 1 <= self.index_bits <= self.t_frac:
            raise ValueError(f"index_bits must be in 1..t_frac ({self.t_frac}), not {self.index_bits}")
        if not 1 <= self.clamp <= 64 or self.clamp & (self.clamp - 1):
            raise ValueError(f"clamp must be a power of two in 1..64, not {self.clamp}")
        if not self.table_frac <= self.exp_frac <= 40:
            raise ValueError(f"exp_frac must be in table_frac..40, not {self.exp_frac}")
        if not 1 <= self.norm_frac <= self.exp_frac:
            raise ValueError(f"norm_frac must be in 1..exp_frac, not {self.norm_frac}")
        if not self.index_bits + 1 <= self.table_frac <= 30:
            raise ValueError(f"table_frac must be in index_bits+1..30, not {self.table_frac}")
        if not 4 <= self.recip_bits <= 30:
            raise ValueError(f"recip_bits must be in 4..30, not {self.recip_bits}")
        if self.prob.signed or self.prob.frac >= self.prob.bits + 1 or self.prob.frac < 1:
            raise ValueError(f"prob must be unsigned with 1.0 representable, not {self.prob}")
        if self.recip_bits + self.norm_frac - self.prob.frac < 1:
            raise ValueError("recip_bits + norm_frac must exceed prob.frac")


SOFTMAX = SoftmaxFormat()


def exp_table(fmt=SOFTMAX):
    """``2**b + 1`` entries ``round(2**(-j / 2**b) * 2**table_frac)`` (int64), strictly decreasing."""
    j = np.arange((1 << fmt.index_bits) + 1, dtype=np.float64)
    return np.floor(2.0 ** (-j / (1 << fmt.index_bits)) * 2.0 ** fmt.table_frac + 0.5).astype(np.int64)


def exp_slope_table(fmt=SOFTMAX):
    """``E[j] - E[j+1]`` for ``j < 2**b``: the interpolation slopes (a second ROM or a subtractor)."""
    table = exp_table(fmt)
    return table[:-1] - table[1:]


def log2e_code(fmt=SOFTMAX):
    """``log2(e)`` with ``log2e_frac`` fraction bits."""
    return math.floor(math.log2(math.e) * 2 ** fmt.log2e_frac + 0.5)


def softmax_widths(n_max, fmt=SOFTMAX):
    """Bit widths of each softmax signal for rows of up to ``n_max`` keys (for hw/)."""
    u_bits = (fmt.clamp << fmt.score.frac).bit_length()
    t_max = -(-(fmt.clamp << fmt.score.frac) * log2e_code(fmt) >> (fmt.score.frac + fmt.log2e_frac
                                                                    - fmt.t_frac))
    e_bits = fmt.exp_frac + 1
    sum_bits = (int(n_max) << fmt.exp_frac).bit_length()
    return {
        "score_bits": fmt.score.bits, "u_bits": u_bits, "log2e_bits": log2e_code(fmt).bit_length(),
        "t_bits": t_max.bit_length(), "shift_bits": (t_max >> fmt.t_frac).bit_length(),
        "table_entries": (1 << fmt.index_bits) + 1, "table_bits": fmt.table_frac + 1,
        "slope_bits": int(exp_slope_table(fmt).max()).bit_length(),
        "interp_frac_bits": fmt.t_frac - fmt.index_bits, "exp_bits": e_bits,
        "sum_bits": sum_bits, "recip_bits": fmt.recip_bits + 1, "norm_bits": fmt.norm_frac + 1,
        "prob_bits": fmt.prob.bits,
    }


def _shift_right_round(x, n):
    """``round_half_up(x / 2**n)`` with a per-element shift ``n >= 0``."""
    return (x + ((np.int64(1) << n) >> 1)) >> n


def exp_fx(d, fmt=SOFTMAX):
    """``exp(d)`` for fixed-point ``d <= 0`` (score format) -> codes with ``exp_frac`` bits."""
    d = np.asarray(d, dtype=np.int64)
    if d.size and d.max() > 0:
        raise ValueError("d must be <= 0 (after max subtraction)")
    u = np.minimum(-d, fmt.clamp << fmt.score.frac)
    t = _shift_right_round(u * log2e_code(fmt), fmt.score.frac + fmt.log2e_frac - fmt.t_frac)
    n = t >> fmt.t_frac
    f = t & ((1 << fmt.t_frac) - 1)
    r = fmt.t_frac - fmt.index_bits
    table = exp_table(fmt)
    if fmt.interpolate:
        j = f >> r
        rem = f & ((1 << r) - 1)
        v = table[j] - _shift_right_round((table[j] - table[j + 1]) * rem, np.int64(r))
    else:
        v = table[_shift_right_round(f, np.int64(r))]
    return _shift_right_round(v << (fmt.exp_frac - fmt.table_frac), n)


def softmax_fx(scores, mask=None, fmt=SOFTMAX):
    """Fixed-point softmax over the last axis -> probability codes (``fmt.prob``, int64).

    ``mask`` (bool, same shape) marks the visible keys; others get probability 0
    and take no part. A row with no visible key is all zeros.
    """
    s = np.asarray(scores)
    if not np.issubdtype(s.dtype, np.integer):
        raise TypeError(f"scores must be integer codes of {fmt.score}, not {s.dtype}")
    s = s.astype(np.int64)
    check_fits("scores", s, fmt.score)
    if s.ndim < 1:
        raise ValueError("scores must have at least one axis")
    if mask is None:
        mask = np.ones(s.shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != s.shape:
        raise ValueError(f"mask must have the shape of scores {s.shape}, not {mask.shape}")
    row_max = np.where(mask, s, fmt.score.min_int).max(axis=-1, keepdims=True)
    e = np.zeros(s.shape, dtype=np.int64)
    e[mask] = exp_fx((s - row_max)[mask], fmt)      # only visible keys: causal rows cost half
    total = e.sum(axis=-1, keepdims=True)
    recip, z = reciprocal(np.maximum(total, 1 << fmt.exp_frac), fmt)
    p = normalize(e, recip, z, fmt)
    return np.where(mask & (total > 0), p, 0)


def reciprocal(total, fmt=SOFTMAX):
    """Per row ``(R, z)``: ``z = floor(log2 S)``, ``R = round_half_up(2**(recip_bits + z) / S)``.

    ``S`` (exp sum codes, ``>= 2**exp_frac``) -> ``R`` in ``2**(recip_bits-1) .. 2**recip_bits``.
    """
    total = np.asarray(total, dtype=np.int64)
    if total.size and total.min() < 1 << fmt.exp_frac:
        raise ValueError(f"total must be >= 2**exp_frac ({1 << fmt.exp_frac}): the row max adds 1.0")
    z = np.frexp(total.astype(np.float64))[1].astype(np.int64) - 1
    return round_div(np.int64(1) << (fmt.recip_bits + z), total), z


def normalize(e, recip, z, fmt=SOFTMAX):
    """``p = min(round(e' R / 2**(recip_bits + z - exp_frac + norm_frac - prob.frac)), 1.0)``."""
    e_norm = _shift_right_round(np.asarray(e, dtype=np.int64), np.int64(fmt.exp_frac - fmt.norm_frac))
    shift = fmt.recip_bits + np.asarray(z) - fmt.exp_frac + fmt.norm_frac - fmt.prob.frac
    p = _shift_right_round(e_norm * recip, shift)
    return np.minimum(p, 1 << fmt.prob.frac)


def softmax_float(x, mask=None):
    """Float twin: softmax over the last axis of float64 ``x``; masked entries get 0."""
    x = np.asarray(x, dtype=np.float64)
    if mask is None:
        mask = np.ones(x.shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != x.shape:
        raise ValueError(f"mask must have the shape of x {x.shape}, not {mask.shape}")
    row_max = np.where(mask, x, -np.inf).max(axis=-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    e = np.where(mask, np.exp(np.where(mask, x - row_max, 0.0)), 0.0)
    total = e.sum(axis=-1, keepdims=True)
    return np.where(total > 0, e / np.where(total > 0, total, 1.0), 0.0)
