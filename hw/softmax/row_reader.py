"""Reads rows back from a ring buffer, one beat per cycle, starting each row as the last one ends."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int

__all__ = ["RowReader"]


class RowReader(wiring.Component):
    """The read side of a ring buffer that holds whole rows: which slot to read, and when.

    A row (``row_valid`` with its ``row_beats``) is taken while ``room`` (the
    stage's credit for what the row leaves downstream) and no row is under
    way or the one under way issues its last read in this cycle; then one
    read is issued per cycle while ``credit`` (a place for the read's
    result). So rows follow each other with no gap.

    Parameters
    ----------
    depth : int
        Slots of the ring, 2..65536.
    beats_cap : int
        Most beats of a row, 1..65537.

    Members
    -------
    row_valid, row_beats : In
        A row waits, of ``row_beats`` beats.
    room, credit : In(1)
        The row may be taken; a read may be issued.
    take : Out(1)
        The row is taken in this cycle (its stream's ``ready``: formed without ``row_valid``).
    load : Out(1)
        ``take & row_valid``: latch the row's own fields.
    issue, addr, first : Out
        A read of slot ``addr`` in this cycle, the row's first if ``first``.
    """

    def __init__(self, *, depth, beats_cap):
        self._depth = check_int("depth", depth, 2, 65536)
        self._beats_cap = check_int("beats_cap", beats_cap, 1, 65537)
        super().__init__({
            "row_valid": In(1), "row_beats": In(range(self._beats_cap + 1)),
            "room": In(1), "credit": In(1),
            "take": Out(1), "load": Out(1),
            "issue": Out(1), "addr": Out(range(self._depth)), "first": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        busy = Signal()
        left = Signal(range(self._beats_cap + 1))   # reads left in the row, this one included
        first = Signal(reset_less=True)
        ptr = Signal(range(self._depth))
        issue = busy & self.credit
        ending = issue & (left == 1)
        m.d.comb += [self.take.eq(self.room & (~busy | ending)), self.load.eq(self.take & self.row_valid),
                     self.issue.eq(issue), self.addr.eq(ptr), self.first.eq(first)]
        with m.If(issue):
            m.d.sync += [ptr.eq(Mux(ptr == self._depth - 1, 0, ptr + 1)), left.eq(left - 1), first.eq(0)]
        with m.If(ending):
            m.d.sync += busy.eq(0)
        with m.If(self.load):
            m.d.sync += [busy.eq(1), left.eq(self.row_beats), first.eq(1)]
        return m
