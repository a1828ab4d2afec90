"""Softmax pass 3: read each row's ``e'`` back, multiply it by the row's reciprocal, emit probabilities."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..credit_fifo import CreditFifo
from ..params import check_int, check_pow2
from .credits import Credits
from .exp_stage import delay
from .layouts import norm_beat, prob_beat, row_recip, row_summary, z_values
from .normalizer import Normalizer
from .row_reader import RowReader

__all__ = ["NormStage"]


class NormStage(wiring.Component):
    """Emits each row's probability beats, in input order, and its summary.

    A reciprocal entry (``R``, ``z``, the largest probability, the tag)
    starts a row: its summary is written to the summary FIFO in that
    cycle, and the stage issues one exp-buffer read per cycle while it
    holds a credit of the output FIFO, loading the next row in the cycle
    of the last read. Each read meets ``lanes`` :class:`Normalizer` s; the
    probability beats land in a :class:`hw.credit_fifo.CreditFifo`, which
    drives ``probs``.

    Parameters
    ----------
    lanes, n_max, index_bits, beats_cap : int
        As :class:`hw.softmax.exp_stage.ExpStage`.
    exp_depth : int
        Slots of the exp buffer.
    out_depth, summary_depth : int
        Entries of the output and summary FIFOs (powers of two, 4..1024).
    read_latency : int
        Cycles from ``r_addr`` to ``r_data``.

    Members
    -------
    rows : In(stream.Signature(row_recip))
    r_addr : Out, r_data : In, freed : Out(1)
        Exp buffer read port; ``freed`` when a slot is read.
    probs : Out(stream.Signature(prob_beat))
    summary : Out(stream.Signature(row_summary))
    """

    def __init__(self, *, lanes, n_max, index_bits, beats_cap, exp_depth, out_depth, summary_depth,
                 read_latency):
        self._lanes = check_pow2("lanes", lanes, 1, 64)
        self._n_max = check_int("n_max", n_max, 1, 65536)
        self._index_bits = check_int("index_bits", index_bits, 1, 16)
        self._beats_cap = check_int("beats_cap", beats_cap, 2, 65537)
        self._exp_depth = check_int("exp_depth", exp_depth, 2, 65536)
        self._out_depth = check_pow2("out_depth", out_depth, 4, 1024)
        self._summary_depth = check_pow2("summary_depth", summary_depth, 4, 1024)
        self._read_latency = check_int("read_latency", read_latency, 1, 4)
        self._recip = row_recip(self._n_max, self._beats_cap)
        super().__init__({
            "rows": In(stream.Signature(self._recip)),
            "r_addr": Out(range(self._exp_depth)), "r_data": In(norm_beat(lanes, index_bits)),
            "freed": Out(1),
            "probs": Out(stream.Signature(prob_beat(lanes, index_bits))),
            "summary": Out(stream.Signature(row_summary(self._n_max))),
        })

    @property
    def latency(self):
        """Cycles from a read to its probability beat offered: buffer, normaliser, output FIFO."""
        return self.latency_of(self._read_latency)

    @staticmethod
    def latency_of(read_latency):
        """:attr:`latency` of an instance with ``read_latency``."""
        return read_latency + Normalizer.LATENCY + CreditFifo.LATENCY

    def elaborate(self, platform):
        m = Module()
        lanes = self._lanes
        out_layout, summary_layout = self.probs.payload.shape(), self.summary.payload.shape()
        m.submodules.out_fifo = out_fifo = CreditFifo(width=out_layout.size, depth=self._out_depth)
        m.submodules.summary_fifo = summary_fifo = CreditFifo(width=summary_layout.size,
                                                              depth=self._summary_depth)
        m.submodules.out_slots = out_slots = Credits(depth=self._out_depth)
        m.submodules.summary_slots = summary_slots = Credits(depth=self._summary_depth)
        for fifo, port, slots in ((out_fifo, self.probs, out_slots),
                                  (summary_fifo, self.summary, summary_slots)):
            m.d.comb += [port.valid.eq(fifo.r_valid), port.payload.eq(fifo.r_data), fifo.r_en.eq(port.ready),
                         slots.give.eq(fifo.r_valid & port.ready)]

        # The row under way: R and z, latched when the reader takes it; its summary goes then.
        m.submodules.reader = reader = RowReader(depth=self._exp_depth, beats_cap=self._beats_cap)
        recip = Signal(self._recip.members["recip"], reset_less=True)
        z_excess = Signal(self._recip.members["z_excess"], reset_less=True)
        row, issue, load = self.rows.payload, reader.issue, reader.load
        m.d.comb += [reader.row_valid.eq(self.rows.valid), reader.row_beats.eq(row.tag.beats),
                     reader.room.eq(summary_slots.available), reader.credit.eq(out_slots.available),
                     self.rows.ready.eq(reader.take), self.r_addr.eq(reader.addr),
                     out_slots.take.eq(issue), summary_slots.take.eq(load), self.freed.eq(issue)]
        summary = data.View(summary_layout, summary_fifo.w_data)
        m.d.comb += [summary_fifo.w_en.eq(load), summary.max_prob.eq(row.max_prob),
                     summary.length.eq(row.tag.length), summary.error.eq(row.tag.error)]
        with m.If(load):
            m.d.sync += [recip.eq(row.recip), z_excess.eq(row.z_excess)]

        lat = self._read_latency
        r_valid = delay(m, issue, lat, name="read_valid", reset=True)
        r_recip = delay(m, recip, lat, name="read_recip")
        r_z = delay(m, z_excess, lat, name="read_z")
        n_lat = Normalizer.LATENCY
        out = data.View(out_layout, out_fifo.w_data)
        for k in range(lanes):
            unit = m.submodules[f"norm{k}"] = Normalizer(z_values=z_values(self._n_max))
            m.d.comb += [unit.exp_norm.eq(self.r_data.exp_norm[k]), unit.recip.eq(r_recip),
                         unit.z_excess.eq(r_z), out.prob[k].eq(unit.prob)]
        m.d.comb += [out_fifo.w_en.eq(delay(m, r_valid, n_lat, name="norm_valid", reset=True)),
                     out.index.eq(delay(m, self.r_data.index, n_lat, name="norm_index")),
                     out.count.eq(delay(m, self.r_data.count, n_lat, name="norm_count")),
                     out.last.eq(delay(m, self.r_data.last, n_lat, name="norm_last"))]
        return m
