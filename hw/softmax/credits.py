"""A credit counter: a writer that may not be stalled keeps count of the room it has downstream."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int

__all__ = ["Credits"]


class Credits(wiring.Component):
    """``depth`` credits: ``take`` spends one, each bit of ``give`` returns one.

    The softmax's pipelines never stall: a stage issues work only while it
    holds a credit for every place the work will land (a buffer slot, a FIFO
    entry), and the consumer returns the credit when it frees the place.

    Parameters
    ----------
    depth : int
        Credits at reset, 1..65536.
    gives : int
        Return inputs (several places may free a slot in one cycle), 1..4.

    Members
    -------
    take : In(1)
        Spend a credit (only while ``available``).
    give : In(gives)
        Each set bit returns a credit.
    available : Out(1)
        At least one credit is left (a flip-flop). A ``take`` counts in the
        next cycle's ``available``, a ``give`` one cycle later: the returns
        are registered first, so that the consumer's handshake logic ends
        at a flip-flop, not in this counter's adder.
    """

    def __init__(self, *, depth, gives=1):
        self._depth = check_int("depth", depth, 1, 65536)
        self._gives = check_int("gives", gives, 1, 4)
        super().__init__({"take": In(1), "give": In(self._gives), "available": Out(1, init=1)})

    depth = property(lambda self: self._depth)

    def elaborate(self, platform):
        m = Module()
        count = Signal(range(self._depth + 1), init=self._depth)
        count_next = Signal.like(count)
        given = Signal(self._gives)
        m.d.sync += given.eq(self.give)
        m.d.comb += count_next.eq(count - self.take + sum(given[i] for i in range(self._gives)))
        m.d.sync += [count.eq(count_next), self.available.eq(count_next != 0)]
        return m
