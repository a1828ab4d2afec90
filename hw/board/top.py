"""The board top: the SpAtten core, its block-RAM memory, and the UART host link."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..axi.lite import AxiLiteSignature
from ..axi.lite_decoder import AxiLiteDecoder
from ..axi.ram import AxiRam
from ..core.core import SpattenCore
from ..core.regmap import ADDR_BITS
from ..params import check_int
from .bridge import UartBridge

__all__ = ["BoardTop", "REGS_BASE", "RAM_BASE", "HOST_ADDR_BITS"]

#: The host's address map (the bridge's 32-bit AXI4-Lite space): the core's registers, then the RAM.
REGS_BASE = 0x0000_0000
RAM_BASE = 0x1000_0000
HOST_ADDR_BITS = 32


class BoardTop(wiring.Component):
    """:class:`~hw.core.core.SpattenCore` with ``ram_bytes`` of :class:`~hw.axi.ram.AxiRam` as its
    memory and a :class:`~hw.board.bridge.UartBridge` to the host.

    ::

        rx/tx -- UartBridge -- AxiLiteDecoder --+-- REGS_BASE: core s_axil (4 KB)
                                                +-- RAM_BASE:  RAM s_axil (the same bytes as below)
        core m_axi (AXI4) -- RAM s_axi, at address 0

    The core sees the RAM at address 0 (beats past ``ram_bytes`` answer
    DECERR, which the core reports as a read or write error); the host sees
    it at ``RAM_BASE``. Any other host address answers DECERR.

    Parameters
    ----------
    cfg : SpattenConfig
        The core's configuration.
    ram_bytes : int
        Bytes of block RAM (``hw.axi.ram.AxiRam.size_bytes``).
    clock_hz, baud : int
        The clock and the serial line's rate (``clock_hz // baud`` is ``UartBridge.clocks_per_bit``).

    Members
    -------
    rx : In(1), tx : Out(1)
        The serial pins (idle high).
    irq : Out(1)
        The core's interrupt.
    """

    def __init__(self, cfg, ram_bytes, *, clock_hz, baud):
        check_int("baud", baud, 1, 10**8)
        check_int("clock_hz", clock_hz, 4 * baud, 10**9)
        self._clock_hz, self._baud = clock_hz, baud
        self._ram = AxiRam(size_bytes=ram_bytes, addr_bits=cfg.axi_addr_bits, data_bits=cfg.axi_data_bits,
                           read_id_bits=cfg.axi_id_bits, write_id_bits=cfg.axi_id_bits)
        self._core = SpattenCore(cfg)
        self._bridge = UartBridge(clocks_per_bit=clock_hz // baud, addr_bits=HOST_ADDR_BITS)
        self._decoder = AxiLiteDecoder(windows=[(REGS_BASE, ADDR_BITS), (RAM_BASE, self._ram.lite_addr_bits)],
                                       addr_bits=HOST_ADDR_BITS)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "irq": Out(1)})

    config = property(lambda self: self._core.config)
    ram_bytes = property(lambda self: self._ram.size_bytes)
    clock_hz = property(lambda self: self._clock_hz)
    baud = property(lambda self: self._baud)

    def elaborate(self, platform):
        m = Module()
        core = m.submodules.core = self._core
        ram = m.submodules.ram = self._ram
        bridge = m.submodules.bridge = self._bridge
        decoder = m.submodules.decoder = self._decoder
        m.d.comb += [bridge.rx.eq(self.rx), self.tx.eq(bridge.tx), self.irq.eq(core.irq)]
        # The bridge's master members are flat (``m_axil_awaddr``), the decoder's a signature.
        for name, member in AxiLiteSignature(addr_bits=HOST_ADDR_BITS).members.items():
            ours, theirs = getattr(bridge, f"m_axil_{name}"), getattr(decoder.s_axil, name)
            m.d.comb += theirs.eq(ours) if member.flow == Out else ours.eq(theirs)
        wiring.connect(m, decoder.m0_axil, core.s_axil)
        wiring.connect(m, decoder.m1_axil, ram.s_axil)
        wiring.connect(m, core.m_axi, ram.s_axi)
        return m
