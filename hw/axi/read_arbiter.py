"""AXI4 read arbiter: several read masters share one port, R beats routed back by ID."""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..fetcher.axi import AxiReadSignature
from ..params import check_int

__all__ = ["AxiReadArbiter"]

_AR_FIELDS = ("araddr", "arlen", "arsize", "arburst", "arlock", "arcache", "arprot")


class AxiReadArbiter(wiring.Component):
    """Round-robin over ``masters`` AXI4 read masters, one burst (AR) at a time.

    The shared port's ARID is the master's index above the master's own ID
    (``id_bits + index_bits`` bits), and each R beat goes back to the master
    its RID names, with that master's ``rready``. So every master sees its
    own bursts in its own order (the fetcher's single-ID in-order reads stay
    in order), whatever the memory does between masters, and no master's
    bursts wait behind another's: the arbiter holds no R state. A master
    that stops taking its R beats stalls the shared R channel, as on any
    AXI interconnect.

    The AR path is one register: an AR taken from a master at one edge is
    offered on the shared port from the next, and a new one is taken
    whenever the register is empty or being emptied (one AR per cycle).
    Grants rotate: after master ``i`` the search starts at ``i + 1``.

    Parameters
    ----------
    masters : int
        Read masters, 2..16.
    addr_bits, data_bits, id_bits : int
        Each master's port (``hw.fetcher.axi.AxiReadSignature``).

    Members
    -------
    s<i>_axi : In(AxiReadSignature(id_bits=id_bits)), one per master
    m_axi : Out(AxiReadSignature(id_bits=id_bits + index_bits))
    """

    def __init__(self, *, masters, addr_bits, data_bits, id_bits):
        self._masters = check_int("masters", masters, 2, 16)
        self._id_bits = check_int("id_bits", id_bits, 1, 15)
        self._index_bits = (self._masters - 1).bit_length()
        if self._id_bits + self._index_bits > 16:
            raise ValueError(f"id_bits must be in 1..{16 - self._index_bits} for {masters} masters, "
                             f"not {id_bits!r}")
        port = AxiReadSignature(addr_bits=addr_bits, data_bits=data_bits, id_bits=self._id_bits)
        members = {f"s{i}_axi": In(port) for i in range(self._masters)}
        members["m_axi"] = Out(AxiReadSignature(addr_bits=addr_bits, data_bits=data_bits,
                                                id_bits=self._id_bits + self._index_bits))
        super().__init__(members)

    @property
    def masters(self):
        return self._masters

    @property
    def index_bits(self):
        """ID bits naming the master on the shared port."""
        return self._index_bits

    @property
    def latency(self):
        """Cycles an AR spends in the arbiter (R beats: none)."""
        return 1

    def ports(self):
        return [getattr(self, f"s{i}_axi") for i in range(self._masters)]

    def elaborate(self, platform):
        m = Module()
        out = self.m_axi
        ports = self.ports()
        n = self._masters

        # AR: a register in front of the shared port; round-robin grant into it.
        held = Signal()
        last = Signal(range(n), init=n - 1)
        taking = ~held | out.arready
        grant = Signal(n)
        requests = Cat(*(p.arvalid for p in ports))
        # Masters in search order after `last`: the first requesting one wins.
        with m.Switch(last):
            for previous in range(n):
                with m.Case(previous):
                    order = [(previous + 1 + k) % n for k in range(n)]
                    for k, index in enumerate(order):
                        earlier = Cat(*(requests[j] for j in order[:k]))
                        m.d.comb += grant[index].eq(requests[index] & (earlier == 0))
        for i, p in enumerate(ports):
            m.d.comb += p.arready.eq(taking & grant[i])
        m.d.comb += out.arvalid.eq(held)
        with m.If(out.arvalid & out.arready):
            m.d.sync += held.eq(0)
        with m.If(taking & (grant != 0)):
            m.d.sync += held.eq(1)
            for i, p in enumerate(ports):
                with m.If(grant[i]):
                    m.d.sync += [last.eq(i), out.arid.eq(Cat(p.arid, Const(i, self._index_bits)))]
                    m.d.sync += [getattr(out, f).eq(getattr(p, f)) for f in _AR_FIELDS]

        # R: each beat to the master its ID names.
        owner = out.rid[self._id_bits:]
        for i, p in enumerate(ports):
            mine = owner == i
            m.d.comb += [p.rvalid.eq(out.rvalid & mine), p.rid.eq(out.rid[:self._id_bits]),
                         p.rdata.eq(out.rdata), p.rresp.eq(out.rresp), p.rlast.eq(out.rlast)]
            with m.If(mine):
                m.d.comb += out.rready.eq(p.rready)
        return m
