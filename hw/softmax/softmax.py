"""The fixed-point softmax unit: score beats in, probability beats and row summaries out."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..credit_fifo import CreditFifo
from ..lane_ram import LaneRam
from ..params import check_int, check_pow2
from .exp_stage import ExpStage, delay
from .ingest import RowIngest
from .layouts import norm_beat, prob_beat, row_head, row_recip, row_summary, score_beat, widths, z_values
from .norm_stage import NormStage
from .normalizer import MaxProbability
from .reciprocal import Reciprocal

__all__ = ["Softmax", "softmax_from_config"]


def _pow2_at_least(value):
    return 1 << max(1, (value - 1).bit_length())


class Softmax(wiring.Component):
    """``golden.softmax.softmax_fx`` of each row of scores, bit for bit, ``lanes`` scores per cycle.

    A row is the visible keys of one query (masked keys are not sent), of
    1..``n_max`` scores in beats of ``lanes``. Three passes over a row, each
    its own stage, overlap across rows:

    1. :class:`~hw.softmax.ingest.RowIngest` writes the beats into the row
       buffer and finds the row's max;
    2. :class:`~hw.softmax.exp_stage.ExpStage` reads the row back, computes
       ``e = exp(s - max)`` per score, writes ``e'`` (U1.17) into the exp
       buffer and sums ``e`` exactly; :class:`~hw.softmax.reciprocal.Reciprocal`
       turns the sum into ``R`` and ``z``;
    3. :class:`~hw.softmax.norm_stage.NormStage` reads ``e'`` back and
       multiplies it by ``R`` (one 18 x 18 multiply per score).

    Why row buffers and not recomputation or online rescaling: the golden
    model's exp is of ``s - max`` with the true row max (so the row max
    gets exactly 1.0 and the sum has no rescaling error), which needs the
    whole row before the first exp; keeping ``e'`` for pass 3 instead of
    recomputing it from the scores costs a second buffer of the same size
    but no second set of exp units (two multipliers and two ROMs per lane).
    Both buffers are rings of block RAM deep enough for a row of ``n_max``
    plus the beats in flight, so a row is taken while the previous ones
    finish, and short rows follow each other at one beat per cycle: every
    stage starts a row in the cycle its previous row's last beat goes, and
    the divider is pipelined (one row per cycle).

    Parameters
    ----------
    lanes : int
        Scores per beat, a power of two in 1..64.
    n_max : int
        Longest row, 1..65536.
    index_bits : int
        Width of a token index, 1..16.

    Members
    -------
    scores : In(stream.Signature(score_beat))
        ``{score[lanes]: S10.8, index[lanes], count: 0..lanes, last}``: the
        first ``count`` lanes hold scores. Every beat but the last should be
        full; a row keeps its first ``n_max`` scores and at most
        ``ceil(n_max / lanes)`` beats before its last.
    probs : Out(stream.Signature(prob_beat))
        ``{prob[lanes]: U1.15, index[lanes], count, last}``: one beat per
        kept input beat, in input order (the last beat always comes, with
        count 0 if its scores were cut); lanes past ``count`` are 0.
    summary : Out(stream.Signature(row_summary))
        ``{max_prob: U1.15, length, error}`` per row, offered by the time its
        first probability beat is: ``error`` if scores were cut, a count was
        above ``lanes``, or the row had no score (then ``max_prob`` is 0).

    Latency and throughput: with the unit idle and no backpressure, a row
    of ``b`` beats taken one per cycle gives its first probability beat
    :meth:`latency` ``(b)`` cycles after its first score beat, and its last
    one as long after its last score beat. In steady state one beat per
    cycle in and out for rows of any length (rows of one beat: one row per
    cycle), while downstream takes the probabilities and the summaries.
    """

    # Entries of the FIFOs between the stages: row heads, reciprocals, output beats, summaries.
    HEAD_DEPTH = 16
    RECIP_DEPTH = 64
    OUT_DEPTH = 16
    SUMMARY_DEPTH = 16
    # Beats in flight beyond a full row that each buffer holds, so that full rows go back to back.
    BUFFER_SLACK = 16
    EXP_SLACK = 64

    def __init__(self, *, lanes, n_max, index_bits):
        self._lanes = check_pow2("lanes", lanes, 1, 64)
        self._n_max = check_int("n_max", n_max, 1, 65536)
        self._index_bits = check_int("index_bits", index_bits, 1, 16)
        super().__init__({
            "scores": In(stream.Signature(score_beat(self._lanes, self._index_bits))),
            "probs": Out(stream.Signature(prob_beat(self._lanes, self._index_bits))),
            "summary": Out(stream.Signature(row_summary(self._n_max))),
        })

    lanes = property(lambda self: self._lanes)
    n_max = property(lambda self: self._n_max)
    index_bits = property(lambda self: self._index_bits)

    @property
    def beats_cap(self):
        """Most beats of a row in the buffers: a full row and a last beat."""
        return -(-self._n_max // self._lanes) + 1

    @property
    def buffer_depth(self):
        return _pow2_at_least(self.beats_cap + self.BUFFER_SLACK)

    @property
    def exp_depth(self):
        return _pow2_at_least(self.beats_cap + self.EXP_SLACK)

    @property
    def read_latency(self):
        return LaneRam.latency_of(block=True)

    @property
    def latency_constant(self):
        """:meth:`latency` of a one-beat row: the stages' latencies, each FIFO's, a cycle from a
        stage's load to its first read (twice) and the largest probability's pipeline."""
        return (RowIngest.latency_of(self._lanes) + CreditFifo.LATENCY + 1
                + ExpStage.latency_of(self._lanes, self.read_latency) + Reciprocal.latency_of()
                + MaxProbability.LATENCY
                + CreditFifo.LATENCY + 1 + NormStage.latency_of(self.read_latency))

    def latency(self, beats):
        """Cycles from a row's first score beat to its first probability beat (idle unit, no pauses)."""
        return self.latency_constant + 2 * (beats - 1)

    def _stages(self):
        common = {"lanes": self._lanes, "n_max": self._n_max}
        ingest = RowIngest(**common, index_bits=self._index_bits, buffer_depth=self.buffer_depth,
                           head_depth=self.HEAD_DEPTH)
        exp = ExpStage(**common, index_bits=self._index_bits, beats_cap=self.beats_cap,
                       buffer_depth=self.buffer_depth, exp_depth=self.exp_depth,
                       recip_depth=self.RECIP_DEPTH, read_latency=self.read_latency)
        norm = NormStage(**common, index_bits=self._index_bits, beats_cap=self.beats_cap,
                         exp_depth=self.exp_depth, out_depth=self.OUT_DEPTH,
                         summary_depth=self.SUMMARY_DEPTH, read_latency=self.read_latency)
        return ingest, exp, norm

    def elaborate(self, platform):
        m = Module()
        lanes, ib = self._lanes, self._index_bits
        m.submodules.ingest, m.submodules.exp, m.submodules.norm = ingest, exp, norm = self._stages()
        wiring.connect(m, wiring.flipped(self.scores), ingest.scores)
        wiring.connect(m, norm.probs, wiring.flipped(self.probs))
        wiring.connect(m, norm.summary, wiring.flipped(self.summary))

        # Row buffer (scores) and exp buffer (e'), block RAM read into landing registers.
        m.submodules.row_buffer = row_buffer = LaneRam(shape=score_beat(lanes, ib), depth=self.buffer_depth,
                                                       slice_bits=36, block=True)
        m.submodules.exp_buffer = exp_buffer = LaneRam(shape=norm_beat(lanes, ib), depth=self.exp_depth,
                                                       slice_bits=36, block=True)
        m.d.comb += [row_buffer.w_en.eq(ingest.w_en), row_buffer.w_addr.eq(ingest.w_addr),
                     row_buffer.w_data.eq(ingest.w_data), exp.r_data.eq(row_buffer.r_data),
                     ingest.freed.eq(exp.freed),
                     exp_buffer.w_en.eq(exp.w_en), exp_buffer.w_addr.eq(exp.w_addr),
                     exp_buffer.w_data.eq(exp.w_data), norm.r_data.eq(exp_buffer.r_data),
                     exp.exp_freed.eq(norm.freed)]
        m.d.comb += [row_buffer.r_addr[s].eq(exp.r_addr) for s in range(row_buffer.slices)]
        m.d.comb += [exp_buffer.r_addr[s].eq(norm.r_addr) for s in range(exp_buffer.slices)]

        # Row heads: pass 1 -> pass 2.
        head_layout = row_head(self._n_max, self.beats_cap)
        m.submodules.head_fifo = head_fifo = CreditFifo(width=head_layout.size, depth=self.HEAD_DEPTH)
        m.d.comb += [head_fifo.w_en.eq(ingest.head_valid), head_fifo.w_data.eq(ingest.head),
                     exp.rows.valid.eq(head_fifo.r_valid), exp.rows.payload.eq(head_fifo.r_data),
                     head_fifo.r_en.eq(exp.rows.ready),
                     ingest.head_freed.eq(head_fifo.r_valid & exp.rows.ready)]

        # Sums -> reciprocals -> the row's largest probability -> pass 3.
        recip_layout = row_recip(self._n_max, self.beats_cap)
        m.submodules.reciprocal = reciprocal = Reciprocal(sum_bits=widths(self._n_max)["sum_bits"],
                                                          tag_width=exp.tag.shape().size)
        m.d.comb += [reciprocal.i_valid.eq(exp.total_valid), reciprocal.i_total.eq(exp.total),
                     reciprocal.i_tag.eq(exp.tag)]
        recip_tag = data.View(exp.tag.shape(), reciprocal.o_tag)
        m.submodules.max_prob = max_prob = MaxProbability(z_values=z_values(self._n_max))
        m.d.comb += [max_prob.recip.eq(reciprocal.o_recip), max_prob.z_excess.eq(reciprocal.o_z_excess),
                     max_prob.empty.eq(recip_tag.length == 0)]
        entry = Signal(recip_layout)
        lat = MaxProbability.LATENCY
        entry_valid = delay(m, reciprocal.o_valid, lat, name="entry_valid", reset=True)
        m.d.comb += [entry.recip.eq(delay(m, reciprocal.o_recip, lat, name="entry_recip")),
                     entry.z_excess.eq(delay(m, reciprocal.o_z_excess, lat, name="entry_z")),
                     entry.tag.eq(delay(m, recip_tag.as_value(), lat, name="entry_tag")),
                     entry.max_prob.eq(max_prob.max_prob)]
        m.submodules.recip_fifo = recip_fifo = CreditFifo(width=recip_layout.size, depth=self.RECIP_DEPTH)
        m.d.comb += [recip_fifo.w_en.eq(entry_valid), recip_fifo.w_data.eq(entry),
                     norm.rows.valid.eq(recip_fifo.r_valid), norm.rows.payload.eq(recip_fifo.r_data),
                     recip_fifo.r_en.eq(norm.rows.ready),
                     exp.recip_freed.eq(recip_fifo.r_valid & norm.rows.ready)]
        return m


def softmax_from_config(config):
    """The unit of a :class:`gen.config.SpattenConfig`: ``softmax_lanes``, ``max_context``, ``index_bits``."""
    return Softmax(lanes=config.softmax_lanes, n_max=config.max_context, index_bits=config.index_bits)
