"""A byte-stream to AXI4-Lite bridge: the host reaches the core's registers and memory over a UART."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from . import protocol
from .uart import UartRx, UartTx

__all__ = ["UartAxiLiteBridge", "UartBridge"]


def axil_master_members(addr_bits):
    """Flat AXI4-Lite master members (cocotbext-axi's names after the ``m_axil`` prefix)."""
    return {"m_axil_awaddr": Out(addr_bits), "m_axil_awprot": Out(3), "m_axil_awvalid": Out(1),
            "m_axil_awready": In(1), "m_axil_wdata": Out(32), "m_axil_wstrb": Out(4),
            "m_axil_wvalid": Out(1), "m_axil_wready": In(1), "m_axil_bresp": In(2),
            "m_axil_bvalid": In(1), "m_axil_bready": Out(1), "m_axil_araddr": Out(addr_bits),
            "m_axil_arprot": Out(3), "m_axil_arvalid": Out(1), "m_axil_arready": In(1),
            "m_axil_rdata": In(32), "m_axil_rresp": In(2), "m_axil_rvalid": In(1),
            "m_axil_rready": Out(1)}


class UartAxiLiteBridge(wiring.Component):
    """Requests of :mod:`hw.board.protocol` from ``rx_data``, one AXI4-Lite access per word,
    answers on ``tx_data``.

    One word at a time: a write takes its four data bytes, offers AW and W
    together (each drops when taken), waits for B and sends its status; a
    read offers AR, waits for R and sends its status and data. A request
    whose address is not a multiple of 4 makes no access and answers
    :data:`~hw.board.protocol.MISALIGNED` per word (its write data is still
    taken). A request is dropped when its next byte does not come within
    ``timeout_cycles`` (nothing answers), so the bridge is idle again for a
    host that lost its place. Bus accesses have no time limit: AXI4-Lite
    requires every access to be answered.

    Parameters
    ----------
    addr_bits : int
        AXI4-Lite address width, 12..32 (requests' upper address bits past it are ignored).
    timeout_cycles : int
        Cycles a request may wait for its next byte (``protocol.TIMEOUT_BYTES`` byte times).

    Members
    -------
    rx_data : In(stream.Signature(8)), tx_data : Out(stream.Signature(8))
    m_axil_* : AXI4-Lite master (flat names)
    """

    def __init__(self, *, addr_bits=32, timeout_cycles):
        if isinstance(addr_bits, bool) or not isinstance(addr_bits, int) or not 12 <= addr_bits <= 32:
            raise ValueError(f"addr_bits must be an integer in 12..32, not {addr_bits!r}")
        if isinstance(timeout_cycles, bool) or not isinstance(timeout_cycles, int) or timeout_cycles < 16:
            raise ValueError(f"timeout_cycles must be an integer >= 16, not {timeout_cycles!r}")
        self._addr_bits, self._timeout = addr_bits, timeout_cycles
        super().__init__({"rx_data": In(stream.Signature(8)), "tx_data": Out(stream.Signature(8)),
                          **axil_master_members(addr_bits)})

    def elaborate(self, platform):
        m = Module()
        op = Signal(8)
        address = Signal(32)
        words_left = Signal(9)           # words still to do, 1..256
        data = Signal(32)
        byte_index = Signal(3)
        answer = Signal(40)              # status, then the word's bytes, LSB first
        answer_left = Signal(3)
        waiting = Signal(range(self._timeout + 1))
        misaligned = address[:2] != 0
        aw_done, w_done = Signal(), Signal()

        rx, tx = self.rx_data, self.tx_data
        m.d.comb += [self.m_axil_awaddr.eq(address), self.m_axil_araddr.eq(address),
                     self.m_axil_wdata.eq(data), self.m_axil_wstrb.eq(0xF),
                     tx.payload.eq(answer[:8]), tx.valid.eq(answer_left != 0)]
        with m.If(tx.valid & tx.ready):
            m.d.sync += [answer.eq(answer >> 8), answer_left.eq(answer_left - 1)]

        def take_byte():
            """``rx.ready`` in a request's middle, and the time limit on its next byte."""
            m.d.comb += rx.ready.eq(1)
            with m.If(rx.valid):
                m.d.sync += waiting.eq(0)
            with m.Elif(waiting == self._timeout):
                m.next = "IDLE"
            with m.Else():
                m.d.sync += waiting.eq(waiting + 1)

        def answered(next_state_if_more):
            """After a word's answer is queued: the next word, or the next request."""
            m.d.sync += [words_left.eq(words_left - 1), address.eq(address + 4), byte_index.eq(0),
                         waiting.eq(0)]
            with m.If(words_left == 1):
                m.next = "IDLE"
            with m.Else():
                m.next = next_state_if_more

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += rx.ready.eq(answer_left == 0)
                with m.If(rx.valid & rx.ready):
                    m.d.sync += [op.eq(rx.payload), byte_index.eq(0), waiting.eq(0)]
                    with m.If((rx.payload == protocol.WRITE) | (rx.payload == protocol.READ)):
                        m.next = "ADDRESS"
                    with m.Else():
                        m.d.sync += [answer.eq(protocol.BAD_OP), answer_left.eq(1)]
            with m.State("ADDRESS"):
                take_byte()
                with m.If(rx.valid):
                    m.d.sync += [address.eq(Cat(address[8:], rx.payload)), byte_index.eq(byte_index + 1)]
                    with m.If(byte_index == 3):
                        m.next = "COUNT"
            with m.State("COUNT"):
                take_byte()
                with m.If(rx.valid):
                    m.d.sync += [words_left.eq(rx.payload + 1), byte_index.eq(0)]
                    with m.If(op == protocol.READ):
                        m.next = "READ"
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):
                take_byte()
                with m.If(rx.valid):
                    m.d.sync += [data.eq(Cat(data[8:], rx.payload)), byte_index.eq(byte_index + 1)]
                    with m.If(byte_index == 3):
                        m.next = "WRITE"
            with m.State("WRITE"):
                with m.If(answer_left == 0):
                    with m.If(misaligned):
                        m.d.sync += [answer.eq(protocol.MISALIGNED), answer_left.eq(1)]
                        answered("DATA")
                    with m.Else():
                        # AW and W are offered together; each drops once taken.
                        m.d.comb += [self.m_axil_awvalid.eq(~aw_done), self.m_axil_wvalid.eq(~w_done)]
                        aw_taken = aw_done | self.m_axil_awready
                        w_taken = w_done | self.m_axil_wready
                        m.d.sync += [aw_done.eq(aw_taken), w_done.eq(w_taken)]
                        with m.If(aw_taken & w_taken):
                            m.next = "WRITE_RESPONSE"
            with m.State("WRITE_RESPONSE"):
                m.d.sync += [aw_done.eq(0), w_done.eq(0)]
                m.d.comb += self.m_axil_bready.eq(1)
                with m.If(self.m_axil_bvalid):
                    m.d.sync += [answer.eq(self.m_axil_bresp), answer_left.eq(1)]
                    answered("DATA")
            with m.State("READ"):
                with m.If(answer_left == 0):
                    with m.If(misaligned):
                        m.d.sync += [answer.eq(protocol.MISALIGNED), answer_left.eq(5)]
                        answered("READ")
                    with m.Else():
                        m.d.comb += self.m_axil_arvalid.eq(1)
                        with m.If(self.m_axil_arready):
                            m.next = "READ_RESPONSE"
            with m.State("READ_RESPONSE"):
                m.d.comb += self.m_axil_rready.eq(1)
                with m.If(self.m_axil_rvalid):
                    word = Mux(self.m_axil_rresp == 0, self.m_axil_rdata, 0)
                    m.d.sync += [answer.eq(Cat(self.m_axil_rresp, Const(0, 6), word)), answer_left.eq(5)]
                    answered("READ")
        return m


class UartBridge(wiring.Component):
    """:class:`UartAxiLiteBridge` between a :class:`UartRx` and a :class:`UartTx`: the serial
    pins on one side, an AXI4-Lite master on the other.

    Parameters
    ----------
    clocks_per_bit : int
        Clock over baud rate, 4..2**20.
    addr_bits : int
        AXI4-Lite address width, 12..32.

    Members
    -------
    rx : In(1), tx : Out(1)
        The serial pins (idle high).
    m_axil_* : AXI4-Lite master.
    framing_errors, overruns : Out(16)
        From the receiver.
    """

    RX_FIFO_DEPTH = 16

    def __init__(self, *, clocks_per_bit, addr_bits=32):
        self._cpb, self._addr_bits = clocks_per_bit, addr_bits
        self._rx = UartRx(clocks_per_bit=clocks_per_bit)
        self._tx = UartTx(clocks_per_bit=clocks_per_bit)
        self._bridge = UartAxiLiteBridge(addr_bits=addr_bits,
                                         timeout_cycles=protocol.TIMEOUT_BYTES * 10 * clocks_per_bit)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "framing_errors": Out(16),
                          "overruns": Out(16), **axil_master_members(addr_bits)})

    @property
    def clocks_per_bit(self):
        return self._cpb

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = self._rx
        m.submodules.tx = tx = self._tx
        m.submodules.bridge = bridge = self._bridge
        # A host sends a burst's words back to back; the FIFO holds them while a word's bus
        # access and answer take their time.
        m.submodules.rx_fifo = fifo = SyncFIFOBuffered(width=8, depth=self.RX_FIFO_DEPTH)
        m.d.comb += [fifo.w_data.eq(rx.data.payload), fifo.w_en.eq(rx.data.valid),
                     rx.data.ready.eq(fifo.w_rdy),
                     bridge.rx_data.payload.eq(fifo.r_data), bridge.rx_data.valid.eq(fifo.r_rdy),
                     fifo.r_en.eq(bridge.rx_data.ready)]
        wiring.connect(m, bridge.tx_data, tx.data)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx), self.framing_errors.eq(rx.framing_errors),
                     self.overruns.eq(rx.overruns)]
        for name, member in self.signature.members.items():
            if name.startswith("m_axil_"):
                ours, theirs = getattr(self, name), getattr(bridge, name)
                m.d.comb += (theirs.eq(ours) if member.flow == In else ours.eq(theirs))
        return m
