"""Number formats of the SpAtten datapath: the one place they are decided.

Every fixed-point quantity the hardware computes is an integer ``x`` standing
for ``x / 2**frac``. A :class:`Fmt` names its signedness, total width and
fraction bits. Two rules hold everywhere:

* **Rounding: round half up** (towards +inf on a tie), ``floor(v + 1/2)``. In
  hardware this is "add half an LSB, then drop the bits" (one adder, no tie
  detector, unlike round-half-even). Its bias (+1/2 LSB on exact ties only) is
  below every error budget below. :func:`round_shift` is the integer form.
* **Saturation**: a result outside its format clamps to the format's bounds.
  Signed formats are symmetric, ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]``, so
  that negation and ``|x|`` never overflow. Accumulators whose width is chosen
  so that they cannot overflow still saturate by rule (checked by tests).

Formats chosen (defaults; ``B = cfg.value_bits``, 12 in the paper preset):

==================  ===========================  ==========================================
quantity            format                        why
==================  ===========================  ==========================================
Q, K, V             signed B bits, symmetric,     the paper's 12-bit on-chip values; one
                    linear, float scale per       float scale per tensor (per head allowed
                    tensor (K, Q: or per head)    for Q and K, see golden.quant)
K/V in DRAM         MSB plane (msb bits, signed)  progressive quantization; "MSB only" is
                    + LSB plane (lsb bits,        ``msb << lsb | 1 << (lsb-1)`` (half-LSB
                    unsigned), byte-packed rows   bias: error -7..8, mean +0.5, vs -15..0
                                                  for zero fill; free in hardware)
Q.K accumulator     signed 2B-1+log2(D) bits      exact, cannot overflow (29 bits at 12/64)
score scale         16-bit mantissa m and shift   ``score = rnd(dot * m >> sh)``: folds
                    sh (score = dot*M, M=m/2^sh)  s_q * s_k / sqrt(D) into one multiply
score               S10.8 (18 bits, 8 frac)       +-512 holds any realistic logit; 2^-9
                                                  rounding error << the 12-bit quantization
softmax d = s - max clamp to [-16, 0] (13 bits)   exp(-16) < 2^-22: nothing below matters
log2(e)             U1.16 (17 bits)               constant multiplier (shift-and-add)
t = -d log2(e)      U5.14: integer part n=shift  14 fraction bits: 2^-15 rounding = 2e-5 rel
exp table           2^-f, f = j/64, j = 0..64:    6 index bits + linear interpolation on the
                    65 entries, U1.17 (18 bits)   8 remaining bits: 1.5e-5 rel, softmax error
                                                  1.8e-5; without interpolation 257 entries
                                                  give 2.4e-4 (at the budget), 1025 give 3.9e-5
exp value e         U1.22 (23 bits)               22 frac bits: n * 2^-23 sum error stays
                                                  <= 1.2e-4 for n = 1024
exp sum S           unsigned 23+log2(n) bits      exact (33 bits for n = 1024)
reciprocal R        18 bits, R = rnd(2^(17+z)/S)  z = msb position of S (leading-zero count);
                                                  one divider per row, not per element
normaliser operand  e' = rnd(e >> 5), U1.17       so that e' x R fits one 18x18 multiplier
probability p       U1.15 (16 bits), <= 1.0       1.0 representable; clamped, never above
P x V accumulator   signed, pv_acc_bits(n, B)     exact, cannot overflow (28 bits at B=12,
                                                  n <= 1024): sum(p) <= 1 + n 2^-16
attention output    signed B+4 bits, 4 frac bits  on V's integer grid (units of s_v / 16)
token importance    U17.15 (32 bits), saturating  probabilities added as they are
value keep code     U1.16 (17 bits), floor        ``floor(value_keep * 2**16)``; the hardware
                                                  keeps ``ceil(code * n / 2**16)`` rows
head importance     unsigned 40 bits, saturating  sum of |output| LSBs
==================  ===========================  ==========================================

Training-free traffic options (``SpattenConfig`` fields, all off in the
``tiny``/``ulx3s``/``paper`` presets the RTL follows; ``golden.spatten``
computes them; hardware cost beside each, ``D`` = head_dim):

==========================  ==========================  ==========================================
option (config field)       format                      hardware cost
==========================  ==========================  ==========================================
``k_scale="channel"``       float scale per head and    Q x K array unchanged: ``q * s_k`` folded
                            channel (from the keys of   before Q is quantized, one multiply per Q
                            the call), stored 16-bit    element (D per query row, amortised over
                                                        Lk keys); DRAM: 2 D bytes per head and call
``k_zero_point``            per-channel K centre        nothing: ``q . centre`` is the same for
                            ``(max + min) / 2``, K      every key of a row, the softmax cancels it
                            codes of ``k - centre``     (not stored, not computed)
``v_scale="token"``         8-bit code ``u`` per V row  one 16 x 8 multiplier per probability lane,
                            (1..255), scale ``u *       ``p' = rnd(p u / 2^8)`` stays U1.15 (PROB):
                            unit``, unit per layer      P x V array and accumulator unchanged;
                                                        DRAM: 1 byte per fetched V row
``v_scale="channel"``       float scale per head and    none in the core: the output's per-channel
                            channel                     scale is applied where the output is
                                                        dequantized; DRAM: 2 D bytes per head/call
``v_zero_point``            per-channel V centre        an adder summing the kept probabilities
                            (channel scales only)       per row; ``centre * sum(p)`` at the output
                                                        (D multiply-adds); DRAM: 2 D more bytes
``token_protect_sinks``     first S tokens never        two comparators on the token index before
``token_protect_recent``    pruned; newest W neither    the top-k (protected tokens bypass it, k
                            (causal calls)              reduced by their count); no DRAM
``token_importance_norm``   ``(acc << 16) // seen``     a seen-rows counter per token (19+ bits,
                            (causal calls), unseen      on chip beside the importance) and a
                            tokens rank first           divider (or reciprocal ROM + multiplier)
                                                        feeding the top-k, one token per cycle
``token_keep_min``          ``k = max(ceil(r n),        one comparator/mux on the top-k's k
                            min(n, keep_min))``
``token_prune_prefill``     off: prefill calls (several one mode bit: the top-k's k = n in prefill
                            query rows) prune nothing   calls; importances accumulate as before
lower MSB planes (4+4,      ``msb_bits``/``lsb_bits``   already built (fetcher, re-fetch decision)
6+4) + LSB re-fetch
index lists                 survivors' indices,         counted as DRAM traffic:
                            ``ceil(log2 max_context)``  ``ceil(n_alive * bits / 8)`` bytes per
                            bits each                   pruned layer call
==========================  ==========================  ==========================================

Constants that should become configuration fields (not in gen.config yet):
``SCORE``, ``EXP_INDEX_BITS``, ``EXP_INTERPOLATE``, ``PROB``, ``OUT_FRAC``,
``TOKEN_IMPORTANCE``, ``HEAD_IMPORTANCE``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "as_int",
    "Fmt", "round_shift", "round_div", "saturate", "to_fixed", "to_float", "check_fits",
    "signed_bits_for", "unsigned_bits_for",
    "ROUNDING", "SCORE", "SCALE_MANT_BITS", "PROB", "OUT_FRAC", "TOKEN_IMPORTANCE",
    "HEAD_IMPORTANCE", "VALUE_KEEP", "EXP_INDEX_BITS", "EXP_INTERPOLATE", "INT64_SAFE_BITS",
]

#: The rounding rule of every fixed-point step (see the module docstring).
ROUNDING = "half-up"
#: Widest intermediate golden computes exactly in int64 (and float64 matmul).
INT64_SAFE_BITS = 53


def as_int(name, value):
    """``value`` as an ``int``; ``TypeError`` naming ``name`` otherwise (``bool`` included)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {value!r}") from None


@dataclass(frozen=True)
class Fmt:
    """A fixed-point format: ``bits`` in all, ``frac`` of them after the point.

    Signed formats are symmetric (the most negative code is not used).
    """

    signed: bool
    bits: int
    frac: int

    def __post_init__(self):
        object.__setattr__(self, "bits", as_int("bits", self.bits))
        object.__setattr__(self, "frac", as_int("frac", self.frac))
        lo = 2 if self.signed else 1
        if not lo <= self.bits <= 62:
            raise ValueError(f"bits must be in {lo}..62, not {self.bits}")
        if not -62 <= self.frac <= 62:
            raise ValueError(f"frac must be in -62..62, not {self.frac}")

    @property
    def max_int(self):
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def min_int(self):
        return -self.max_int if self.signed else 0

    @property
    def lsb(self):
        """Value of one LSB."""
        return 2.0 ** -self.frac

    def __str__(self):
        return f"{'S' if self.signed else 'U'}{self.bits - self.frac}.{self.frac}"


def round_shift(x, shift):
    """``x / 2**shift`` rounded half up, for integer arrays (``shift <= 0``: exact left shift)."""
    x = np.asarray(x, dtype=np.int64)
    shift = as_int("shift", shift)
    if shift <= 0:
        return x << -shift
    return (x + (np.int64(1) << (shift - 1))) >> shift


def round_div(num, den):
    """``num / den`` rounded half up, exact, for integer arrays with ``den > 0``."""
    num = np.asarray(num, dtype=np.int64)
    den = np.asarray(den, dtype=np.int64)
    if np.any(den <= 0):
        raise ValueError("den must be positive")
    return np.floor_divide(2 * num + den, 2 * den)


def saturate(x, fmt):
    """Clamp integer codes to ``fmt``'s range."""
    return np.clip(np.asarray(x, dtype=np.int64), fmt.min_int, fmt.max_int)


def to_fixed(value, fmt):
    """Float -> nearest code of ``fmt`` (round half up, saturate)."""
    value = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(value)):
        raise ValueError("value must be finite")
    scaled = np.floor(value * 2.0 ** fmt.frac + 0.5)
    return saturate(np.clip(scaled, -2.0 ** 62, 2.0 ** 62).astype(np.int64), fmt)


def to_float(code, fmt):
    """Codes of ``fmt`` -> float64 values."""
    return np.asarray(code, dtype=np.float64) * fmt.lsb


def signed_bits_for(max_abs):
    """Bits of a symmetric signed word holding ``-max_abs..max_abs``."""
    return int(max_abs).bit_length() + 1


def unsigned_bits_for(max_value):
    """Bits of an unsigned word holding ``0..max_value`` (at least 1)."""
    return max(1, int(max_value).bit_length())


def check_fits(name, codes, fmt):
    """Raise ValueError naming ``name`` if any code lies outside ``fmt``."""
    codes = np.asarray(codes)
    if codes.size and (codes.min() < fmt.min_int or codes.max() > fmt.max_int):
        raise ValueError(f"{name} must fit {fmt} ({fmt.min_int}..{fmt.max_int}), "
                         f"found {int(codes.min())}..{int(codes.max())}")


#: Score after Q x K and scaling: S10.8 in 18 bits.
SCORE = Fmt(signed=True, bits=18, frac=8)
#: Mantissa width of the folded score scale ``s_q * s_k / sqrt(D)``.
SCALE_MANT_BITS = 16
#: Softmax output: U1.15, 1.0 = 32768 is the largest code ever produced.
PROB = Fmt(signed=False, bits=16, frac=15)
#: Fraction bits of the attention output on V's integer grid.
OUT_FRAC = 4
#: Cascade token importance: probabilities summed as they are, saturating.
TOKEN_IMPORTANCE = Fmt(signed=False, bits=32, frac=PROB.frac)
#: Cascade head importance: sum of |output| codes, saturating.
HEAD_IMPORTANCE = Fmt(signed=False, bits=40, frac=OUT_FRAC)
#: Local value pruning's keep fraction as the hardware takes it: U1.16, 1.0 = 65536.
VALUE_KEEP = Fmt(signed=False, bits=17, frac=16)
#: exp table: 2**EXP_INDEX_BITS + 1 entries, linear interpolation between them.
EXP_INDEX_BITS = 6
EXP_INTERPOLATE = True
