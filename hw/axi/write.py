"""AXI4 write master: rows of bytes to DRAM in INCR bursts."""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fetch import AXI_BOUNDARY, AXI_MAX_BEATS

from ..params import check_int, check_pow2
from .lite import RESP_DECERR, RESP_SLVERR

__all__ = ["AxiWriteSignature", "AxiSignature", "AxiWriteMaster", "write_status_layout",
           "connect_channels"]

BURST_INCR = 1

#: Sticky status of the write master: an error response seen, a row dropped.
write_status_layout = data.StructLayout({"slverr": 1, "decerr": 1, "misaligned": 1, "range": 1})


class AxiWriteSignature(wiring.Signature):
    """AW, W and B channels of an AXI4 write master, flat members (``awvalid`` ... ``bresp``).

    A port ``m_axi`` becomes ``m_axi__awvalid`` etc. (cocotbext-axi: ``bus_separator="__"``).
    """

    def __init__(self, *, addr_bits, data_bits, id_bits):
        self.addr_bits = check_int("addr_bits", addr_bits, 12, 64)
        self.data_bits = check_pow2("data_bits", data_bits, 8, 1024)
        self.id_bits = check_int("id_bits", id_bits, 1, 16)
        super().__init__({
            "awvalid": Out(1), "awready": In(1), "awid": Out(self.id_bits), "awaddr": Out(self.addr_bits),
            "awlen": Out(8), "awsize": Out(3), "awburst": Out(2), "awlock": Out(1), "awcache": Out(4),
            "awprot": Out(3),
            "wvalid": Out(1), "wready": In(1), "wdata": Out(self.data_bits),
            "wstrb": Out(self.data_bits // 8), "wlast": Out(1),
            "bvalid": In(1), "bready": Out(1), "bid": In(self.id_bits), "bresp": In(2),
        })

    def __eq__(self, other):
        return (isinstance(other, AxiWriteSignature) and
                (self.addr_bits, self.data_bits, self.id_bits) == (other.addr_bits, other.data_bits,
                                                                   other.id_bits))

    def __hash__(self):
        return hash((AxiWriteSignature, self.addr_bits, self.data_bits, self.id_bits))


class AxiSignature(wiring.Signature):
    """A whole AXI4 master port: the read channels (``hw.fetcher.axi.AxiReadSignature``) and the
    write channels (:class:`AxiWriteSignature`), flat, as cocotbext-axi's ``AxiBus`` binds them."""

    def __init__(self, *, addr_bits, data_bits, read_id_bits, write_id_bits):
        from ..fetcher.axi import AxiReadSignature

        self.read = AxiReadSignature(addr_bits=addr_bits, data_bits=data_bits, id_bits=read_id_bits)
        self.write = AxiWriteSignature(addr_bits=addr_bits, data_bits=data_bits, id_bits=write_id_bits)
        super().__init__({**self.read.members, **self.write.members})

    def __eq__(self, other):
        return isinstance(other, AxiSignature) and (self.read, self.write) == (other.read, other.write)

    def __hash__(self):
        return hash((AxiSignature, self.read, self.write))


def connect_channels(m, port, part):
    """Join the members of ``part`` (a sub-port of a master) to the same members of ``port``."""
    for name, member in part.signature.members.items():
        outer, inner = getattr(port, name), getattr(part, name)
        m.d.comb += (outer.eq(inner) if member.flow == Out else inner.eq(outer))


class AxiWriteMaster(wiring.Component):
    """Writes each row (``row_bytes`` bytes at a bus-aligned address) with INCR bursts.

    A row's words go out in bursts of at most 256 beats that never cross a
    4 KB boundary (the rule of ``golden.fetch.bursts``); the last word's
    strobe covers only the row's bytes. Addresses (AW) and data (W) go out
    independently, neither waiting for the other's ready, as AXI requires;
    at most ``outstanding`` bursts wait for their B response. A row whose
    address is not a multiple of the bus width, or that does not fit the
    address space, is dropped (``status.misaligned`` / ``status.range``); a
    SLVERR or DECERR response sets ``status.slverr`` / ``status.decerr``.
    The status is sticky until ``clear``; nothing waits on it, so the
    master never hangs on a bad row or a bad response.

    Parameters
    ----------
    addr_bits, data_bits, id_bits : int
        The AXI4 write port.
    row_bytes : int
        Bytes of a row, 1..4096.
    outstanding : int
        Bursts in flight at most (issued, B not yet taken), 1..256.

    Members
    -------
    rows : In(stream.Signature({addr, data: row_bytes * 8 bits}))
        ``data`` byte ``i`` goes to ``addr + i``.
    m_axi : Out(AxiWriteSignature)
    status : Out(write_status_layout)
    clear : In(1)
    idle : Out(1)
        No row held and no burst waiting for its response.
    bytes_written : Out(64)
        Bytes sent on W (strobed), since reset.
    beat_bytes : Out(range(data_bytes + 1))
        Bytes of the W beat taken this cycle (0 without one), for a counter bank.

    Throughput: one W beat per cycle within a row; a row costs
    :attr:`row_overhead` cycle beside its beats (the AW of its first burst
    goes out the cycle after the row is taken, later ones two cycles after the
    previous), while fewer than ``outstanding`` bursts wait for a response.
    """

    def __init__(self, *, addr_bits, data_bits, id_bits, row_bytes, outstanding):
        self._port = AxiWriteSignature(addr_bits=addr_bits, data_bits=data_bits, id_bits=id_bits)
        if data_bits < 32:
            raise ValueError(f"data_bits must be a power of two in 32..1024, not {data_bits!r}")
        self._row_bytes = check_int("row_bytes", row_bytes, 1, 4096)
        self._outstanding = check_int("outstanding", outstanding, 1, 256)
        super().__init__({
            "rows": In(stream.Signature(data.StructLayout({"addr": addr_bits, "data": 8 * self._row_bytes}))),
            "m_axi": Out(self._port),
            "status": Out(write_status_layout),
            "clear": In(1),
            "idle": Out(1),
            "bytes_written": Out(64),
            "beat_bytes": Out(range(self.data_bytes + 1)),
        })

    @property
    def data_bytes(self):
        return self._port.data_bits // 8

    @property
    def beats(self):
        """W beats of one row."""
        return -(-self._row_bytes // self.data_bytes)

    @property
    def row_overhead(self):
        """Cycles of a row beside its W beats, without stalls: the cycle it is taken in."""
        return 1

    def elaborate(self, platform):
        m = Module()
        axi = self.m_axi
        db, beats = self.data_bytes, self.beats
        s = (db - 1).bit_length()
        addr_bits = self._port.addr_bits
        page_words = AXI_BOUNDARY // db
        page_bits = (page_words - 1).bit_length()
        tail = self._row_bytes - (beats - 1) * db
        full_strobe, tail_strobe = (1 << db) - 1, (1 << tail) - 1

        row = Signal(beats * db * 8, reset_less=True)
        status = Signal(write_status_layout)
        m.d.comb += self.status.eq(status)
        with m.If(self.clear):
            m.d.sync += status.eq(0)

        # Responses: every B is taken at once; in flight = AWs issued - Bs taken.
        inflight = Signal(range(self._outstanding + 1))
        aw_fire = axi.awvalid & axi.awready
        b_fire = axi.bvalid & axi.bready
        m.d.sync += inflight.eq(inflight + aw_fire - b_fire)
        m.d.comb += axi.bready.eq(1)
        with m.If(b_fire & (axi.bresp == RESP_SLVERR)):
            m.d.sync += status.slverr.eq(1)
        with m.If(b_fire & (axi.bresp == RESP_DECERR)):
            m.d.sync += status.decerr.eq(1)

        # AW side: the next burst's first word, the row's words left, the burst's beats.
        aw_word = Signal(addr_bits - s, reset_less=True)
        aw_left = Signal(range(beats + 1))
        aw_beats = Signal(range(AXI_MAX_BEATS + 1), reset_less=True)
        aw_ready_to_offer = Signal()
        m.d.comb += [axi.awaddr.eq(aw_word << s), axi.awlen.eq(aw_beats - 1), axi.awsize.eq(s),
                     axi.awburst.eq(BURST_INCR), axi.awid.eq(0), axi.awvalid.eq(aw_ready_to_offer)]
        def burst_beats(first_word, left):
            to_page = page_words - (first_word[:page_bits] if page_bits else 0)
            limit = Mux(to_page < AXI_MAX_BEATS, to_page, AXI_MAX_BEATS)
            return Mux(left < limit, left, limit)

        planning = Signal()

        # W side: beats left in the row and in the burst; the data shifts down one word per beat.
        w_left = Signal(range(beats + 1))
        w_word = Signal(addr_bits - s, reset_less=True)
        w_in_burst = Signal(range(AXI_MAX_BEATS), reset_less=True)
        burst_end = ((w_word[:page_bits] == page_words - 1) if page_bits else Const(1)) | \
            (w_in_burst == AXI_MAX_BEATS - 1)
        m.d.comb += [axi.wvalid.eq(w_left != 0), axi.wdata.eq(row[:db * 8]),
                     axi.wstrb.eq(Mux(w_left == 1, tail_strobe, full_strobe)),
                     axi.wlast.eq((w_left == 1) | burst_end)]
        with m.If(axi.wvalid & axi.wready):
            m.d.comb += self.beat_bytes.eq(Mux(w_left == 1, tail, db))
            m.d.sync += [w_left.eq(w_left - 1), w_word.eq(w_word + 1), row.eq(row >> db * 8),
                         w_in_burst.eq(Mux(axi.wlast, 0, w_in_burst + 1)),
                         self.bytes_written.eq(self.bytes_written + Mux(w_left == 1, tail, db))]

        with m.If(planning):
            # One registered step per burst: its length, then it is offered.
            m.d.sync += [aw_beats.eq(burst_beats(aw_word, aw_left)), planning.eq(0)]
            with m.If(inflight < self._outstanding):
                m.d.sync += aw_ready_to_offer.eq(1)
            with m.Else():
                m.d.sync += planning.eq(1)
        with m.If(aw_fire):
            m.d.sync += [aw_ready_to_offer.eq(0), aw_word.eq(aw_word + aw_beats),
                         aw_left.eq(aw_left - aw_beats), planning.eq(aw_left != aw_beats)]

        busy = (aw_left != 0) | (w_left != 0)
        end = Signal(addr_bits + 1)
        m.d.comb += end.eq(self.rows.p.addr + self._row_bytes)
        m.d.comb += [self.rows.ready.eq(~busy), self.idle.eq(~busy & (inflight == 0))]
        with m.If(self.rows.valid & self.rows.ready):
            with m.If(self.rows.p.addr[:s] != 0):
                m.d.sync += status.misaligned.eq(1)
            with m.Elif(end > (1 << addr_bits)):
                m.d.sync += status.range.eq(1)
            with m.Else():
                first = self.rows.p.addr[s:]
                # The first burst's length is planned as the row is taken: its AW goes out next.
                m.d.sync += [row.eq(self.rows.p.data), aw_word.eq(first), w_word.eq(first),
                             aw_left.eq(beats), w_left.eq(beats), w_in_burst.eq(0),
                             aw_beats.eq(burst_beats(first, Const(beats)))]
                with m.If(inflight < self._outstanding):
                    m.d.sync += aw_ready_to_offer.eq(1)
                with m.Else():
                    m.d.sync += planning.eq(1)
        return m
