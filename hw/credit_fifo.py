"""FIFO for a writer that holds credits, with a registered read side."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .params import check_int, check_pow2

__all__ = ["CreditFifo"]


class CreditFifo(wiring.Component):
    """Synchronous FIFO whose read side comes straight from flip-flops.

    The writer holds one credit per entry (``depth`` credits in all) and gets
    it back when the entry is read, so the FIFO is never written when full
    and needs no full check: ``w_en`` is the memory's write enable as it is
    (a ready signal decoded from a level would sit between the writer's
    register and every LUT-RAM cell). The read side is an output register
    refilled from the memory: ``r_valid`` and ``r_data`` are flip-flops, and
    the fill state is kept in registered flags, not decoded from pointers.

    Parameters
    ----------
    width : int
        Bits per entry, 1..4096.
    depth : int
        Entries the writer may have in the FIFO (its credits): a power of two
        in 2..1024. The memory holds ``depth`` entries, the output register
        one more.

    Members
    -------
    w_en, w_data : In
        Write an entry (at most ``depth`` unread entries, by credits).
    r_valid, r_data : Out
        The oldest entry (registers).
    r_en : In(1)
        Read it (``r_valid & r_en`` pops; its credit goes back to the writer).

    Latency :attr:`latency` = 2 cycles from ``w_en`` to ``r_valid`` when
    empty (memory write, then the output register's load); throughput one
    entry per cycle.
    """

    def __init__(self, *, width, depth):
        self._width = check_int("width", width, 1, 4096)
        self._depth = check_pow2("depth", depth, 2, 1024)
        super().__init__({
            "w_en": In(1), "w_data": In(self._width),
            "r_valid": Out(1), "r_data": Out(self._width), "r_en": In(1),
        })

    width = property(lambda self: self._width)
    depth = property(lambda self: self._depth)

    LATENCY = 2

    @property
    def latency(self):
        return self.LATENCY

    def elaborate(self, platform):
        m = Module()
        m.submodules.storage = storage = Memory(shape=self._width, depth=self._depth, init=[])
        w_port = storage.write_port()
        r_port = storage.read_port(domain="comb")
        produce = Signal(range(self._depth))
        consume = Signal(range(self._depth))
        count = Signal(range(self._depth + 1))      # entries in the memory
        nonempty, several = Signal(), Signal()      # count != 0, count >= 2 (registers)

        load = Signal()
        m.d.comb += [
            w_port.addr.eq(produce), w_port.data.eq(self.w_data), w_port.en.eq(self.w_en),
            r_port.addr.eq(consume),
            load.eq(nonempty & (~self.r_valid | self.r_en)),
        ]
        with m.If(self.w_en):
            m.d.sync += produce.eq(produce + 1)      # depth is a power of two: wraps
        with m.If(load):
            m.d.sync += [consume.eq(consume + 1), self.r_data.eq(r_port.data)]
        m.d.sync += self.r_valid.eq(load | (self.r_valid & ~self.r_en))

        # count' = count + w_en - load; the flags are formed from compares of
        # the old count (registers), w_en and load, not from count'.
        # Every next value is formed for both outcomes of the read handshake
        # from registers and w_en, and the handshake only selects (it arrives
        # late: it is the consumer's ready, and it was the engine's critical
        # path through an adder and then through the flags' logic).
        w, ld = self.w_en, load
        up, down = Signal.like(count), Signal.like(count)
        m.d.comb += [up.eq(count + 1), down.eq(count - 1)]
        m.d.sync += [
            count.eq(Mux(ld, Mux(w, count, down), Mux(w, up, count))),
            # count' >= 1 and count' >= 2 if an entry is loaded (count - 1 + w)
            # or not (count + w).
            nonempty.eq(Mux(ld, w | several, w | nonempty)),
            several.eq(Mux(ld, (count >= 3) | ((count == 2) & w), several | ((count == 1) & w))),
        ]
        return m
