"""Softmax pass 2: read a row back from the row buffer, exp every score, sum the row."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.softmax import SOFTMAX

from ..params import check_int, check_pow2
from .credits import Credits
from .exp_unit import ExpUnit
from .layouts import norm_beat, row_head, score_beat, widths
from .row_reader import RowReader

__all__ = ["ExpStage", "delay"]


def delay(m, value, cycles, *, name, reset=False):
    """``value`` registered ``cycles`` times (reset-less unless ``reset``): a pipeline's side band."""
    for i in range(cycles):
        stage = Signal.like(value, name=f"{name}_d{i}", reset_less=not reset)
        m.d.sync += stage.eq(value)
        value = stage
    return value


class ExpStage(wiring.Component):
    """Reads each row's beats from the row buffer, one per cycle, and computes ``e``, ``e'`` and ``S``.

    A row head (from the row-head FIFO) starts a row; the stage issues one
    buffer read per cycle while it holds a credit for a slot of the exp
    buffer, and loads the next head in the cycle of the last read, so rows
    follow each other with no gap. The read data (``read_latency`` cycles
    later) meets ``lanes`` :class:`ExpUnit` s; ``e'`` goes to the exp buffer,
    ``e`` to a registered adder tree and the row's accumulator, whose total
    (``S``, with the tag) is offered to the reciprocal in the cycle after
    the row's last beat leaves the tree. A row takes a credit of the
    reciprocal-result FIFO when it starts.

    Parameters
    ----------
    lanes, n_max, index_bits : int
        As :class:`hw.softmax.softmax.Softmax`.
    beats_cap : int
        Most beats of a row (the tag's range).
    buffer_depth, exp_depth : int
        Slots of the row buffer (read here) and of the exp buffer (written here).
    recip_depth : int
        Entries of the reciprocal-result FIFO.
    read_latency : int
        Cycles from ``r_addr`` to ``r_data``.

    Members
    -------
    rows : In(stream.Signature(row_head))
    r_addr : Out, r_data : In, freed : Out(1)
        Row buffer read port; ``freed`` when a slot is read.
    w_en, w_addr, w_data : Out
        Exp buffer write port.
    exp_freed, recip_freed : In(1)
        A slot of the exp buffer, an entry of the reciprocal FIFO, is free again.
    total_valid, total, tag : Out
        A row's exp sum (``max(S, 1.0)``: an empty row gives 1.0) and tag.
    """

    def __init__(self, *, lanes, n_max, index_bits, beats_cap, buffer_depth, exp_depth,
                 recip_depth, read_latency):
        self._lanes = check_pow2("lanes", lanes, 1, 64)
        self._n_max = check_int("n_max", n_max, 1, 65536)
        self._beats_cap = check_int("beats_cap", beats_cap, 2, 65537)
        self._buffer_depth = check_int("buffer_depth", buffer_depth, 2, 65536)
        self._exp_depth = check_int("exp_depth", exp_depth, 2, 65536)
        self._recip_depth = check_int("recip_depth", recip_depth, 2, 1024)
        self._read_latency = check_int("read_latency", read_latency, 1, 4)
        self._sum_bits = widths(self._n_max)["sum_bits"]
        head = row_head(self._n_max, self._beats_cap)
        super().__init__({
            "rows": In(stream.Signature(head)),
            "r_addr": Out(range(self._buffer_depth)), "r_data": In(score_beat(lanes, index_bits)),
            "freed": Out(1),
            "w_en": Out(1), "w_addr": Out(range(self._exp_depth)),
            "w_data": Out(norm_beat(lanes, index_bits)),
            "exp_freed": In(1), "recip_freed": In(1),
            "total_valid": Out(1), "total": Out(self._sum_bits), "tag": Out(head.members["tag"]),
        })

    @property
    def tree_levels(self):
        return (self._lanes - 1).bit_length()

    @property
    def latency(self):
        """Cycles from a row's last read to ``total_valid``: buffer, exp, adder tree, accumulator."""
        return self.latency_of(self._lanes, self._read_latency)

    @staticmethod
    def latency_of(lanes, read_latency):
        """:attr:`latency` of an instance with ``lanes`` and ``read_latency``."""
        return read_latency + ExpUnit.LATENCY + (lanes - 1).bit_length() + 1

    def elaborate(self, platform):
        m = Module()
        lanes = self._lanes
        m.submodules.exp_slots = exp_slots = Credits(depth=self._exp_depth)
        m.submodules.recip_slots = recip_slots = Credits(depth=self._recip_depth)
        m.d.comb += [exp_slots.give.eq(self.exp_freed), recip_slots.give.eq(self.recip_freed)]

        # The row under way: its max and tag, latched when the reader takes it.
        m.submodules.reader = reader = RowReader(depth=self._buffer_depth, beats_cap=self._beats_cap)
        row_max = Signal.like(self.rows.payload.row_max, reset_less=True)
        tag = Signal.like(self.rows.payload.tag, reset_less=True)
        issue, first = reader.issue, reader.first
        m.d.comb += [reader.row_valid.eq(self.rows.valid), reader.row_beats.eq(self.rows.payload.tag.beats),
                     reader.room.eq(recip_slots.available), reader.credit.eq(exp_slots.available),
                     self.rows.ready.eq(reader.take), self.r_addr.eq(reader.addr),
                     exp_slots.take.eq(issue), recip_slots.take.eq(reader.load), self.freed.eq(issue)]
        with m.If(reader.load):
            m.d.sync += [row_max.eq(self.rows.payload.row_max), tag.eq(self.rows.payload.tag)]

        # Side band of each read, aligned with its data.
        lat = self._read_latency
        r_valid = delay(m, issue, lat, name="read_valid", reset=True)
        r_first = delay(m, first, lat, name="read_first")
        r_max = delay(m, row_max, lat, name="read_max")
        r_tag = delay(m, tag, lat, name="read_tag")
        units = []
        for k in range(lanes):
            unit = m.submodules[f"exp{k}"] = ExpUnit()
            m.d.comb += [unit.score.eq(self.r_data.score[k]), unit.row_max.eq(r_max),
                         unit.valid.eq(k < self.r_data.count)]
            units.append(unit)
        e_lat = ExpUnit.LATENCY
        e_valid = delay(m, r_valid, e_lat, name="exp_valid", reset=True)
        e_first = delay(m, r_first, e_lat, name="exp_first")
        e_tag = delay(m, r_tag, e_lat, name="exp_tag")
        e_index = delay(m, self.r_data.index, e_lat, name="exp_index")
        e_count = delay(m, self.r_data.count, e_lat, name="exp_count")
        e_last = delay(m, self.r_data.last, e_lat, name="exp_last")

        wptr = Signal(range(self._exp_depth))
        m.d.comb += [self.w_en.eq(e_valid), self.w_addr.eq(wptr), self.w_data.index.eq(e_index),
                     self.w_data.count.eq(e_count), self.w_data.last.eq(e_last)]
        m.d.comb += [self.w_data.exp_norm[k].eq(unit.exp_norm) for k, unit in enumerate(units)]
        with m.If(e_valid):
            m.d.sync += wptr.eq(Mux(wptr == self._exp_depth - 1, 0, wptr + 1))

        # Adder tree, registered at every level, then the row's accumulator.
        level = [unit.exp for unit in units]
        valid, first, last, row_tag = e_valid, e_first, e_last, e_tag
        for depth in range(1, self.tree_levels + 1):
            nxt = [Signal(len(level[0]) + 1, name=f"sum{depth}_{k}", reset_less=True)
                   for k in range(len(level) // 2)]
            m.d.sync += [out.eq(level[2 * k] + level[2 * k + 1]) for k, out in enumerate(nxt)]
            valid = delay(m, valid, 1, name=f"sum_valid{depth}", reset=True)
            first = delay(m, first, 1, name=f"sum_first{depth}")
            last = delay(m, last, 1, name=f"sum_last{depth}")
            row_tag = delay(m, row_tag, 1, name=f"sum_tag{depth}")
            level = nxt
        acc = Signal(self._sum_bits, reset_less=True)
        current = Signal(self._sum_bits)
        m.d.comb += current.eq(Mux(first, level[0], acc + level[0]))
        with m.If(valid):
            m.d.sync += acc.eq(current)
        total_valid = Signal()
        total = Signal(self._sum_bits, reset_less=True)
        out_tag = Signal.like(tag, reset_less=True)
        one = 1 << SOFTMAX.exp_frac
        m.d.sync += [total_valid.eq(valid & last), out_tag.eq(row_tag),
                     total.eq(Mux(current[SOFTMAX.exp_frac:] == 0, one, current))]
        m.d.comb += [self.total_valid.eq(total_valid), self.total.eq(total), self.tag.eq(out_tag)]
        return m
