"""Per-position sums of a head's final probabilities: the token importance it adds."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.formats import PROB

from ..params import check_int

__all__ = ["ColumnSums"]


class ColumnSums(wiring.Component):
    """A block RAM of saturating sums, one per alive-list position.

    ``add`` is a read-modify-write: the sum is read in the cycle the
    probability comes and written back, plus it, in the next; positions of
    two consecutive adds must differ (a row's probabilities are at distinct
    positions). The sums of one head cannot reach the saturation bound for
    rows of ``max_context`` probabilities below 1.0; it is there by rule.

    Parameters
    ----------
    depth : int
        Positions, 1..65536.
    sum_bits : int
        Width of a sum, ``PROB.bits``..62.

    Members
    -------
    clear_en, clear_pos : In
        Write 0 at ``clear_pos``.
    add_en, add_pos, add_prob : In
        Add ``add_prob`` (U1.15) to the sum at ``add_pos``.
    rd_en, rd_pos : In, rd_data : Out
        Synchronous read: ``rd_data`` is the sum at the ``rd_pos`` of the
        last cycle with ``rd_en`` (not while adds run).
    """

    def __init__(self, *, depth, sum_bits):
        self._depth = check_int("depth", depth, 1, 65536)
        self._sum_bits = check_int("sum_bits", sum_bits, PROB.bits, 62)
        pos = max(1, (self._depth - 1).bit_length())
        super().__init__({
            "clear_en": In(1), "clear_pos": In(pos),
            "add_en": In(1), "add_pos": In(pos), "add_prob": In(PROB.bits),
            "rd_en": In(1), "rd_pos": In(pos), "rd_data": Out(self._sum_bits),
        })

    def elaborate(self, platform):
        m = Module()
        mem = m.submodules.mem = Memory(shape=self._sum_bits, depth=self._depth, init=[])
        wr, rd = mem.write_port(), mem.read_port(transparent_for=())
        pending = Signal()
        pending_pos = Signal.like(self.add_pos, reset_less=True)
        pending_prob = Signal.like(self.add_prob, reset_less=True)
        m.d.sync += [pending.eq(self.add_en), pending_pos.eq(self.add_pos), pending_prob.eq(self.add_prob)]
        top = (1 << self._sum_bits) - 1
        total = Signal(self._sum_bits + 1)
        m.d.comb += [
            rd.addr.eq(Mux(self.add_en, self.add_pos, self.rd_pos)), rd.en.eq(self.add_en | self.rd_en),
            self.rd_data.eq(rd.data),
            total.eq(rd.data + pending_prob),
            wr.addr.eq(Mux(pending, pending_pos, self.clear_pos)),
            wr.data.eq(Mux(pending, Mux(total > top, top, total), 0)),
            wr.en.eq(pending | self.clear_en),
        ]
        return m
