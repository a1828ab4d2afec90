"""Column accumulators of prob x V: exact sums over a row's items, then the rounded output."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import OUT_FRAC, PROB
from golden.pv import out_format

from ..params import check_int

__all__ = ["ColumnAccumulators"]


class ColumnAccumulators(wiring.Component):
    """``cols`` exact accumulators and ``golden.pv.pv_output``'s rounding.

    In a cycle with ``valid``, each column adds ``sum[c]`` to its
    accumulator, which ``first`` starts afresh; with ``last`` the total goes
    to a register, and the next cycle rounds it half up by
    ``PROB.frac - OUT_FRAC`` bits and saturates it to ``B + OUT_FRAC`` bits
    (``golden.pv.out_format``, symmetric). The half LSB of the rounding is
    the accumulator's start value (one bit wider for it), so rounding is a
    shift; saturation tests the bits above the output's sign against it: no
    adder or comparator after the accumulator.

    Parameters
    ----------
    cols : int
        Columns, 1..4096.
    sum_bits : int
        Bits of the signed column sums entering.
    acc_bits : int
        Bits of the signed accumulators (wide enough for the longest row).
    value_bits : int
        B, the V code width, 2..18.

    Members
    -------
    sum : In(ArrayLayout(signed(sum_bits), cols))
    valid, first, last : In(1)
    out : Out(ArrayLayout(signed(B + OUT_FRAC), cols))
        The row's output, :attr:`latency` cycles after its ``last`` item.

    Latency :attr:`latency` = 2; one item per cycle, rows back to back.
    """

    LATENCY = 2

    def __init__(self, *, cols, sum_bits, acc_bits, value_bits):
        self._cols = check_int("cols", cols, 1, 4096)
        self._sum_bits = check_int("sum_bits", sum_bits, 2, 64)
        self._acc_bits = check_int("acc_bits", acc_bits, self._sum_bits, 64)
        self._fmt = out_format(check_int("value_bits", value_bits, 2, 18))
        super().__init__({
            "sum": In(data.ArrayLayout(signed(self._sum_bits), self._cols)),
            "valid": In(1), "first": In(1), "last": In(1),
            "out": Out(data.ArrayLayout(signed(self._fmt.bits), self._cols)),
        })

    @property
    def latency(self):
        return self.LATENCY

    def elaborate(self, platform):
        m = Module()
        fmt, shift = self._fmt, PROB.frac - OUT_FRAC
        w = fmt.bits
        # The exact sum plus the half LSB: one bit more than the sum needs.
        bits = max(self._acc_bits + 1, shift + w + 1)
        for c in range(self._cols):
            acc = Signal(signed(bits), name=f"acc{c}", reset_less=True)
            total = Signal(signed(bits), name=f"total{c}", reset_less=True)
            out = Signal(signed(w), name=f"out{c}", reset_less=True)
            running = Signal(signed(bits), name=f"running{c}")
            m.d.comb += running.eq(Mux(self.first, 1 << (shift - 1), acc) + self.sum[c])
            with m.If(self.valid):
                m.d.sync += acc.eq(running)
                with m.If(self.last):
                    m.d.sync += total.eq(running)
            rounded = total[shift:]                 # floor((sum + half) / 2**shift), signed
            high, low, negative = rounded[w - 1:], rounded[:w - 1], rounded[-1]
            # Symmetric bounds: above max when a bit from the output's sign up is set; below -max
            # unless those bits are all ones and the rest is not all zero.
            above = ~negative & high.any()
            below = negative & ~(high.all() & low.any())
            m.d.sync += out.eq(Mux(above, fmt.max_int, Mux(below, fmt.min_int, rounded[:w])))
            m.d.comb += self.out[c].eq(out)
        return m
