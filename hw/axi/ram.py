"""Block RAM behind two slave ports: AXI4 (read and write, INCR bursts) and AXI4-Lite."""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from ..params import check_int, check_pow2
from .lite import RESP_DECERR, RESP_OKAY, AxiLiteSignature
from .write import AxiSignature

__all__ = ["AxiRam"]


class AxiRam(wiring.Component):
    """``size_bytes`` of block RAM, one row per ``data_bits`` word, shared by an AXI4 slave
    (``s_axi``, a memory port such as the core's ``m_axi``) and an AXI4-Lite slave (``s_axil``,
    the host's 32-bit window onto the same bytes, byte address 0 on both).

    The memory has one registered read port and one write port with byte
    enables (a simple dual-port block RAM). A beat of either port at a byte
    address at or above ``size_bytes`` touches no row and answers DECERR
    (zero data); nothing answers SLVERR.

    ``s_axi`` serves one read burst and one write burst at a time, INCR (the
    burst type is not decoded), any ``ARSIZE`` / ``AWSIZE`` up to the port
    width (the address steps by the size, a read beat carries the whole row,
    a write beat writes the bytes its strobes name). A write burst answers
    DECERR on B when any of its beats was out of range. ``s_axil`` takes AW
    and W together and has the rows' ports first: a Lite access holds the
    AXI4 side off for that one cycle.

    Parameters
    ----------
    size_bytes : int
        Bytes of memory, a multiple of ``data_bits // 8``, up to 2**24.
    addr_bits : int
        ``s_axi`` address width, 12..64.
    data_bits : int
        ``s_axi`` data width (a row), a power of two in 32..1024.
    read_id_bits, write_id_bits : int
        ``s_axi`` ID widths, 1..16.

    Members
    -------
    s_axi : In(hw.axi.write.AxiSignature)
    s_axil : In(hw.axi.lite.AxiLiteSignature(addr_bits=lite_addr_bits))

    Latency and throughput: an R beat ``read_latency`` cycles after its AR
    handshake, then one beat per cycle; a W beat per cycle, B the cycle after
    WLAST; a new AR the cycle the burst's last beat is read, a new AW once B
    is taken. ``s_axil``: R and B the cycle after the handshake.
    """

    #: R beats read and not yet taken: a burst runs one beat a cycle while R is taken each cycle.
    R_FIFO_DEPTH = 4

    def __init__(self, *, size_bytes, addr_bits, data_bits, read_id_bits, write_id_bits):
        self._data_bits = check_pow2("data_bits", data_bits, 32, 1024)
        self._row_bytes = self._data_bits // 8
        self._size = check_int("size_bytes", size_bytes, self._row_bytes, 1 << 24)
        if self._size % self._row_bytes:
            raise ValueError(f"size_bytes must be a multiple of {self._row_bytes} (data_bits // 8), "
                             f"not {size_bytes!r}")
        self._port = AxiSignature(addr_bits=addr_bits, data_bits=data_bits, read_id_bits=read_id_bits,
                                  write_id_bits=write_id_bits)
        super().__init__({"s_axi": In(self._port),
                          "s_axil": In(AxiLiteSignature(addr_bits=self.lite_addr_bits))})

    size_bytes = property(lambda self: self._size)
    data_bits = property(lambda self: self._data_bits)
    rows = property(lambda self: self._size // self._row_bytes)
    read_latency = property(lambda self: 3)

    @property
    def lite_addr_bits(self):
        """``s_axil`` address width: enough for ``size_bytes`` (at least 4)."""
        return max(4, (self._size - 1).bit_length())

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=self._data_bits, depth=self.rows, init=[])
        self._rd, self._wr = mem.read_port(), mem.write_port(granularity=8)
        lite_read, lite_write = self._lite(m)
        self._reads(m, lite_read)
        self._writes(m, lite_write)
        return m

    def _row(self, address):
        return address[(self._row_bytes - 1).bit_length():]

    def _lite(self, m):
        """The AXI4-Lite side; returns its read and write strobes of the rows' ports this cycle."""
        bus, rd, wr = self.s_axil, self._rd, self._wr
        lanes = self._data_bits // 32
        rvalid, rdata, rresp = Signal(), Signal(32), Signal(2)
        pending, lane = Signal(), Signal(range(lanes))
        bvalid, bresp = Signal(), Signal(2)
        m.d.comb += [bus.rvalid.eq(rvalid), bus.rdata.eq(rdata), bus.rresp.eq(rresp),
                     bus.bvalid.eq(bvalid), bus.bresp.eq(bresp)]
        lane_of = (lambda a: a[2:2 + (lanes - 1).bit_length()]) if lanes > 1 else (lambda a: Const(0))

        read = Signal()
        m.d.comb += [bus.arready.eq(~rvalid & ~pending), read.eq(bus.arvalid & bus.arready)]
        with m.If(rvalid & bus.rready):
            m.d.sync += rvalid.eq(0)
        with m.If(pending):
            m.d.sync += [rdata.eq(rd.data.word_select(lane, 32)), rresp.eq(RESP_OKAY), rvalid.eq(1),
                         pending.eq(0)]
        with m.If(read):
            with m.If(bus.araddr < self._size):
                m.d.sync += [pending.eq(1), lane.eq(lane_of(bus.araddr))]
            with m.Else():
                m.d.sync += [rdata.eq(0), rresp.eq(RESP_DECERR), rvalid.eq(1)]

        write, in_range = Signal(), Signal()
        m.d.comb += [write.eq(bus.awvalid & bus.wvalid & ~bvalid), bus.awready.eq(write),
                     bus.wready.eq(write), in_range.eq(bus.awaddr < self._size)]
        with m.If(bvalid & bus.bready):
            m.d.sync += bvalid.eq(0)
        with m.If(write):
            m.d.sync += [bvalid.eq(1), bresp.eq(Mux(in_range, RESP_OKAY, RESP_DECERR))]
        # The rows' ports: the Lite side's address and data when it uses them this cycle.
        with m.If(read):
            m.d.comb += rd.addr.eq(self._row(bus.araddr))
        with m.If(write):
            m.d.comb += [wr.addr.eq(self._row(bus.awaddr)), wr.data.eq(bus.wdata.replicate(lanes))]
            with m.If(in_range):
                m.d.comb += wr.en.eq(bus.wstrb << (4 * lane_of(bus.awaddr)))
        return read, write

    def _reads(self, m, lite_read):
        bus, rd, port = self.s_axi, self._rd, self._port.read
        beat = data.StructLayout({"data": self._data_bits, "id": port.id_bits, "resp": 2, "last": 1})
        m.submodules.r_fifo = fifo = SyncFIFO(width=beat.size, depth=self.R_FIFO_DEPTH)
        out = beat(fifo.r_data)
        m.d.comb += [bus.rvalid.eq(fifo.r_rdy), bus.rdata.eq(out.data), bus.rid.eq(out.id),
                     bus.rresp.eq(out.resp), bus.rlast.eq(out.last), fifo.r_en.eq(bus.rready)]

        active, address, left = Signal(), Signal(port.addr_bits), Signal(8)
        burst_id, size = Signal(port.id_bits), Signal(3)
        # The beat whose row the memory reads this cycle, written to the FIFO the next.
        issued, issued_last, issued_err = Signal(), Signal(), Signal()
        issued_id = Signal(port.id_bits)
        issue = Signal()
        in_range = address < self._size
        m.d.comb += issue.eq(active & ~lite_read & (fifo.level + issued < self.R_FIFO_DEPTH))
        with m.If(issue & in_range):
            m.d.comb += rd.addr.eq(self._row(address))
        m.d.sync += [issued.eq(issue), issued_last.eq(left == 0), issued_err.eq(~in_range),
                     issued_id.eq(burst_id)]
        entry = Signal(beat)
        m.d.comb += [entry.data.eq(Mux(issued_err, 0, rd.data)), entry.id.eq(issued_id),
                     entry.resp.eq(Mux(issued_err, RESP_DECERR, RESP_OKAY)), entry.last.eq(issued_last),
                     fifo.w_data.eq(entry), fifo.w_en.eq(issued)]
        with m.If(issue):
            m.d.sync += [address.eq(address + (Const(1, port.addr_bits) << size)), left.eq(left - 1)]
            with m.If(left == 0):
                m.d.sync += active.eq(0)
        m.d.comb += bus.arready.eq(~active | (issue & (left == 0)))
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += [active.eq(1), address.eq(bus.araddr), left.eq(bus.arlen), burst_id.eq(bus.arid),
                         size.eq(bus.arsize)]

    def _writes(self, m, lite_write):
        bus, wr, port = self.s_axi, self._wr, self._port.write
        active, address, size, failed = Signal(), Signal(port.addr_bits), Signal(3), Signal()
        bvalid, bid, bresp = Signal(), Signal(port.id_bits), Signal(2)
        m.d.comb += [bus.bvalid.eq(bvalid), bus.bid.eq(bid), bus.bresp.eq(bresp),
                     bus.awready.eq(~active & ~bvalid), bus.wready.eq(active & ~lite_write)]
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [active.eq(1), address.eq(bus.awaddr), size.eq(bus.awsize), failed.eq(0),
                         bid.eq(bus.awid)]
        with m.If(bvalid & bus.bready):
            m.d.sync += bvalid.eq(0)
        in_range = address < self._size
        with m.If(bus.wvalid & bus.wready):
            m.d.comb += [wr.addr.eq(self._row(address)), wr.data.eq(bus.wdata)]
            with m.If(in_range):
                m.d.comb += wr.en.eq(bus.wstrb)
            m.d.sync += [address.eq(address + (Const(1, port.addr_bits) << size)),
                         failed.eq(failed | ~in_range)]
            with m.If(bus.wlast):
                m.d.sync += [active.eq(0), bvalid.eq(1),
                             bresp.eq(Mux(failed | ~in_range, RESP_DECERR, RESP_OKAY))]
