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
    (``golden.pv.out_format``).

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
        for c in range(self._cols):
            acc = Signal(signed(self._acc_bits), name=f"acc{c}", reset_less=True)
            total = Signal(signed(self._acc_bits), name=f"total{c}", reset_less=True)
            out = Signal(signed(fmt.bits), name=f"out{c}", reset_less=True)
            running = Signal(signed(self._acc_bits + 1), name=f"running{c}")
            m.d.comb += running.eq(Mux(self.first, 0, acc) + self.sum[c])
            with m.If(self.valid):
                m.d.sync += acc.eq(running)
                with m.If(self.last):
                    m.d.sync += total.eq(running)
            rounded = (total + (1 << (shift - 1))) >> shift
            m.d.sync += out.eq(Mux(rounded > fmt.max_int, fmt.max_int,
                                   Mux(rounded < fmt.min_int, fmt.min_int, rounded)))
            m.d.comb += self.out[c].eq(out)
        return m
