"""The K buffer: a head's alive key rows, both planes, read back ``lanes`` rows per cycle."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..params import check_int, check_pow2

__all__ = ["KeyBuffer"]


class KeyBuffer(wiring.Component):
    """Key rows by position in the alive list, each plane in its own block RAM, banked by lane.

    Row ``p`` lives in lane ``p mod lanes`` of word ``p // lanes`` (a write
    enable per lane), so a read of one word gives the ``lanes`` consecutive
    rows a Q x K beat takes. The MSB plane is kept as the ``msb_bits`` high
    bits of a code, the LSB plane as the ``lsb_bits`` low bits; a read gives
    the MSB-only code (``golden.quant.msb_only``: half-LSB bias) or, with
    ``full``, the full code (``golden.quant.join_planes``).

    Parameters
    ----------
    head_dim, max_context : int
        Row length (1..256) and depth in rows (1..65536).
    msb_bits, lsb_bits : int
        Plane widths, 1..15 each.
    lanes : int
        Rows per read, a power of two in 1..64.

    Members
    -------
    w_pos : In(position), w_codes : In(ArrayLayout(signed(B), head_dim)), w_lsb : In(1), w_en : In(1)
        Write: the fetcher's row of plane ``w_lsb`` at position ``w_pos``.
    start : In(1), count : In(positions), full : In(1)
        ``start`` (one cycle) streams rows ``0..count-1`` (``count >= 1``).
    keys : Out(stream of {k[lanes][head_dim], index[lanes]})
        ``ceil(count / lanes)`` beats, QkUnit's key beat; ``index`` = position.
        Registered (the block RAM's read register), one beat per cycle.
    busy : Out(1)
        Rows left to stream or a beat held.
    """

    def __init__(self, *, head_dim, max_context, msb_bits, lsb_bits, lanes):
        self._head_dim = check_int("head_dim", head_dim, 1, 256)
        self._max_context = check_int("max_context", max_context, 1, 65536)
        self._msb_bits = check_int("msb_bits", msb_bits, 1, 15)
        self._lsb_bits = check_int("lsb_bits", lsb_bits, 1, 15)
        self._lanes = check_pow2("lanes", lanes, 1, 64)
        B = self._msb_bits + self._lsb_bits
        pos_bits = max(1, (self._max_context - 1).bit_length())
        super().__init__({
            "w_pos": In(pos_bits), "w_codes": In(data.ArrayLayout(signed(B), self._head_dim)),
            "w_lsb": In(1), "w_en": In(1),
            "start": In(1), "count": In(self._max_context.bit_length()), "full": In(1),
            "keys": Out(stream.Signature(data.StructLayout({
                "k": data.ArrayLayout(data.ArrayLayout(signed(B), self._head_dim), self._lanes),
                "index": data.ArrayLayout(unsigned(pos_bits), self._lanes),
            }))),
            "busy": Out(1),
        })

    @property
    def words(self):
        return -(-self._max_context // self._lanes)

    def elaborate(self, platform):
        m = Module()
        D, L, msb, lsb = self._head_dim, self._lanes, self._msb_bits, self._lsb_bits
        lane_bits = (L - 1).bit_length()
        planes = {}
        for name, width in (("msb", msb), ("lsb", lsb)):
            mem = Memory(shape=unsigned(L * D * width), depth=self.words, init=[])
            m.submodules[f"{name}_mem"] = mem
            planes[name] = (mem.write_port(granularity=D * width), mem.read_port(transparent_for=()), width)

        # Writes: the plane's bits of every element, into the row's lane.
        lane = self.w_pos[:lane_bits] if lane_bits else Const(0, 1)
        word = self.w_pos[lane_bits:]
        for name, (wr, _, width) in planes.items():
            lo = lsb if name == "msb" else 0
            row_bits = Cat(self.w_codes[i][lo:lo + width] for i in range(D))
            m.d.comb += [wr.addr.eq(word), wr.data.eq(row_bits.replicate(L))]
            sel = self.w_en & (self.w_lsb if name == "lsb" else ~self.w_lsb)
            m.d.comb += wr.en.eq(Mux(sel, 1 << lane, 0))

        # Reads: word counter, one word per cycle while the beat register is free or taken.
        beats = Signal(range(self.words + 1))
        next_word = Signal(range(self.words + 1))
        full = Signal()
        beat_word = Signal(range(self.words + 1), reset_less=True)
        advance = ~self.keys.valid | self.keys.ready
        with m.If(self.start):
            m.d.sync += [next_word.eq(0), beats.eq((self.count + L - 1) >> lane_bits), full.eq(self.full)]
        for _, rd, _ in planes.values():
            m.d.comb += [rd.addr.eq(next_word), rd.en.eq(advance)]
        with m.If(advance):
            m.d.sync += self.keys.valid.eq(next_word < beats)
            with m.If(next_word < beats):
                m.d.sync += [next_word.eq(next_word + 1), beat_word.eq(next_word)]
        m.d.comb += self.busy.eq((next_word < beats) | self.keys.valid)

        hi_data, lo_data = planes["msb"][1].data, planes["lsb"][1].data
        bias = Const(1 << (lsb - 1), lsb)
        for lane_i in range(L):
            m.d.comb += self.keys.p.index[lane_i].eq(Cat(Const(lane_i, lane_bits), beat_word) if lane_bits
                                                     else beat_word)
            for i in range(D):
                hi = hi_data.word_select(lane_i * D + i, msb)
                lo = lo_data.word_select(lane_i * D + i, lsb)
                m.d.comb += self.keys.p.k[lane_i][i].eq(Cat(Mux(full, lo, bias), hi))
        return m
