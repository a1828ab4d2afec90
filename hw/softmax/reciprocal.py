"""One reciprocal per row: ``R = round_half_up(2**(recip_bits + z) / S)``, ``z = floor(log2 S)``."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.softmax import SOFTMAX

from ..params import check_int

__all__ = ["Reciprocal"]


class Reciprocal(wiring.Component):
    """Exact pipelined restoring divider of :func:`golden.softmax.reciprocal`, one row per cycle.

    ``S >= 2**exp_frac`` (the row max adds exactly 1.0). Stage 0 finds
    ``z``, the position of the leading one of ``S`` (a priority encoder),
    and starts the remainder at ``2**z``, so the divider needs no
    normalising shift: with ``2**z <= S < 2**(z+1)`` the quotient
    ``q = floor(2**(recip_bits + 1 + z) / S)`` has ``recip_bits + 2`` bits,
    one per stage (compare-subtract of a ``sum_bits + 1``-bit remainder,
    then double it). The last stage rounds: ``R = (q + 1) >> 1``, which
    equals ``round_half_up(2**(recip_bits + z) / S)``. A tag rides along.

    Parameters
    ----------
    sum_bits : int
        Width of ``S`` (``softmax_widths(n_max)["sum_bits"]``), exp_frac+1..40.
    tag_width : int
        Bits carried beside each row, 1..256.

    Members
    -------
    i_valid, i_total, i_tag : In
        A row's sum ``S`` and its tag.
    o_valid, o_recip, o_z_excess, o_tag : Out
        ``latency`` cycles later: ``R`` (``recip_bits + 1`` bits),
        ``z - exp_frac`` and the tag.
    """

    def __init__(self, *, sum_bits, tag_width):
        self._sum_bits = check_int("sum_bits", sum_bits, SOFTMAX.exp_frac + 1, 40)
        self._tag_width = check_int("tag_width", tag_width, 1, 256)
        super().__init__({
            "i_valid": In(1), "i_total": In(self._sum_bits), "i_tag": In(self._tag_width),
            "o_valid": Out(1), "o_recip": Out(SOFTMAX.recip_bits + 1),
            "o_z_excess": Out(range(self._sum_bits - SOFTMAX.exp_frac)), "o_tag": Out(self._tag_width),
        })

    @property
    def quotient_bits(self):
        return SOFTMAX.recip_bits + 2

    @property
    def latency(self):
        """Cycles from ``i_valid`` to ``o_valid``: the encoder, one stage per quotient bit, the rounding."""
        return self.latency_of()

    @classmethod
    def latency_of(cls):
        return 1 + SOFTMAX.recip_bits + 2 + 1

    def elaborate(self, platform):
        m = Module()
        width, lo = self._sum_bits, SOFTMAX.exp_frac
        z_shape = self.o_z_excess.shape()

        # Stage 0: z - exp_frac and the remainder 2**z (S >= 2**exp_frac: bits below are no z).
        valid = Signal(name="valid0")
        total = Signal(width, name="total0", reset_less=True)
        z = Signal(z_shape, name="z0", reset_less=True)
        rem = Signal(width + 1, name="rem0", reset_less=True)
        tag = Signal(self._tag_width, name="tag0", reset_less=True)
        z_next, rem_next = Signal(z_shape), Signal(width + 1)
        for bit in range(lo, width):
            with m.If(self.i_total[bit]):
                m.d.comb += [z_next.eq(bit - lo), rem_next.eq(1 << bit)]
        m.d.sync += [valid.eq(self.i_valid), total.eq(self.i_total), z.eq(z_next),
                     rem.eq(rem_next), tag.eq(self.i_tag)]

        quotient = Cat()  # no bits yet (a 0-bit signal would be a `[-1:0]` wire in the Verilog)
        for step in range(self.quotient_bits):
            diff = Signal(width + 2, name=f"diff{step}")
            m.d.comb += diff.eq(rem - total)
            take = ~diff[width + 1]
            n_valid = Signal(name=f"valid{step + 1}")
            n_total = Signal(width, name=f"total{step + 1}", reset_less=True)
            n_z = Signal(z_shape, name=f"z{step + 1}", reset_less=True)
            n_rem = Signal(width + 1, name=f"rem{step + 1}", reset_less=True)
            n_quot = Signal(step + 1, name=f"q{step + 1}", reset_less=True)
            n_tag = Signal(self._tag_width, name=f"tag{step + 1}", reset_less=True)
            # rem < 2 S after a step, so the doubled remainder fits width + 1 bits.
            kept = Signal(width + 1, name=f"kept{step}")
            m.d.comb += kept.eq(rem)
            with m.If(take):
                m.d.comb += kept.eq(diff[:width + 1])
            m.d.sync += [n_valid.eq(valid), n_total.eq(total), n_z.eq(z), n_rem.eq(kept << 1),
                         n_quot.eq(Cat(take, quotient)), n_tag.eq(tag)]
            valid, total, z, rem, quotient, tag = n_valid, n_total, n_z, n_rem, n_quot, n_tag

        recip = Signal(self.o_recip.shape(), name="recip", reset_less=True)
        out_valid = Signal(name="out_valid")
        out_z = Signal(z_shape, name="out_z", reset_less=True)
        out_tag = Signal(self._tag_width, name="out_tag", reset_less=True)
        m.d.sync += [recip.eq((quotient + 1) >> 1), out_valid.eq(valid), out_z.eq(z), out_tag.eq(tag)]
        m.d.comb += [self.o_valid.eq(out_valid), self.o_recip.eq(recip), self.o_z_excess.eq(out_z),
                     self.o_tag.eq(out_tag)]
        return m
