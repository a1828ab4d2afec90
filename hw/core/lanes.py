"""Lane converters: beats of several lanes to one element per cycle, and back."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int

__all__ = ["Serializer", "Packer", "lanes_layout", "element_layout"]


def lanes_layout(shape, lanes):
    """A beat of ``lanes`` elements: the first ``count`` hold data, ``last`` ends a list."""
    return data.StructLayout({"lanes": data.ArrayLayout(shape, lanes), "count": range(lanes + 1),
                              "last": 1})


def element_layout(shape):
    """One element; ``none``: a beat of no element that only carries ``last``."""
    return data.StructLayout({"value": shape, "last": 1, "none": 1})


class _LaneConverter(wiring.Component):
    """A converter between beats of ``lanes`` elements of ``shape`` and one element per cycle.

    Parameters
    ----------
    shape : shape-like
        One element.
    lanes : int
        1..64.
    """

    def __init__(self, *, shape, lanes):
        self._lanes = check_int("lanes", lanes, 1, 64)
        super().__init__(self._ports(shape, self._lanes))

    lanes = property(lambda self: self._lanes)


class Serializer(_LaneConverter):
    """Beats of ``lanes`` elements in, one element per cycle out, in lane order.

    A beat of ``count = 0`` gives one element with ``none`` (so that its
    ``last`` is not lost). The next beat is taken in the cycle the current
    one's last element goes: ``count`` cycles per beat, no bubble.
    Parameters as :class:`_LaneConverter`.

    Members
    -------
    i : In(stream.Signature(lanes_layout(shape, lanes)))
    o : Out(stream.Signature(element_layout(shape)))
        Combinational from the held beat (a lane multiplexer).
    """

    def _ports(self, shape, lanes):
        return {"i": In(stream.Signature(lanes_layout(shape, lanes))),
                "o": Out(stream.Signature(element_layout(shape)))}

    def elaborate(self, platform):
        m = Module()
        held = Signal(self.i.p.shape(), reset_less=True)
        full = Signal()
        lane = Signal(range(self._lanes))
        final = (held.count == 0) | (lane == held.count - 1)
        m.d.comb += [
            self.o.valid.eq(full), self.o.p.value.eq(held.lanes[lane]),
            self.o.p.last.eq(held.last & final), self.o.p.none.eq(held.count == 0),
            self.i.ready.eq(~full | (self.o.ready & final)),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += lane.eq(lane + 1)
            with m.If(final):
                m.d.sync += [lane.eq(0), full.eq(0)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [held.eq(self.i.p), full.eq(1)]
        return m


class Packer(_LaneConverter):
    """One element per cycle in, beats of ``lanes`` elements out: full beats, then the rest at ``last``.

    Parameters as :class:`_LaneConverter`.

    Members
    -------
    i : In(stream.Signature(StructLayout({value, last})))
    o : Out(stream.Signature(lanes_layout(shape, lanes)))
        Registered: a beat leaves the cycle after its last element is taken;
        one element per cycle while ``o`` is taken.
    """

    def _ports(self, shape, lanes):
        return {"i": In(stream.Signature(data.StructLayout({"value": shape, "last": 1}))),
                "o": Out(stream.Signature(lanes_layout(shape, lanes)))}

    def elaborate(self, platform):
        m = Module()
        N = self._lanes
        buf = Signal(self.o.p.lanes.shape(), reset_less=True)
        fill = Signal(range(N))
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            with m.If((fill == N - 1) | self.i.p.last):
                m.d.sync += [self.o.valid.eq(1), self.o.p.count.eq(fill + 1), self.o.p.last.eq(self.i.p.last),
                             fill.eq(0)]
                for lane in range(N):
                    m.d.sync += self.o.p.lanes[lane].eq(buf[lane])
                    with m.If(fill == lane):
                        m.d.sync += self.o.p.lanes[lane].eq(self.i.p.value)
            with m.Else():
                m.d.sync += fill.eq(fill + 1)
                for lane in range(N):
                    with m.If(fill == lane):
                        m.d.sync += buf[lane].eq(self.i.p.value)
        return m
