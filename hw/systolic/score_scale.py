"""The score stage of Q x K: ``sat(round_half_up(dot * m >> sh))`` per lane."""

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import SCALE_MANT_BITS, SCORE

from ..params import check_int

__all__ = ["ScoreScale", "SHIFT_BITS"]

#: Bits of the score shift ``sh`` (0..62, golden.qk.qk_scores' range).
SHIFT_BITS = 6


class ScoreScale(wiring.Component):
    """Exact dot products to scores in ``golden.formats.SCORE``, as ``golden.qk.qk_scores``.

    Per lane: ``score = sat(round_half_up(dot * mantissa / 2**shift))``; the
    mantissa (``SCALE_MANT_BITS`` bits) and shift (0..62) are shared by the
    lanes. Every stage is registered: the operands, the product (one
    multiplier per lane between registers), the rounding add, the shift and
    the saturation. Shifts beyond the product's width give the same result
    as the product's width (0), so the shifter is no wider than the product.

    Parameters
    ----------
    lanes : int
        Scores per cycle, 1..64.
    dot_bits : int
        Bits of the signed dot products, 2..48.

    Members
    -------
    dot : In(ArrayLayout(signed(dot_bits), lanes))
    mantissa : In(unsigned(SCALE_MANT_BITS))
    shift : In(unsigned(SHIFT_BITS))
    score : Out(ArrayLayout(signed(SCORE.bits), lanes))
        The scores of the inputs of :attr:`latency` cycles before.

    Latency :attr:`latency` = 5 cycles; one set of lanes per cycle.
    """

    LATENCY = 5

    def __init__(self, *, lanes, dot_bits):
        self._lanes = check_int("lanes", lanes, 1, 64)
        self._dot_bits = check_int("dot_bits", dot_bits, 2, 48)
        super().__init__({
            "dot": In(data.ArrayLayout(signed(self._dot_bits), self._lanes)),
            "mantissa": In(unsigned(SCALE_MANT_BITS)),
            "shift": In(unsigned(SHIFT_BITS)),
            "score": Out(data.ArrayLayout(signed(SCORE.bits), self._lanes)),
        })

    lanes = property(lambda self: self._lanes)

    @property
    def latency(self):
        return self.LATENCY

    @property
    def product_bits(self):
        return self._dot_bits + SCALE_MANT_BITS + 1

    def elaborate(self, platform):
        m = Module()
        width = self.product_bits
        # |product| < 2**(width - 1): a shift >= width rounds it to 0, as a shift of width does.
        shift_cap = Const(width, SHIFT_BITS)
        mant_q = Signal(unsigned(SCALE_MANT_BITS), reset_less=True)
        shift_q = [Signal(range(width + 1), name=f"shift_q{i}", reset_less=True) for i in range(3)]
        m.d.sync += [
            mant_q.eq(self.mantissa),
            shift_q[0].eq(Mux(self.shift > shift_cap, shift_cap, self.shift)),
            shift_q[1].eq(shift_q[0]), shift_q[2].eq(shift_q[1]),
        ]
        half = Signal(unsigned(width), reset_less=True)
        m.d.sync += half.eq((Const(1, width + 1) << shift_q[0]) >> 1)
        for lane in range(self._lanes):
            dot_q = Signal(signed(self._dot_bits), name=f"dot_q{lane}", reset_less=True)
            product = Signal(signed(width), name=f"product{lane}", reset_less=True)
            rounded = Signal(signed(width + 1), name=f"rounded{lane}", reset_less=True)
            shifted = Signal(signed(width + 1), name=f"shifted{lane}", reset_less=True)
            score = Signal(signed(SCORE.bits), name=f"score{lane}", reset_less=True)
            m.d.sync += [
                dot_q.eq(self.dot[lane]),
                product.eq(dot_q * mant_q),
                rounded.eq(product + half),
                shifted.eq(rounded >> shift_q[2]),
                score.eq(Mux(shifted > SCORE.max_int, SCORE.max_int,
                             Mux(shifted < SCORE.min_int, SCORE.min_int, shifted))),
            ]
            m.d.comb += self.score[lane].eq(score)
        return m
