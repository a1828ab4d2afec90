"""One lane of ``golden.softmax.normalize``: ``p = min(round(e' R / 2**(z - 3)), 1.0)``."""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.softmax import SOFTMAX

from ..params import check_int

__all__ = ["Normalizer", "MaxProbability", "SHIFT_MIN"]

# p = round(e' R / 2**shift) with shift = z + SHIFT_MIN - exp_frac, z >= exp_frac.
SHIFT_MIN = SOFTMAX.recip_bits + SOFTMAX.norm_frac - SOFTMAX.prob.frac
ONE = 1 << SOFTMAX.prob.frac


class MaxProbability(wiring.Component):
    """A row's largest probability, ``normalize(1.0, R, z)`` (the row max's ``e'`` is exactly 1.0).

    ``min(round_half_up(R 2**norm_frac / 2**(SHIFT_MIN + z_excess)), 1.0)``,
    0 for an empty row, from ``R`` and ``z`` alone: the rounding add, the
    variable shift and the clamp, each registered (no reset, no stall).

    Members
    -------
    recip : In(unsigned(18)), z_excess : In(range(z_values)), empty : In(1)
    max_prob : Out(unsigned(16))
        ``latency`` cycles later.
    """

    LATENCY = 3

    def __init__(self, *, z_values):
        self._z_values = check_int("z_values", z_values, 1, 32)
        super().__init__({
            "recip": In(SOFTMAX.recip_bits + 1), "z_excess": In(range(self._z_values)), "empty": In(1),
            "max_prob": Out(SOFTMAX.prob.bits),
        })

    @property
    def latency(self):
        return self.LATENCY

    def elaborate(self, platform):
        m = Module()
        # R 2**norm_frac has norm_frac low zeros and the shift is longer: shift R alone.
        low = SHIFT_MIN - SOFTMAX.norm_frac
        rounded = Signal(len(self.recip) + 1, reset_less=True)
        z = [Signal(self.z_excess.shape(), name=f"z{i}", reset_less=True) for i in range(2)]
        empty = [Signal(name=f"empty{i}", reset_less=True) for i in range(2)]
        m.d.sync += [rounded.eq(self.recip + (Const(1 << (low - 1), low + 32) << self.z_excess)),
                     z[0].eq(self.z_excess), empty[0].eq(self.empty)]
        shifted = Signal(len(rounded), reset_less=True)
        m.d.sync += [shifted.eq((rounded >> low) >> z[0]), empty[1].eq(empty[0])]
        out = Signal(self.max_prob.shape(), reset_less=True)
        m.d.sync += out.eq(Mux(empty[1], 0, Mux(shifted > ONE, ONE, shifted)))
        m.d.comb += self.max_prob.eq(out)
        return m


class Normalizer(wiring.Component):
    """``p = min(round_half_up(e' R / 2**(SHIFT_MIN + z_excess)), 1.0)`` of one lane.

    A pipeline with no stall and no reset: operands registered, the 18 x 18
    product registered (one MULT18X18D with registers on both sides), the
    rounding add, the variable right shift (``z_excess`` < ``log2(n_max)+1``)
    and the clamp to 1.0, each registered. One result per cycle.

    Parameters
    ----------
    z_values : int
        Values ``z_excess = z - exp_frac`` can take (1..32).

    Members
    -------
    exp_norm : In(unsigned(18))
        ``e'``, U1.17.
    recip : In(unsigned(18))
        The row's ``R``.
    z_excess : In(range(z_values))
        The row's ``z - exp_frac``.
    prob : Out(unsigned(16))
        U1.15, ``latency`` cycles later.
    """

    LATENCY = 5

    def __init__(self, *, z_values):
        self._z_values = check_int("z_values", z_values, 1, 32)
        super().__init__({
            "exp_norm": In(SOFTMAX.norm_frac + 1),
            "recip": In(SOFTMAX.recip_bits + 1),
            "z_excess": In(range(self._z_values)),
            "prob": Out(SOFTMAX.prob.bits),
        })

    @property
    def latency(self):
        return self.LATENCY

    def elaborate(self, platform):
        m = Module()

        def reg(name, shape):
            return Signal(shape, name=name, reset_less=True)

        z_shape = self.z_excess.shape()
        a, b = reg("a", self.exp_norm.shape()), reg("b", self.recip.shape())
        zs = [reg(f"z{i}", z_shape) for i in range(3)]
        m.d.sync += [a.eq(self.exp_norm), b.eq(self.recip), zs[0].eq(self.z_excess)]
        product = reg("product", unsigned(len(a) + len(b)))
        m.d.sync += [product.eq(a * b), zs[1].eq(zs[0])]
        half = Const(1 << (SHIFT_MIN - 1), len(product)) << zs[1]
        rounded = reg("rounded", unsigned(len(product) + 1))
        m.d.sync += [rounded.eq(product + half), zs[2].eq(zs[1])]
        shifted = reg("shifted", unsigned(len(product) + 1 - SHIFT_MIN))
        m.d.sync += shifted.eq((rounded >> SHIFT_MIN) >> zs[2])
        prob = reg("prob_out", self.prob.shape())
        m.d.sync += prob.eq(Mux(shifted > ONE, ONE, shifted))
        m.d.comb += self.prob.eq(prob)
        return m
