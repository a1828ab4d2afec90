"""Softmax pass 1: take score beats into the row buffer and find each row's max."""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.softmax import SOFTMAX

from ..params import check_int, check_pow2
from .credits import Credits
from .layouts import row_head, score_beat

__all__ = ["RowIngest"]


class RowIngest(wiring.Component):
    """Writes score beats into the row buffer and emits a row head (max, beats, length, error) per row.

    A beat is taken while a buffer slot and a row-FIFO entry are free (by
    credits). It is registered, then written with its count clipped to the
    lanes kept: a row keeps its first ``n_max`` scores and at most
    ``beats_max`` beats besides its last one (which is always written, so
    that every row has a last beat, perhaps with count 0). A row whose
    scores are cut, with a count above ``lanes``, or with no score at all,
    gets ``error``. The max of the kept scores is a tree of registered
    two-way compares (``log2(lanes)`` levels) and a running compare.

    Parameters
    ----------
    lanes, n_max, index_bits : int
        Scores per beat, longest row, token index width.
    buffer_depth : int
        Slots of the row buffer (its credits).
    head_depth : int
        Entries of the row-head FIFO (its credits).

    Members
    -------
    scores : In(stream.Signature(score_beat))
        The input.
    w_en, w_addr, w_data : Out
        Row buffer write port.
    freed : In(1)
        The reader took a slot.
    head_freed : In(1)
        The reader took a row head.
    head_valid, head : Out
        A row head, :attr:`latency` cycles after the row's last beat is taken.
    """

    def __init__(self, *, lanes, n_max, index_bits, buffer_depth, head_depth):
        self._lanes = check_pow2("lanes", lanes, 1, 64)
        self._n_max = check_int("n_max", n_max, 1, 65536)
        self._index_bits = check_int("index_bits", index_bits, 1, 16)
        self._buffer_depth = check_int("buffer_depth", buffer_depth, 2, 65536)
        self._head_depth = check_int("head_depth", head_depth, 2, 1024)
        beat = score_beat(self._lanes, self._index_bits)
        super().__init__({
            "scores": In(stream.Signature(beat)),
            "w_en": Out(1), "w_addr": Out(range(self._buffer_depth)), "w_data": Out(beat),
            "freed": In(1), "head_freed": In(1),
            "head_valid": Out(1), "head": Out(row_head(self._n_max, self.beats_cap)),
        })

    @property
    def beats_max(self):
        """Beats of a full row of ``n_max`` scores."""
        return -(-self._n_max // self._lanes)

    @property
    def beats_cap(self):
        """Most beats a row holds in the buffer: ``beats_max`` and a last one."""
        return self.beats_max + 1

    @property
    def tree_levels(self):
        return (self._lanes - 1).bit_length()

    @property
    def latency(self):
        """Cycles from the last beat taken to ``head_valid``: input register, write, tree, running max."""
        return self.latency_of(self._lanes)

    @staticmethod
    def latency_of(lanes):
        """:attr:`latency` of an instance with ``lanes`` (for the parent's own latency)."""
        return 3 + (lanes - 1).bit_length()

    def elaborate(self, platform):
        m = Module()
        lanes, fmt = self._lanes, SOFTMAX
        m.submodules.slots = slots = Credits(depth=self._buffer_depth, gives=2)
        m.submodules.heads = heads = Credits(depth=self._head_depth)
        take = self.scores.valid & self.scores.ready
        m.d.comb += [self.scores.ready.eq(slots.available & heads.available),
                     slots.take.eq(take), heads.take.eq(take & self.scores.payload.last),
                     slots.give[0].eq(self.freed), heads.give.eq(self.head_freed)]

        # Stage A: the beat and its count clipped to the lanes, registered.
        beat_layout = score_beat(lanes, self._index_bits)
        payload = self.scores.payload
        in_valid = Signal()
        beat = Signal(beat_layout, reset_less=True)
        count = Signal(range(lanes + 1), reset_less=True)
        over = Signal(reset_less=True)
        m.d.sync += in_valid.eq(take)
        with m.If(take):
            m.d.sync += [beat.eq(payload), over.eq(payload.count > lanes),
                         count.eq(Mux(payload.count > lanes, lanes, payload.count))]

        # Stage B: the row so far, in registers that need no arithmetic before they are
        # compared: the room left (lanes is a power of two, so "room < lanes" is a NOR of
        # its high bits and the clip to the room a compare of its low bits), whether a beat
        # besides the last may still be written, whether a score was kept, cut or bad beats.
        room = Signal(range(self._n_max + 1), init=self._n_max)
        length = Signal(range(self._n_max + 1))
        beats = Signal(range(self.beats_cap + 1))
        open_ = Signal(init=1)
        seen = Signal()
        bad = Signal()
        low = (lanes - 1).bit_length()
        small = room[low:] == 0
        room_low = room[:low] if low else Const(0, 1)
        fit = Mux(small & (count > room_low), room_low, count)
        write = in_valid & (beat.last | ((fit != 0) & open_))
        kept = Signal(range(lanes + 1))
        m.d.comb += kept.eq(Mux(write, fit, 0))
        row_bad = bad | over | (kept != count)
        wptr = Signal(range(self._buffer_depth))
        m.d.comb += [self.w_en.eq(write), self.w_addr.eq(wptr),
                     self.w_data.eq(beat), self.w_data.count.eq(kept),
                     slots.give[1].eq(in_valid & ~write)]
        with m.If(write):
            m.d.sync += wptr.eq(Mux(wptr == self._buffer_depth - 1, 0, wptr + 1))
        tag = Signal(self.head.tag.shape(), reset_less=True)
        with m.If(in_valid):
            with m.If(beat.last):
                m.d.sync += [room.eq(self._n_max), length.eq(0), beats.eq(0), open_.eq(1),
                             seen.eq(0), bad.eq(0)]
            with m.Else():
                m.d.sync += [room.eq(room - kept), length.eq(length + kept), beats.eq(beats + write),
                             open_.eq(open_ & ~(write & (beats == self.beats_max - 1))),
                             seen.eq(seen | (kept != 0)), bad.eq(row_bad)]
        m.d.sync += [tag.beats.eq(beats + 1), tag.length.eq(length + kept),
                     tag.error.eq(row_bad | ~(seen | (kept != 0)))]

        # Max tree: lanes past the kept count are the smallest score.
        level = [Signal(beat.score[0].shape(), name=f"max0_{k}", reset_less=True)
                 for k in range(lanes)]
        for k in range(lanes):
            m.d.sync += level[k].eq(Mux(k < kept, beat.score[k], Const(fmt.score.min_int,
                                                                        beat.score[0].shape())))
        valid, first, last = Signal(name="max_valid0"), Signal(name="max_first0", reset_less=True), \
            Signal(name="max_last0", reset_less=True)
        m.d.sync += [valid.eq(write), first.eq(beats == 0), last.eq(beat.last)]
        for depth in range(1, self.tree_levels + 1):
            nxt = [Signal.like(level[0], name=f"max{depth}_{k}", reset_less=True)
                   for k in range(len(level) // 2)]
            for k, out in enumerate(nxt):
                a, b = level[2 * k], level[2 * k + 1]
                m.d.sync += out.eq(Mux(a > b, a, b))
            n_valid, n_first, n_last, n_tag = (Signal(name=f"max_valid{depth}"),
                                               Signal(name=f"max_first{depth}", reset_less=True),
                                               Signal(name=f"max_last{depth}", reset_less=True),
                                               Signal.like(tag, name=f"max_tag{depth}", reset_less=True))
            m.d.sync += [n_valid.eq(valid), n_first.eq(first), n_last.eq(last), n_tag.eq(tag)]
            level, valid, first, last, tag = nxt, n_valid, n_first, n_last, n_tag

        running = Signal.like(level[0], reset_less=True)
        current = Mux(first | (level[0] > running), level[0], running)
        head = Signal(self.head.shape(), reset_less=True)
        head_valid = Signal()
        with m.If(valid):
            m.d.sync += running.eq(current)
        m.d.sync += [head_valid.eq(valid & last), head.row_max.eq(current), head.tag.eq(tag)]
        m.d.comb += [self.head_valid.eq(head_valid), self.head.eq(head)]
        return m
