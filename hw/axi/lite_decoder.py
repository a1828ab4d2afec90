"""AXI4-Lite address decoder: one master, several slaves at fixed windows, DECERR elsewhere."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int
from .lite import RESP_DECERR, AxiLiteSignature

__all__ = ["AxiLiteDecoder"]


class AxiLiteDecoder(wiring.Component):
    """Routes each access of ``s_axil`` to the window its address falls in.

    Window ``i`` is ``2**bits`` bytes at ``base`` (a multiple of its size);
    its slave port ``m<i>_axil`` sees the address within the window. An
    address in no window answers DECERR (zero read data) without a bus
    access. One read and one write are in flight at a time, each through
    registers on both sides (the host link it serves makes one access at a
    time): AW and W are taken in any order and offered together.

    Parameters
    ----------
    windows : sequence of (base, bits)
        Base address and address width (4..``addr_bits``) of each slave, 1..16 of them, not overlapping.
    addr_bits : int
        ``s_axil`` address width, 4..32.

    Members
    -------
    s_axil : In(AxiLiteSignature(addr_bits=addr_bits))
    m<i>_axil : Out(AxiLiteSignature(addr_bits=bits_i))

    Latency: a read's R four cycles after its AR handshake when the slave
    answers R the cycle after its own AR handshake; a write's B five cycles
    after the later of the AW and W handshakes when the slave answers B the
    cycle after taking AW and W. One access of each kind at a time.
    """

    def __init__(self, *, windows, addr_bits):
        self._addr_bits = check_int("addr_bits", addr_bits, 4, 32)
        windows = [tuple(w) for w in windows]
        check_int("len(windows)", len(windows), 1, 16)
        for i, (base, bits) in enumerate(windows):
            check_int(f"windows[{i}] bits", bits, 4, self._addr_bits)
            check_int(f"windows[{i}] base", base, 0, (1 << self._addr_bits) - (1 << bits))
            if base % (1 << bits):
                raise ValueError(f"windows[{i}] base must be a multiple of 2**{bits}, not {base:#x}")
            for j, (other, other_bits) in enumerate(windows[:i]):
                if base < other + (1 << other_bits) and other < base + (1 << bits):
                    raise ValueError(f"windows[{i}] at {base:#x} must not overlap windows[{j}] at {other:#x}")
        self._windows = windows
        super().__init__({"s_axil": In(AxiLiteSignature(addr_bits=self._addr_bits)),
                          **{f"m{i}_axil": Out(AxiLiteSignature(addr_bits=bits))
                             for i, (_, bits) in enumerate(windows)}})

    windows = property(lambda self: list(self._windows))

    def _ports(self):
        return [getattr(self, f"m{i}_axil") for i in range(len(self._windows))]

    def _decode(self, m, address, hit):
        """``hit`` (one bit per window) for ``address``."""
        for i, (base, bits) in enumerate(self._windows):
            m.d.comb += hit[i].eq(address[bits:] == base >> bits)

    def elaborate(self, platform):
        m = Module()
        self._reads(m)
        self._writes(m)
        return m

    def _reads(self, m):
        up, ports = self.s_axil, self._ports()
        address, hit = Signal(self._addr_bits), Signal(len(ports))
        rdata, rresp = Signal(32), Signal(2)
        m.d.comb += [up.rdata.eq(rdata), up.rresp.eq(rresp)]
        for port, (_, bits) in zip(ports, self._windows, strict=True):
            m.d.comb += port.araddr.eq(address[:bits])
        with m.FSM(name="read"):
            with m.State("IDLE"):
                m.d.comb += up.arready.eq(1)
                with m.If(up.arvalid):
                    m.d.sync += address.eq(up.araddr)
                    m.next = "DECODE"
            with m.State("DECODE"):
                self._decode(m, address, hit)
                m.d.sync += [rdata.eq(0), rresp.eq(RESP_DECERR)]
                m.next = "RESPOND"
                for i in range(len(ports)):
                    with m.If(hit[i]):
                        m.next = f"AR{i}"
            for i, port in enumerate(ports):
                with m.State(f"AR{i}"):
                    m.d.comb += port.arvalid.eq(1)
                    with m.If(port.arready):
                        m.next = f"R{i}"
                with m.State(f"R{i}"):
                    m.d.comb += port.rready.eq(1)
                    with m.If(port.rvalid):
                        m.d.sync += [rdata.eq(port.rdata), rresp.eq(port.rresp)]
                        m.next = "RESPOND"
            with m.State("RESPOND"):
                m.d.comb += up.rvalid.eq(1)
                with m.If(up.rready):
                    m.next = "IDLE"

    def _writes(self, m):
        up, ports = self.s_axil, self._ports()
        address, hit = Signal(self._addr_bits), Signal(len(ports))
        wdata, wstrb, bresp = Signal(32), Signal(4), Signal(2)
        have_aw, have_w, sent_aw, sent_w = Signal(), Signal(), Signal(), Signal()
        m.d.comb += up.bresp.eq(bresp)
        for port, (_, bits) in zip(ports, self._windows, strict=True):
            m.d.comb += [port.awaddr.eq(address[:bits]), port.wdata.eq(wdata), port.wstrb.eq(wstrb)]
        with m.FSM(name="write"):
            with m.State("IDLE"):
                m.d.comb += [up.awready.eq(~have_aw), up.wready.eq(~have_w)]
                with m.If(up.awvalid & ~have_aw):
                    m.d.sync += [address.eq(up.awaddr), have_aw.eq(1)]
                with m.If(up.wvalid & ~have_w):
                    m.d.sync += [wdata.eq(up.wdata), wstrb.eq(up.wstrb), have_w.eq(1)]
                with m.If(have_aw & have_w):
                    m.d.sync += [have_aw.eq(0), have_w.eq(0), sent_aw.eq(0), sent_w.eq(0)]
                    m.next = "DECODE"
            with m.State("DECODE"):
                self._decode(m, address, hit)
                m.d.sync += bresp.eq(RESP_DECERR)
                m.next = "RESPOND"
                for i in range(len(ports)):
                    with m.If(hit[i]):
                        m.next = f"AW{i}"
            for i, port in enumerate(ports):
                with m.State(f"AW{i}"):
                    m.d.comb += [port.awvalid.eq(~sent_aw), port.wvalid.eq(~sent_w)]
                    aw_taken, w_taken = sent_aw | port.awready, sent_w | port.wready
                    m.d.sync += [sent_aw.eq(aw_taken), sent_w.eq(w_taken)]
                    with m.If(aw_taken & w_taken):
                        m.next = f"B{i}"
                with m.State(f"B{i}"):
                    m.d.comb += port.bready.eq(1)
                    with m.If(port.bvalid):
                        m.d.sync += bresp.eq(port.bresp)
                        m.next = "RESPOND"
            with m.State("RESPOND"):
                m.d.comb += up.bvalid.eq(1)
                with m.If(up.bready):
                    m.next = "IDLE"
