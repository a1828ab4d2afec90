"""R beats -> packed rows: the byte gearbox between the bus words and the rows they hold."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int, check_pow2
from .layouts import Plane, Status, desc_layout, raw_row_layout

__all__ = ["RowAssembler"]


class RowAssembler(wiring.Component):
    """Cuts the words of each run's bursts into its packed rows, in order.

    A run's bursts deliver its bytes as whole bus words: the first word
    starts ``skip`` bytes before the run's first byte and the last may run
    past its last byte. The assembler keeps the run's useful bytes (exactly
    ``nbytes``) in a buffer of ``max(row_bytes) + 2 * data_bytes`` bytes,
    filled from its level at one word per cycle, and emits a row whenever it
    holds one (one row per cycle at most), shifting the rest down. Rows carry their
    index (``first``, ``first + 1``, ...); the request's last row carries
    ``last``; a terminator run becomes one beat with ``has_row = 0``.

    An R beat with SLVERR or DECERR marks the byte where the bad word's bytes
    begin: the row holding it and every later row of the request are dropped,
    and the request ends with a terminator beat (``has_row = 0``) carrying the
    error (``golden.fetch.fetch``). The beats of bursts already issued are
    still taken.

    Parameters
    ----------
    data_bytes : int
        Bus width in bytes (a power of two).
    row_bytes : tuple of int
        Row bytes of the MSB and the LSB plane.
    index_bits, run_bits, nbytes_bits : int
        Widths of the descriptions (:class:`BurstIssuer`'s).

    Members
    -------
    desc : In(stream.Signature(desc_layout))
    beats : In(stream.Signature({data, resp}))
        The R channel's data and response, in order.
    rows : Out(stream.Signature(raw_row_layout))
        ``raw``: the buffer's low bytes (the row in the low ``row_bytes``).
        A row goes out the cycle after the beat that completes it is taken
        (:attr:`latency`). Throughput: one beat and one row per cycle.
    """

    LATENCY = 1

    def __init__(self, *, data_bytes, row_bytes, index_bits, run_bits, nbytes_bits):
        self._data_bytes = check_pow2("data_bytes", data_bytes, 1, 128)
        self._row_bytes = tuple(check_int("row_bytes", b, 1, 4096) for b in row_bytes)
        self._index_bits = check_int("index_bits", index_bits, 1, 16)
        self._run_bits = check_int("run_bits", run_bits, 1, 13)
        self._nbytes_bits = check_int("nbytes_bits", nbytes_bits, 1, 32)
        skip_bits = (self._data_bytes - 1).bit_length()
        super().__init__({
            "desc": In(stream.Signature(desc_layout(index_bits=self._index_bits, run_bits=self._run_bits,
                                                    nbytes_bits=self._nbytes_bits, skip_bits=skip_bits))),
            "beats": In(stream.Signature(data.StructLayout({"data": 8 * self._data_bytes, "resp": 2}))),
            "rows": Out(stream.Signature(raw_row_layout(row_bits=8 * max(self._row_bytes),
                                                        index_bits=self._index_bits))),
        })

    @property
    def latency(self):
        """Cycles from taking the beat that completes a row to the row's ``valid``."""
        return self.LATENCY

    @property
    def buffer_bytes(self):
        return max(self._row_bytes) + 2 * self._data_bytes

    def elaborate(self, platform):
        m = Module()
        width = self._data_bytes
        widest = max(self._row_bytes)
        size = self.buffer_bytes

        buf = Signal(8 * size, reset_less=True)
        level = Signal(range(size + 1))                      # bytes held
        active = Signal()                                    # a run is loaded
        terminator = Signal()
        run = Signal.like(self.desc.p, reset_less=True)      # plane, last, status of the run
        index = Signal(self._index_bits, reset_less=True)    # of the next row
        rows_left = Signal(range((1 << self._run_bits) + 1), reset_less=True)
        one_left = Signal(reset_less=True)                   # rows_left == 1
        bytes_left = Signal(self._nbytes_bits)               # still to take from the beats
        more = Signal()                                      # bytes_left != 0
        take = Signal(range(width + 1), reset_less=True)     # useful bytes of the next beat
        skip = Signal(range(width), reset_less=True)         # of the next beat
        failed = Signal()                                    # an AXI error in this request
        error = Signal(Status, reset_less=True)
        clean = Signal(range(size + 1), reset_less=True)     # bytes held before the bad word's

        row_bytes = Mux(run.plane == Plane.LSB, self._row_bytes[1], self._row_bytes[0])
        final = run.last & one_left
        bad = failed & (terminator | (clean < row_bytes))
        drop = bad & ~final & ~terminator
        ready_row = active & (terminator | (level >= row_bytes))
        emit = ready_row & (self.rows.ready | drop)
        shift = emit & ~terminator
        removed = Mux(shift, row_bytes, 0)

        m.d.comb += [
            self.rows.valid.eq(ready_row & ~drop),
            self.rows.p.raw.eq(buf[:8 * widest]),
            self.rows.p.index.eq(index),
            self.rows.p.plane.eq(run.plane),
            self.rows.p.has_row.eq(~terminator & ~bad),
            self.rows.p.last.eq(final),
            self.rows.p.status.eq(Mux(failed & final, error, run.status)),
        ]

        # A beat goes in at the current level (a register: the placing shifter waits for no
        # handshake), then a row that goes out in the same cycle shifts everything down. The
        # buffer holds two words beyond the widest row, so a beat is taken whenever the level
        # is at most a word above it.
        # ``more`` and ``take`` (min(bytes_left, width - skip)) are registers, set a cycle ahead.
        m.d.comb += self.beats.ready.eq(active & ~terminator & more & (level <= widest + width))
        accept = self.beats.valid & self.beats.ready

        word = Signal(8 * width)
        m.d.comb += word.eq(self.beats.p.data >> (skip * 8))
        at = Cat(Const(0, 3), level)
        mask = Signal.like(buf)
        placed = Signal.like(buf)
        merged = Signal.like(buf)
        m.d.comb += [mask.eq(Const((1 << 8 * width) - 1, 8 * width) << at), placed.eq(word << at),
                     merged.eq(Mux(accept, (buf & ~mask) | placed, buf))]
        shifts = [merged[8 * rb:] for rb in self._row_bytes]
        m.d.sync += buf.eq(Mux(shift, Mux(run.plane == Plane.LSB, shifts[1], shifts[0]), merged))
        m.d.sync += level.eq(level + Mux(accept, take, 0) - removed)
        with m.If(accept):
            after = bytes_left - take
            m.d.sync += [bytes_left.eq(after), skip.eq(0), more.eq(bytes_left != take),
                         take.eq(Mux(after < width, after, width))]

        with m.If(accept & self.beats.p.resp[1] & ~failed):
            m.d.sync += [failed.eq(1), clean.eq(level - removed),
                         error.eq(Mux(self.beats.p.resp[0], Status.DECERR, Status.SLVERR))]
        with m.Elif(shift):
            m.d.sync += clean.eq(Mux(clean > row_bytes, clean - row_bytes, 0))

        with m.If(emit):
            m.d.sync += [rows_left.eq(rows_left - 1), one_left.eq(rows_left == 2), index.eq(index + 1)]
            with m.If(final):
                m.d.sync += failed.eq(0)
        # The next run loads when the current one ends (its last row goes out) or none is loaded.
        load = self.desc.valid & (~active | (emit & one_left))
        m.d.comb += self.desc.ready.eq(load)
        with m.If(load):
            d = self.desc.p
            m.d.sync += [active.eq(1), terminator.eq(d.count == 0), run.eq(d), index.eq(d.first),
                         rows_left.eq(Mux(d.count == 0, 1, d.count)), one_left.eq(d.count <= 1),
                         bytes_left.eq(d.nbytes), more.eq(d.nbytes != 0),
                         take.eq(Mux(d.nbytes < width - d.skip, d.nbytes, width - d.skip)),
                         skip.eq(d.skip)]
        with m.Elif(emit & one_left):
            m.d.sync += active.eq(0)
        return m
