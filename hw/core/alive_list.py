"""The alive token list of the sequence: written in ascending order, streamed once per request."""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..fetcher.layouts import index_layout
from ..params import check_int

__all__ = ["AliveList"]


class AliveList(wiring.Component):
    """A list of token indices in a memory: ``clear`` and ``push`` build it, each ``request`` reads it.

    Parameters
    ----------
    max_context : int
        Largest list, 1..65536.

    Members
    -------
    clear : In(1)
        Empty the list (takes effect in the next cycle).
    push, push_index : In(1), In(index_bits)
        Append ``push_index`` (not in the cycle of ``clear``).
    allow : In(1)
        Requests may be taken (the writer is not building the list).
    request : In(stream.Signature(1))
        One beat per read of the whole list.
    alive : Out(stream of :func:`hw.fetcher.layouts.index_layout`)
        The list in order, ``last`` on the last index; an empty list is one
        beat with ``none`` and ``last``. Registered (the memory's read data).
    busy : Out(1)
        A list is being streamed: the writer must not change it.

    Latency: the first index is valid two cycles after the request is taken;
    then one index per cycle while ``alive`` is ready. The next request is
    taken in the cycle after the last beat goes.
    """

    def __init__(self, *, max_context):
        self._max_context = check_int("max_context", max_context, 1, 65536)
        super().__init__({
            "clear": In(1), "push": In(1), "push_index": In(self.index_bits), "allow": In(1),
            "request": In(stream.Signature(1)),
            "alive": Out(stream.Signature(index_layout(index_bits=self.index_bits))),
            "busy": Out(1),
        })

    #: Cycles from a request taken to the first index valid (an empty list's beat: one).
    LATENCY = 2

    max_context = property(lambda self: self._max_context)

    @property
    def index_bits(self):
        return max(1, (self._max_context - 1).bit_length())

    def elaborate(self, platform):
        m = Module()
        MC = self._max_context
        m.submodules.mem = mem = Memory(shape=unsigned(self.index_bits), depth=MC, init=[])
        wr, rd = mem.write_port(), mem.read_port(transparent_for=())
        count = Signal(range(MC + 1))
        with m.If(self.clear):
            m.d.sync += count.eq(0)
        with m.Elif(self.push):
            m.d.sync += count.eq(count + 1)
        m.d.comb += [wr.addr.eq(count), wr.data.eq(self.push_index), wr.en.eq(self.push & ~self.clear)]

        # The read port holds its data while the output is stalled (en low), so that
        # the beat's index comes straight from the memory's output register.
        active, pos = Signal(), Signal(range(MC + 1))
        valid, last, none = Signal(), Signal(), Signal()
        o = self.alive
        advance = ~valid | o.ready
        m.d.comb += [o.valid.eq(valid), o.p.index.eq(rd.data), o.p.last.eq(last), o.p.none.eq(none),
                     rd.addr.eq(pos), rd.en.eq(advance),
                     self.request.ready.eq(self.allow & ~active & ~valid),
                     self.busy.eq(active | valid)]
        with m.If(advance):
            m.d.sync += [valid.eq(active), last.eq(pos == count - 1), none.eq(0)]
            with m.If(active):
                m.d.sync += pos.eq(pos + 1)
                with m.If(pos == count - 1):
                    m.d.sync += active.eq(0)
        with m.If(self.request.valid & self.request.ready):
            with m.If(count == 0):
                m.d.sync += [valid.eq(1), last.eq(1), none.eq(1)]
            with m.Else():
                m.d.sync += [active.eq(1), pos.eq(0)]
        return m
