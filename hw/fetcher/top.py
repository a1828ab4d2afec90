"""The progressive-quantization fetcher: index lists in, K/V rows out, over an AXI4 read port."""

from amaranth.hdl import Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from golden.fetch import max_run_rows, refetch_threshold_code
from golden.quant import row_bytes

from ..params import check_int, check_pow2
from ..skid_buffer import SkidBuffer
from .assembler import RowAssembler
from .axi import BURST_INCR, AxiReadSignature
from .counters import COUNTERS, FetchCounters
from .decision import RefetchDecision
from .issuer import BurstIssuer
from .layouts import Plane, decision_layout, index_layout, request_layout, row_layout, summary_layout
from .planner import RunPlanner
from .unpack import RowUnpacker, check_row

__all__ = ["Fetcher", "fetcher_from_config"]


class Fetcher(wiring.Component):
    """Fetches the rows of a list of token indices from one plane of a head, over AXI4.

    Stages, joined by streams: :class:`RunPlanner` (checks the request,
    coalesces consecutive indices into runs), :class:`BurstIssuer` (INCR
    bursts of each run's words, at most ``outstanding`` in flight, all with
    ID 0 so that data returns in order), a FIFO of run descriptions,
    :class:`RowAssembler` (cuts the R words into rows), :class:`RowUnpacker`
    (the bit-width converter) and a :class:`SkidBuffer` on the output. One
    ID keeps the R data in request order with no reorder buffer; ``rready``
    falls only when the output is held, which is allowed by AXI.
    :class:`RefetchDecision` decides the LSB re-fetch of query rows beside it.

    Requests follow each other without a gap: the next request's runs are
    planned while the previous one's bursts are in flight.

    Parameters
    ----------
    head_dim : int
        D, elements per row (1..256): one output beat carries a whole row.
    msb_bits, lsb_bits : int
        Plane widths (1..15 each, sum = on-chip ``value_bits`` <= 16).
    max_context : int
        Most rows of a head (indices are ``range(max_context)``), 1..65536.
    data_bits, addr_bits, id_bits : int
        AXI4 data (power of two, 32..1024), address (16..64) and ID (1..16) widths.
    outstanding : int
        Bursts in flight at most, 1..256.
    threshold_code : int
        Re-fetch threshold as a probability code (``golden.fetch.refetch_threshold_code``).
    max_run : int or None
        Longest run in rows (default ``golden.fetch.max_run_rows``: 256 beats' worth).

    Members
    -------
    request : In(stream of request_layout)
        ``base`` (a multiple of ``data_bits / 8``), ``rows`` (the head's length),
        ``plane`` (:class:`Plane`); its index list follows on ``index``.
    index : In(stream of index_layout)
        One index per beat, ``last`` on the list's last; an empty list is one
        beat with ``none`` and ``last``.
    rows : Out(stream of row_layout)
        One row per beat (``D`` codes of ``value_bits``, ``index``, ``plane``),
        in list order; ``last`` on the request's last beat, whose ``status``
        says how it ended. A request with no row to give (empty list, error)
        ends with a terminator beat (``has_row = 0``). Throughput: one row per
        cycle, at most one bus word per cycle.
    m_axi : Out(AxiReadSignature)
    summary : In(stream of summary_layout), decision : Out(stream of decision_layout)
        :class:`RefetchDecision`.
    counts : Out(StructLayout of 32-bit counters, :data:`COUNTERS`)
        Saturating, since reset.
    """

    def __init__(self, *, head_dim, msb_bits, lsb_bits, max_context, data_bits, addr_bits, id_bits,
                 outstanding, threshold_code, max_run=None):
        self._head_dim, self._msb_bits, self._lsb_bits = check_row(head_dim, msb_bits, lsb_bits)
        self._max_context = check_int("max_context", max_context, 1, 65536)
        self._data_bits = check_pow2("data_bits", data_bits, 32, 1024)
        self._addr_bits = check_int("addr_bits", addr_bits, 16, 64)
        self._id_bits = check_int("id_bits", id_bits, 1, 16)
        self._outstanding = check_int("outstanding", outstanding, 1, 256)
        self._threshold_code = check_int("threshold_code", threshold_code, 0, 1 << 15)
        default_run = min(self._max_context, max_run_rows(self.data_bytes, max(self.row_bytes)))
        self._max_run = default_run if max_run is None else check_int("max_run", max_run, 1, 4096)

        index_bits = self.index_bits
        super().__init__({
            "request": In(stream.Signature(request_layout(addr_bits=self._addr_bits,
                                                          count_bits=self.count_bits))),
            "index": In(stream.Signature(index_layout(index_bits=index_bits))),
            "rows": Out(stream.Signature(row_layout(head_dim=self._head_dim, value_bits=self.value_bits,
                                                    index_bits=index_bits))),
            "m_axi": Out(AxiReadSignature(addr_bits=self._addr_bits, data_bits=self._data_bits,
                                          id_bits=self._id_bits)),
            "summary": In(stream.Signature(summary_layout())),
            "decision": Out(stream.Signature(decision_layout())),
            "counts": Out(data.StructLayout({name: 32 for name in COUNTERS})),
        })

    head_dim = property(lambda self: self._head_dim)
    msb_bits = property(lambda self: self._msb_bits)
    lsb_bits = property(lambda self: self._lsb_bits)
    max_context = property(lambda self: self._max_context)
    data_bits = property(lambda self: self._data_bits)
    addr_bits = property(lambda self: self._addr_bits)
    outstanding = property(lambda self: self._outstanding)
    max_run = property(lambda self: self._max_run)
    threshold_code = property(lambda self: self._threshold_code)

    @property
    def data_bytes(self):
        return self._data_bits // 8

    @property
    def value_bits(self):
        return self._msb_bits + self._lsb_bits

    @property
    def index_bits(self):
        return max(1, (self._max_context - 1).bit_length())

    @property
    def count_bits(self):
        return self._max_context.bit_length()

    @property
    def row_bytes(self):
        """Bytes of a packed row of the MSB plane and of the LSB plane."""
        return row_bytes(self._head_dim, self._msb_bits), row_bytes(self._head_dim, self._lsb_bits)

    @property
    def row_latency(self):
        """Cycles from the R beat that completes a row (taken) to the row's output ``valid``."""
        return RowAssembler.LATENCY + SkidBuffer.LATENCY

    def elaborate(self, platform):
        m = Module()
        planner = m.submodules.planner = RunPlanner(
            addr_bits=self._addr_bits, index_bits=self.index_bits, count_bits=self.count_bits,
            data_bytes=self.data_bytes, row_bytes=self.row_bytes, max_run=self._max_run)
        issuer = m.submodules.issuer = BurstIssuer(
            addr_bits=self._addr_bits, index_bits=self.index_bits, run_bits=planner.run_bits,
            data_bytes=self.data_bytes, row_bytes=self.row_bytes, outstanding=self._outstanding)
        unpacker = m.submodules.unpacker = RowUnpacker(
            head_dim=self._head_dim, msb_bits=self._msb_bits, lsb_bits=self._lsb_bits,
            index_bits=self.index_bits)
        decision = m.submodules.decision = RefetchDecision(threshold_code=self._threshold_code)
        assembler = m.submodules.assembler = RowAssembler(
            data_bytes=self.data_bytes, row_bytes=self.row_bytes, index_bits=self.index_bits,
            run_bits=planner.run_bits, nbytes_bits=issuer.nbytes_bits)
        # A description per run with bursts in flight, plus the one being assembled.
        descs = m.submodules.descs = SyncFIFOBuffered(width=issuer.desc.p.shape().size,
                                                      depth=self._outstanding + 2)
        out = m.submodules.out = SkidBuffer(unpacker.rows.p.shape())
        counters = m.submodules.counters = FetchCounters(bits=32, step_bits=issuer.nbytes_bits)

        wiring.connect(m, wiring.flipped(self.request), planner.request)
        wiring.connect(m, wiring.flipped(self.index), planner.index)
        wiring.connect(m, planner.runs, issuer.runs)
        m.d.comb += [
            descs.w_data.eq(issuer.desc.p), descs.w_en.eq(issuer.desc.valid),
            issuer.desc.ready.eq(descs.w_rdy),
            assembler.desc.p.eq(descs.r_data), assembler.desc.valid.eq(descs.r_rdy),
            descs.r_en.eq(assembler.desc.ready),
        ]
        wiring.connect(m, assembler.rows, unpacker.raw_rows)
        wiring.connect(m, unpacker.rows, out.i)
        wiring.connect(m, out.o, wiring.flipped(self.rows))
        wiring.connect(m, wiring.flipped(self.summary), decision.summary)
        wiring.connect(m, decision.decision, wiring.flipped(self.decision))

        axi = self.m_axi
        ar_taken = axi.arvalid & axi.arready
        r_taken = axi.rvalid & axi.rready
        m.d.comb += [
            axi.arvalid.eq(issuer.ar.valid), issuer.ar.ready.eq(axi.arready),
            axi.araddr.eq(issuer.ar.p.addr), axi.arlen.eq(issuer.ar.p.len),
            axi.arsize.eq((self.data_bytes - 1).bit_length()), axi.arburst.eq(BURST_INCR),
            axi.arid.eq(0), axi.arlock.eq(0), axi.arcache.eq(0b0011), axi.arprot.eq(0),
            assembler.beats.p.data.eq(axi.rdata), assembler.beats.p.resp.eq(axi.rresp),
            assembler.beats.valid.eq(axi.rvalid), axi.rready.eq(assembler.beats.ready),
            issuer.burst_done.eq(r_taken & axi.rlast),
        ]

        taken = issuer.desc.valid & issuer.desc.ready
        m.d.comb += [
            counters.burst.eq(ar_taken), counters.beat.eq(r_taken),
            counters.refetched.eq(decision.refetched),
            counters.stall.eq((issuer.inflight != 0) & ~axi.rvalid),
            self.counts.eq(counters.counts),
        ]
        with m.If(taken & (issuer.desc.p.plane == Plane.LSB)):
            m.d.comb += counters.add_lsb.eq(issuer.desc.p.nbytes)
        with m.Elif(taken):
            m.d.comb += counters.add_msb.eq(issuer.desc.p.nbytes)
        return m


def fetcher_from_config(config):
    """The :class:`Fetcher` of a :class:`gen.config.SpattenConfig`."""
    return Fetcher(head_dim=config.head_dim, msb_bits=config.msb_bits, lsb_bits=config.lsb_bits,
                   max_context=config.max_context, data_bits=config.axi_data_bits,
                   addr_bits=config.axi_addr_bits, id_bits=config.axi_id_bits,
                   outstanding=config.axi_outstanding,
                   threshold_code=refetch_threshold_code(config.requant_threshold))
