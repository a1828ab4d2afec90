"""The top-k engine's input stage: score beats into the input buffer, in input order."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..compare import greater_than_const
from ..replicate import replicas
from .geometry import check_geometry
from .lane_buffer import buffer_write

__all__ = ["InputWriter"]


class InputWriter(wiring.Component):
    """Writes a request's score beats into the input buffer and hands them to round 1.

    The final pass reads the buffer in input order after the selection.

    Parameters
    ----------
    geometry : TopKGeometry

    Members
    -------
    start : In(1)
        Load the counters for a request of ``n`` elements (``n_lanes``: the
        sample lanes of its first beat, ``n_single``: ``n <= P``).
    scores : In(ArrayLayout(score, P))
        The score beat offered, registered every cycle.
    take : In(1)
        The beat is taken (its handshake, not a discarded beat).
    advance : In(1)
        A beat is offered in the input state: count it.
    beat : Out(ArrayLayout(score, P))
        The beat, a cycle after it is taken, when ``taken`` is set.
    taken : Out(2)
        Two copies of "the beat was taken in the previous cycle" (the
        round's issue and its counters).
    first_taken : Out(1)
        The request's first beat is taken (combinational): round 1's sample.
    first_lanes : Out(S)
        The lanes of the first beat among the sample's.
    last : Out(1)
        The next beat is the request's last.
    write : Out(:func:`hw.topk.lane_buffer.buffer_write`)

    Latency: a beat is written one cycle after it is taken, from registers
    (a write enable decoded from the handshake would fan out to every
    memory of the buffer).
    """

    def __init__(self, *, geometry):
        self._geometry = g = check_geometry(geometry)
        super().__init__({
            "start": In(1), "n": In(g.count_bits), "n_lanes": In(g.sample), "n_single": In(1),
            "scores": In(data.ArrayLayout(g.shape, g.lanes)), "take": In(1), "advance": In(1),
            "beat": Out(data.ArrayLayout(g.shape, g.lanes)), "taken": Out(2), "first_taken": Out(1),
            "first_lanes": Out(g.sample), "last": Out(1), "write": Out(buffer_write(g)),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        P, G = g.lanes, g.broadcast_copies
        first = Signal()             # the next beat is the request's first
        row = Signal(g.row_bits)     # beats accepted
        left = Signal(g.count_bits)  # elements not yet accepted
        # The beat and its row, registered every cycle (no enable).
        beat = Signal(data.ArrayLayout(g.shape, P), reset_less=True)
        m.d.sync += beat.eq(self.scores)
        rows = replicas(m, row, G, name="in_row_d", reset_less=True)
        takes = replicas(m, self.take, G, name="in_hs_d")
        # The round's copies of the handshake, kept apart from the buffer's
        # write enables (Yosys would merge them into one).
        taken = replicas(m, self.take, 2, name="hs_d")
        m.d.comb += [self.beat.eq(beat), self.taken.eq(Cat(*taken)), self.first_taken.eq(self.take & first)]
        for lane in range(P):
            copy = g.group(lane, G)
            m.d.comb += [self.write.addr[lane].eq(rows[copy]), self.write.data[lane].eq(beat[lane]),
                         self.write.en[lane].eq(takes[copy])]
        with m.If(self.start):
            m.d.sync += [row.eq(0), left.eq(self.n), self.last.eq(self.n_single),
                         self.first_lanes.eq(self.n_lanes), first.eq(1)]
        with m.If(self.advance):
            m.d.sync += [row.eq(row + 1), left.eq(left - P), first.eq(0),
                         self.last.eq(~greater_than_const(left, 2 * P))]
        return m
