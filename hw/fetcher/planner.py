"""Request and index list -> runs of consecutive rows (the first stage of the fetcher)."""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..const_mul import times_either
from ..params import check_int, check_pow2
from .layouts import Plane, Status, index_layout, request_layout, run_layout

__all__ = ["RunPlanner"]


class RunPlanner(wiring.Component):
    """Checks a request and coalesces its index list into runs of consecutive rows.

    A request beat starts a request; index beats follow until one with
    ``last``. Consecutive indices (``i, i+1, ...``) form a run of at most
    ``max_run`` rows (``golden.fetch.runs``). Every request ends with exactly
    one run with ``last``: its last run, or a terminator (``count = 0``)
    carrying the status when the list is empty or the request fails:

    * ``base`` not a multiple of ``data_bytes``: ``MISALIGNED``;
    * ``base + rows * row_bytes`` above the address space: ``REGION_RANGE``;
    * an index ``>= rows``: ``INDEX_RANGE``, after the runs of the indices
      before it.

    A failed request's remaining indices are consumed (to ``last``) and
    produce nothing: the next request starts clean.

    Parameters
    ----------
    addr_bits, index_bits, count_bits : int
        Widths of addresses, indices and row counts.
    data_bytes : int
        Bus width in bytes (a power of two): ``base`` must be a multiple of it.
    row_bytes : tuple of int
        Bytes of a row of the MSB and of the LSB plane.
    max_run : int
        Longest run, in rows.

    Members
    -------
    request : In(stream.Signature(request_layout))
    index : In(stream.Signature(index_layout))
    runs : Out(stream.Signature(run_layout))
        A registered output. Throughput: one index per cycle while a run
        grows; a new run waits for the previous one to be taken.
    """

    #: Cycles from a request taken to the first cycle an index may be taken (the size, the end
    #: and the range check, each a register).
    PLAN_CYCLES = 4

    def __init__(self, *, addr_bits, index_bits, count_bits, data_bytes, row_bytes, max_run):
        self._addr_bits = check_int("addr_bits", addr_bits, 12, 64)
        self._index_bits = check_int("index_bits", index_bits, 1, 16)
        self._count_bits = check_int("count_bits", count_bits, 1, 17)
        self._data_bytes = check_pow2("data_bytes", data_bytes, 1, 128)
        self._row_bytes = tuple(check_int("row_bytes", b, 1, 4096) for b in row_bytes)
        self._max_run = check_int("max_run", max_run, 1, 4096)
        super().__init__({
            "request": In(stream.Signature(request_layout(addr_bits=self._addr_bits,
                                                          count_bits=self._count_bits))),
            "index": In(stream.Signature(index_layout(index_bits=self._index_bits))),
            "runs": Out(stream.Signature(run_layout(addr_bits=self._addr_bits,
                                                    index_bits=self._index_bits,
                                                    run_bits=self.run_bits))),
        })

    @property
    def run_bits(self):
        return self.run_bits_of(self._max_run)

    @staticmethod
    def run_bits_of(max_run):
        """Bits of a run length 0..max_run."""
        return max_run.bit_length()

    def elaborate(self, platform):
        m = Module()
        base = Signal(self._addr_bits)
        rows = Signal(self._count_bits)
        plane = Signal(Plane)
        status = Signal(Status)
        # rows * row_bytes, then base + it: wide enough for any product, never wrapping.
        region = Signal(self._addr_bits + self._count_bits + 13)
        held = Signal()                            # a run is being built
        first = Signal(self._index_bits)
        count = Signal(range(self._max_run + 1))

        out = self.runs
        out_free = ~out.valid | out.ready
        with m.If(out.ready):
            m.d.sync += out.valid.eq(0)

        def emit(run_first, run_count, last, run_status):
            m.d.sync += [out.valid.eq(1), out.p.base.eq(base), out.p.plane.eq(plane),
                         out.p.first.eq(run_first), out.p.count.eq(run_count), out.p.last.eq(last),
                         out.p.status.eq(run_status)]

        index = self.index.p.index
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.request.ready.eq(1)
                with m.If(self.request.valid):
                    offset_bits = (self._data_bytes - 1).bit_length()
                    misaligned = self.request.p.base[:offset_bits].any() if offset_bits else Const(0)
                    m.d.sync += [base.eq(self.request.p.base), rows.eq(self.request.p.rows),
                                 plane.eq(self.request.p.plane), held.eq(0),
                                 status.eq(Mux(misaligned, Status.MISALIGNED, Status.OK))]
                    m.next = "SIZE"
            with m.State("SIZE"):
                m.d.sync += region.eq(times_either(rows, plane == Plane.LSB, self._row_bytes))
                m.next = "END"
            with m.State("END"):
                m.d.sync += region.eq(base + region)
                m.next = "CHECK"
            with m.State("CHECK"):
                with m.If((status == Status.OK) & (region > (1 << self._addr_bits))):
                    m.d.sync += status.eq(Status.REGION_RANGE)
                m.next = "LIST"
            with m.State("LIST"):
                m.d.comb += self.index.ready.eq(out_free)
                with m.If(self.index.valid & out_free):
                    follows = held & (index == first + count) & (count < self._max_run)
                    with m.If((status != Status.OK) | self.index.p.none):
                        pass
                    with m.Elif(index >= rows):
                        m.d.sync += [status.eq(Status.INDEX_RANGE), held.eq(0)]
                        with m.If(held):
                            emit(first, count, 0, Status.OK)
                    with m.Elif(follows):
                        m.d.sync += count.eq(count + 1)
                    with m.Else():
                        with m.If(held):
                            emit(first, count, 0, Status.OK)
                        m.d.sync += [held.eq(1), first.eq(index), count.eq(1)]
                    with m.If(self.index.p.last):
                        m.next = "FINAL"
            with m.State("FINAL"):
                # The request's last run, or a terminator with its status.
                with m.If(out_free):
                    with m.If(held):
                        emit(first, count, 1, Status.OK)
                    with m.Else():
                        emit(Const(0, self._index_bits), 0, 1, status)
                    m.next = "IDLE"
        return m
