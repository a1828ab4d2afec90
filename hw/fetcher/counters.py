"""Saturating event counters of the fetcher."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int

__all__ = ["FetchCounters", "COUNTERS"]

#: Counter names, in the order of the ``counts`` struct.
COUNTERS = ("bytes_msb", "bytes_lsb", "bursts", "beats", "rows_refetched", "stall_cycles")


class FetchCounters(wiring.Component):
    """Counts since reset, each saturating at its largest value (never wrapping).

    ``bytes_msb`` / ``bytes_lsb``: bytes of the rows of every run planned per
    plane (``golden.spatten``'s ``row_bytes`` per row); ``bursts``: AR
    handshakes; ``beats``: R handshakes; ``rows_refetched``: re-fetch
    decisions taken; ``stall_cycles``: cycles with a burst in flight and no R
    beat offered (waiting on the memory).

    Parameters
    ----------
    bits : int
        Width of each counter, 8..64.
    step_bits : int
        Width of the byte increments.

    Members
    -------
    add_msb, add_lsb : In(step_bits)
        Bytes to add this cycle.
    burst, beat, refetched, stall : In(1)
        Events of this cycle.
    counts : Out(StructLayout of ``bits`` per name of :data:`COUNTERS`)
        Registered, two cycles after the events (the events are registered first).
    """

    def __init__(self, *, bits=32, step_bits=16):
        self._bits = check_int("bits", bits, 8, 64)
        self._step_bits = check_int("step_bits", step_bits, 1, 32)
        super().__init__({
            "add_msb": In(self._step_bits), "add_lsb": In(self._step_bits),
            "burst": In(1), "beat": In(1), "refetched": In(1), "stall": In(1),
            "counts": Out(data.StructLayout({name: self._bits for name in COUNTERS})),
        })

    def elaborate(self, platform):
        m = Module()
        top = (1 << self._bits) - 1
        steps = [self.add_msb, self.add_lsb, self.burst, self.beat, self.refetched, self.stall]
        for name, event in zip(COUNTERS, steps, strict=True):
            # The events are registered first: they come late in their cycle, the adders are long.
            step = Signal.like(event, name=f"{name}_step")
            m.d.sync += step.eq(event)
            count = getattr(self.counts, name)
            total = Signal(self._bits + 1, name=f"{name}_next")
            m.d.comb += total.eq(count + step)
            m.d.sync += count.eq(Mux(total > top, top, total))
        return m
