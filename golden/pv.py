"""prob x V: exact accumulation and the rounded attention output.

``acc[i, d] = sum_j p[i, j] * v[j, d]`` on probability codes (``PROB``, U1.15)
and ``B``-bit V codes, in a signed accumulator of :func:`pv_acc_bits` bits:
the probabilities of a row sum to at most ``1 + n 2**-16`` (each rounded half
up), so this width cannot overflow; it saturates by rule all the same. The
output is ``sat(round_half_up(acc / 2**(PROB.frac - OUT_FRAC)))`` in a signed
``B + OUT_FRAC``-bit word: V's integer grid with ``OUT_FRAC`` fraction bits,
i.e. ``out_real = out * s_v / 2**OUT_FRAC``.
"""

from __future__ import annotations

import numpy as np

from .formats import OUT_FRAC, PROB, Fmt, as_int, round_shift, saturate, signed_bits_for
from .quant import max_code

__all__ = ["pv_acc_bits", "out_format", "pv_acc", "pv_output", "pv", "pv_float", "fold_token_scale"]


def pv_acc_bits(n_max, value_bits, prob=PROB):
    """Width of the P x V accumulator for rows of up to ``n_max`` probabilities."""
    n_max = as_int("n_max", n_max)
    if n_max < 1:
        raise ValueError(f"n_max must be >= 1, not {n_max}")
    prob_sum_max = (1 << prob.frac) + n_max    # each code rounds at most 1/2 LSB up, twice
    return signed_bits_for(prob_sum_max * max_code(value_bits))


def out_format(value_bits, out_frac=OUT_FRAC):
    """Format of the attention output codes."""
    return Fmt(signed=True, bits=as_int("value_bits", value_bits) + out_frac, frac=out_frac)


def pv_acc(prob, v, value_bits, acc_bits=None, prob_fmt=PROB):
    """Saturating ``prob @ v`` on codes: ``prob (..., rows, n)``, ``v (..., n, D)``."""
    prob = np.asarray(prob)
    v = np.asarray(v)
    for name, x in (("prob", prob), ("v", v)):
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"{name} must be integer codes, not {x.dtype}")
    if prob.ndim < 2 or v.ndim != prob.ndim or prob.shape[-1] != v.shape[-2] \
            or prob.shape[:-2] != v.shape[:-2]:
        raise ValueError(f"prob and v must have shapes (..., rows, n) and (..., n, D), "
                         f"not {prob.shape} and {v.shape}")
    if prob.size and (prob.min() < 0 or prob.max() > 1 << prob_fmt.frac):
        raise ValueError(f"prob must be codes in 0..{1 << prob_fmt.frac}")
    lim = max_code(value_bits)
    if v.size and np.abs(v).max() > lim:
        raise ValueError(f"v must fit value_bits={value_bits} (|code| <= {lim})")
    need = pv_acc_bits(max(1, prob.shape[-1]), value_bits, prob_fmt)
    acc_bits = need if acc_bits is None else as_int("acc_bits", acc_bits)
    if not 2 <= acc_bits <= 53:
        raise ValueError(f"acc_bits must be in 2..53, not {acc_bits}")
    # float64 matmul is exact: every partial sum is an integer below 2**53.
    exact = np.rint(prob.astype(np.float64) @ v.astype(np.float64)).astype(np.int64)
    if acc_bits < need:
        # A narrower accumulator saturates at each step: replay in order.
        fmt = Fmt(signed=True, bits=acc_bits, frac=0)
        acc = np.zeros(exact.shape, dtype=np.int64)
        terms = prob.astype(np.int64)[..., :, :, None] * v.astype(np.int64)[..., None, :, :]
        for j in range(prob.shape[-1]):
            acc = saturate(acc + terms[..., j, :], fmt)
        return acc
    return exact


def pv_output(acc, value_bits, prob_fmt=PROB, out_frac=OUT_FRAC):
    """Accumulator -> output codes (round half up, saturate)."""
    return saturate(round_shift(acc, prob_fmt.frac - out_frac), out_format(value_bits, out_frac))


def pv(prob, v, value_bits):
    """Output codes of ``prob @ v`` at the chosen formats."""
    return pv_output(pv_acc(prob, v, value_bits), value_bits)


def pv_float(prob, v):
    """Float twin: ``prob @ v`` in float64."""
    return np.asarray(prob, dtype=np.float64) @ np.asarray(v, dtype=np.float64)


def fold_token_scale(prob, codes, code_bits, prob_fmt=PROB):
    """Per-token V scales folded into the probabilities: ``round_half_up(p * u / 2**code_bits)``.

    ``prob (..., rows, n)`` codes, ``codes (..., n)`` in ``1..2**code_bits - 1``
    (``golden.quant.token_scale``): one ``prob.bits x code_bits`` multiply per
    probability lane. The result stays in ``prob_fmt`` (``u < 2**code_bits``), so
    the P x V array and its accumulator do not change; the output is then on the
    grid of ``unit * 2**code_bits``.
    """
    prob = np.asarray(prob, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    code_bits = as_int("code_bits", code_bits)
    if codes.shape != prob.shape[:-2] + prob.shape[-1:]:
        raise ValueError(f"codes must have shape {prob.shape[:-2] + prob.shape[-1:]}, not {codes.shape}")
    if codes.size and (codes.min() < 1 or codes.max() >= 1 << code_bits):
        raise ValueError(f"codes must be in 1..{(1 << code_bits) - 1}")
    if prob.size and (prob.min() < 0 or prob.max() > 1 << prob_fmt.frac):
        raise ValueError(f"prob must be codes in 0..{1 << prob_fmt.frac}")
    return round_shift(prob * codes[..., None, :], code_bits)
