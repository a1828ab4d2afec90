"""Keeps an AXI4 read port consistent across a soft reset of its masters: bursts in flight drained."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..fetcher.axi import AxiReadSignature
from ..params import check_int

__all__ = ["AxiReadDrain"]


class AxiReadDrain(wiring.Component):
    """Passes AR and R through, counting the bursts in flight; after ``flush``, swallows them.

    A master reset in the middle of a read (the core's ``CTRL.soft_reset``)
    forgets the bursts it has asked for, but the memory still answers them;
    those beats would go to the next request. This block sits between the
    masters (reset) and the memory port (not reset): it counts AR handshakes
    minus R ``last`` handshakes, and from a ``flush`` pulse until that count is
    zero it takes every R beat itself (``rready`` high, nothing forwarded) and
    lets no new AR through. Comb paths only (no latency); ``draining`` tells
    when the port is busy with old bursts.

    Parameters
    ----------
    addr_bits, data_bits, id_bits : int
        The read port (:class:`hw.fetcher.axi.AxiReadSignature`).
    outstanding : int
        Bursts in flight at most, 1..65536 (the counter's range).

    Members
    -------
    s_axi : In(AxiReadSignature), to the masters
    m_axi : Out(AxiReadSignature), to the memory
    flush : In(1)
    draining : Out(1)
    """

    def __init__(self, *, addr_bits, data_bits, id_bits, outstanding):
        self._outstanding = check_int("outstanding", outstanding, 1, 65536)
        sig = AxiReadSignature(addr_bits=addr_bits, data_bits=data_bits, id_bits=id_bits)
        super().__init__({"s_axi": In(sig), "m_axi": Out(sig), "flush": In(1), "draining": Out(1)})

    def elaborate(self, platform):
        m = Module()
        s, p = self.s_axi, self.m_axi
        count = Signal(range(self._outstanding + 1))
        draining = Signal()
        for name, member in p.signature.members.items():
            if name in ("arvalid", "arready", "rvalid", "rready"):
                continue
            outer, inner = getattr(p, name), getattr(s, name)
            m.d.comb += outer.eq(inner) if member.flow == Out else inner.eq(outer)
        m.d.comb += [p.arvalid.eq(s.arvalid & ~draining), s.arready.eq(p.arready & ~draining),
                     s.rvalid.eq(p.rvalid & ~draining), p.rready.eq(Mux(draining, 1, s.rready)),
                     self.draining.eq(draining)]
        issued = p.arvalid & p.arready
        done = p.rvalid & p.rready & p.rlast
        m.d.sync += count.eq(count + issued - done)
        with m.If(self.flush):
            m.d.sync += draining.eq(1)
        with m.Elif(draining & ((count == 0) | ((count == 1) & done))):
            m.d.sync += draining.eq(0)
        return m
