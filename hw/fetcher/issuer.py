"""Runs -> AXI4 INCR read bursts, and each run's description for the row assembler."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fetch import AXI_BOUNDARY, AXI_MAX_BEATS

from ..const_mul import times_either
from ..params import check_int, check_pow2
from .layouts import Plane, desc_layout, run_layout

__all__ = ["BurstIssuer"]


class BurstIssuer(wiring.Component):
    """Reads each run as the bus words that hold its bytes, in INCR bursts.

    A run of ``count`` rows from ``first`` covers bytes ``base + first * rb``
    to ``base + (first + count) * rb - 1`` (``rb``: the plane's row bytes).
    Its words are read in bursts of at most 256 beats that never cross a
    4 KB boundary (``golden.fetch.bursts``), with at most ``outstanding``
    bursts in flight: a burst is issued only while fewer are in flight
    (``burst_done`` pulses once per burst whose last beat is taken). Before
    its bursts, the run's description (useful bytes, byte offset in the
    first word) goes to ``desc``; a terminator (``count = 0``) only goes to
    ``desc``.

    Timing: a run takes 4 cycles before its first burst is computed, a burst
    3 cycles (two to compute its length, one or more to offer it); every
    arithmetic step is a register.

    Parameters
    ----------
    addr_bits, index_bits, run_bits : int
        Address, index and run-length widths.
    data_bytes : int
        Bus width in bytes, a power of two in 1..128.
    row_bytes : tuple of int
        Row bytes of the MSB and the LSB plane.
    outstanding : int
        Bursts in flight at most, 1..256.

    Members
    -------
    runs : In(stream.Signature(run_layout))
    desc : Out(stream.Signature(desc_layout))
    ar : Out(stream.Signature({addr, len}))
        A burst: byte address (a multiple of ``data_bytes``) and AXI ``len``
        (beats - 1); ``valid`` never falls before ``ready``, as AXI requires.
    burst_done : In(1)
    inflight : Out(range(outstanding + 1))
        Bursts issued whose last beat has not been taken.
    """

    #: Cycles from a run taken to its first burst's AR offered (size, place, description, length,
    #: limit): the timing above, as ``golden.core_cycles`` reads it.
    RUN_CYCLES = 6
    #: Cycles from one burst's AR handshake to the next burst's AR of the same run.
    BURST_CYCLES = 3

    def __init__(self, *, addr_bits, index_bits, run_bits, data_bytes, row_bytes, outstanding):
        self._addr_bits = check_int("addr_bits", addr_bits, 12, 64)
        self._index_bits = check_int("index_bits", index_bits, 1, 16)
        self._run_bits = check_int("run_bits", run_bits, 1, 13)
        self._data_bytes = check_pow2("data_bytes", data_bytes, 1, 128)
        self._row_bytes = tuple(check_int("row_bytes", b, 1, 4096) for b in row_bytes)
        self._outstanding = check_int("outstanding", outstanding, 1, 256)
        super().__init__({
            "runs": In(stream.Signature(run_layout(addr_bits=self._addr_bits, index_bits=self._index_bits,
                                                   run_bits=self._run_bits))),
            "desc": Out(stream.Signature(desc_layout(index_bits=self._index_bits, run_bits=self._run_bits,
                                                     nbytes_bits=self.nbytes_bits,
                                                     skip_bits=self.offset_bits))),
            "ar": Out(stream.Signature(data.StructLayout({"addr": self._addr_bits, "len": 8}))),
            "burst_done": In(1),
            "inflight": Out(range(self._outstanding + 1)),
        })

    @property
    def offset_bits(self):
        """Bits of a byte offset within a bus word."""
        return (self._data_bytes - 1).bit_length()

    @property
    def nbytes_bits(self):
        return self.nbytes_bits_of(self._run_bits, self._row_bytes)

    @staticmethod
    def nbytes_bits_of(run_bits, row_bytes):
        """Bits of a run's byte count."""
        return ((1 << run_bits) * max(row_bytes)).bit_length()

    def elaborate(self, platform):
        m = Module()
        s = self.offset_bits
        word_bits = self._addr_bits - s
        page_words = AXI_BOUNDARY // self._data_bytes
        page_bits = (page_words - 1).bit_length()

        run = Signal.like(self.runs.p, reset_less=True)
        offset = Signal(self._index_bits + 13, reset_less=True)        # first * rb
        nbytes = Signal(self.nbytes_bits, reset_less=True)             # count * rb
        start = Signal(self._addr_bits + 1, reset_less=True)           # first byte
        end_offset = Signal(self._index_bits + 14, reset_less=True)    # last byte - base
        word = Signal(word_bits, reset_less=True)                      # next burst's first word
        last_word = Signal(word_bits, reset_less=True)
        beats = Signal(range(AXI_MAX_BEATS + 1), reset_less=True)
        final = Signal(reset_less=True)                                # this burst ends the run
        left = Signal(word_bits + 1, reset_less=True)                  # words of the run still to read
        to_page = Signal(page_bits + 1, reset_less=True)               # words to the next 4 KB boundary

        inflight = Signal(range(self._outstanding + 1))
        issued = self.ar.valid & self.ar.ready
        m.d.sync += inflight.eq(inflight + issued - self.burst_done)
        m.d.comb += self.inflight.eq(inflight)

        m.d.comb += [
            self.desc.p.first.eq(run.first), self.desc.p.count.eq(run.count),
            self.desc.p.nbytes.eq(nbytes), self.desc.p.skip.eq(start[:s] if s else 0),
            self.desc.p.plane.eq(run.plane), self.desc.p.last.eq(run.last),
            self.desc.p.status.eq(run.status),
            self.ar.p.addr.eq(word << s), self.ar.p.len.eq(beats - 1),
        ]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.runs.ready.eq(1)
                with m.If(self.runs.valid):
                    m.d.sync += run.eq(self.runs.p)
                    m.next = "SIZE"
            with m.State("SIZE"):
                lsb = run.plane == Plane.LSB
                m.d.sync += [offset.eq(times_either(run.first, lsb, self._row_bytes)),
                             nbytes.eq(times_either(run.count, lsb, self._row_bytes))]
                m.next = "PLACE"
            with m.State("PLACE"):
                m.d.sync += [start.eq(run.base + offset), end_offset.eq(offset + nbytes - 1)]
                m.next = "DESC"
            with m.State("DESC"):
                m.d.comb += self.desc.valid.eq(1)
                m.d.sync += [word.eq(start >> s), last_word.eq((run.base + end_offset) >> s)]
                with m.If(self.desc.ready & (run.count == 0)):
                    m.next = "IDLE"
                with m.Elif(self.desc.ready):
                    m.next = "LENGTH"
            with m.State("LENGTH"):
                # The words left and the words to the next 4 KB boundary, then (LIMIT) their
                # minimum with 256: two registered steps.
                m.d.sync += [left.eq(last_word - word + 1),
                             to_page.eq(page_words - (word[:page_bits] if page_bits else 0))]
                m.next = "LIMIT"
            with m.State("LIMIT"):
                limit = Mux(to_page < AXI_MAX_BEATS, to_page, AXI_MAX_BEATS)
                m.d.sync += [beats.eq(Mux(left < limit, left, limit)), final.eq(left <= limit)]
                with m.If(inflight < self._outstanding):
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                # The credit was checked in LIMIT: only this state issues.
                m.d.comb += self.ar.valid.eq(1)
                with m.If(self.ar.ready):
                    m.d.sync += word.eq(word + beats)
                with m.If(self.ar.ready & final):
                    m.next = "IDLE"
                with m.Elif(self.ar.ready):
                    m.next = "LENGTH"
        return m
