"""SpAtten top-k engine: quick-select of the k-th largest score, then one
pass over the input that keeps the top k in input order."""

from amaranth.hdl import Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden import topk_cycles

from ..params import check_bool, check_int, check_pow2
from ..rank_select import RankSelect
from .control import TopKControl
from .credited_output import CreditedOutput, result_layout
from .decision import RoundDecision
from .final_pass import FinalPass
from .geometry import TopKGeometry
from .input_writer import InputWriter
from .lane_buffer import LaneBuffer
from .part_writer import PartWriter
from .pivot_sampler import SIDES, PivotSampler
from .round_compare import CLASSES, RoundCompare
from .round_counts import RoundCounts
from .round_reader import RoundReader

__all__ = ["TopKEngine"]


class TopKEngine(wiring.Component):
    """Top-k of ``n`` scores with the SpAtten tie rule (``golden.topk``).

    Quick-select rounds run over ``P`` scores per cycle. The paper's round
    compares every candidate with one pivot and keeps the side holding rank
    ``k``; here each round compares with two pivots ``hi >= lo`` (``2P``
    comparators per pivot: greater and less) that bracket an estimate of the
    k-th value, counts the candidates ``> hi``, ``>= hi``, ``> lo`` and ``>=
    lo``, and three zero eliminators pack the three parts, L (``> hi``), M
    (``lo < x < hi``) and R (``< lo``), into the banked buffers L, M and R
    (``P`` one-element-wide memories each, written at a rotating fill offset).
    The next round reads the part that holds rank ``k``, usually M (about
    ``2 n_i / (S + 1)`` candidates); it rewrites its own buffer from row 0,
    never overtaking its reads. If ``hi`` or ``lo`` is the k-th value the
    selection ends. Against one pivot this cuts the rounds at P = 16, n = 1024
    from about 5.3 to 3.9 (``golden.topk_cycles``). The first round is fused
    with the input, which is also kept in an input buffer in input order. A
    final pass reads the input buffer, keeps ``x > T`` and the earliest
    ``x == T`` (``T`` the k-th value), packs and emits them with their indices.

    Pivot rule: a sample of ``m = min(n_i, S)`` candidates (``S = min(P,
    16)``) is ranked against itself, and the pivots are the elements of
    descending ranks ``k_i - 1`` (both, if ``n_i <= S``: exact, the round
    ends the selection) or ``max(0, t - 1)`` and ``min(S - 1, t + 1)`` with
    ``t = min(S - 1, k_i * S // n_i)``, the sample rank that estimates the
    k-th value. Round 1 samples the first input
    beat; a later round first reads one candidate per bank ``j < m`` from a
    row chosen by bank ``j``'s LFSR (a spread sample: sorted inputs stay near
    the random-input cost). The LFSRs restart from seeds derived from
    ``lfsr_seed`` at every request, so each request's cycles are reproducible
    (``golden.topk_cycles``).

    Parameters
    ----------
    n_max : int
        Largest ``n`` per request, 1..65536.
    parallelism : int
        ``P``, lanes per beat, power of two in 2..64.
    score_bits : int
        Score width, 2..64.
    signed : bool
        Scores are two's complement.
    lfsr_seed : int
        1..65535, seed of the sample LFSRs.
    ordered : bool
        Add the ``final_go`` input: one engine among several behind one
        interface (:class:`hw.topk.interleave.TopKInterleave`).

    Members
    -------
    request : In(stream) of ``{n, k}``
        One beat per request.
    scores : In(stream) of ``ArrayLayout(score, P)``
        ``ceil(n / P)`` beats per request, consumed after the request beat.
    result : Out(stream) of ``{index, score, count, last, error}``
        The kept elements in input order, packed into lanes ``0..count-1``,
        at most one beat per input beat; ``last`` on the final beat.
    final_go : In(1), with ``ordered`` only
        The final pass may start (the results of earlier requests, from
        other engines, are out). The final pass starts in the cycle after
        the later of the last decision's next cycle and the first cycle
        ``final_go`` is high; it stays high until this request's last
        result beat.

    Latency and throughput (no bubbles, no backpressure, ``nb_i =
    ceil(n_i / P)`` beats in round ``i``, cycle 0 = first score beat accepted):
    round 1 decides at cycle ``nb_1 - 1 + round_latency``; round ``i > 1``
    decides ``nb_i + round_gap + round_latency - 1`` cycles after round
    ``i-1``; the k-th value is known at the last decision, cycle ``D``
    ("select cycles" ``= D + 1``, counting cycle 0). The result beat holding
    input row ``j`` is transferred at cycle ``D + 1 + j + final_latency``
    (total cycles: that plus one). Throughput: ``P`` scores per cycle in every
    round and in the final pass. See
    ``golden/topk_cycles.py`` for the exact model. Requests are accepted only
    when idle (at the latest two cycles after the last result beat); scores are
    taken from the third cycle after the request.
    Bad requests never hang: ``k > n`` keeps all ``n`` and sets ``error`` on
    the last beat; ``n == 0`` or ``n > n_max`` consumes the ``ceil(n / P)``
    beats and answers one empty beat with ``error``; ``k == 0`` answers one
    empty beat.

    Stages (each a component of its own, joined in :meth:`elaborate`):
    :class:`.control.TopKControl` (request registers, one-hot states),
    :class:`.input_writer.InputWriter` (input buffer), :class:`.pivot_sampler.PivotSampler`
    (sample, LFSRs, rank select), :class:`.round_reader.RoundReader` (a
    round's beats, the banks' read rows, the wait for the pivots),
    :class:`.round_compare.RoundCompare` (classes and parts),
    :class:`.round_counts.RoundCounts` (running differences, decide),
    :class:`.part_writer.PartWriter` (one per part: pack, fill offset,
    rotate, write), :class:`.decision.RoundDecision` (outcome, next round's
    ``n`` and ``k``, the threshold and quota), :class:`.final_pass.FinalPass`
    and :class:`.credited_output.CreditedOutput`; the buffers are
    :class:`.lane_buffer.LaneBuffer` s. Their depths are defined in
    ``golden.topk_timing``. See docs/topk.md.

    Reset: ``rst`` (synchronous, one cycle is enough) drops the request under
    way, whatever its phase, and returns to idle. Only the control registers
    (state, valids, counters, credits, enables) are reset; the data
    registers (scores, classes, masks, counts, rows, copies) are not: they
    are read only under a valid, and a reset net to every one of them is
    routing the place and route must find.
    """

    def __init__(self, *, n_max, parallelism, score_bits, signed=False, lfsr_seed=1, ordered=False):
        n_max = check_int("n_max", n_max, 1, 65536)
        P = check_pow2("parallelism", parallelism, 2, 64)
        score_bits = check_int("score_bits", score_bits, 2, 64)
        check_bool("signed", signed)
        lfsr_seed = check_int("lfsr_seed", lfsr_seed, 1, 65535)
        check_bool("ordered", ordered)
        self._geometry = TopKGeometry(n_max=n_max, lanes=P, score_bits=score_bits, signed=signed)
        self._lfsr_seed, self._ordered = lfsr_seed, ordered
        # An engine among several (hw.topk.interleave) starts its final pass
        # only once the results of the requests before its own are out.
        gate = {"final_go": In(1)} if ordered else {}
        super().__init__({
            **gate,
            "request": In(stream.Signature(data.StructLayout({
                "n": self.count_bits, "k": self.count_bits}))),
            "scores": In(stream.Signature(data.ArrayLayout(self.score_shape, P))),
            "result": Out(stream.Signature(result_layout(self._geometry))),
        })

    geometry = property(lambda self: self._geometry)
    n_max = property(lambda self: self._geometry.n_max)
    parallelism = property(lambda self: self._geometry.lanes)
    lanes = property(lambda self: self._geometry.lanes)
    score_bits = property(lambda self: self._geometry.score_bits)
    signed = property(lambda self: self._geometry.signed)
    lfsr_seed = property(lambda self: self._lfsr_seed)
    ordered = property(lambda self: self._ordered)
    score_shape = property(lambda self: self._geometry.shape)
    count_bits = property(lambda self: self._geometry.count_bits)
    index_bits = property(lambda self: self._geometry.index_bits)
    sample = property(lambda self: self._geometry.sample)
    rows = property(lambda self: self._geometry.rows)
    block_ram = property(lambda self: self._geometry.block_ram)
    read_delay = property(lambda self: self._geometry.read_delay)

    @staticmethod
    def sample_of(parallelism):
        """``S = min(P, 16)`` of an engine with ``parallelism`` lanes."""
        return min(parallelism, 16)

    @classmethod
    def rank_select_of(cls, parallelism, shape):
        """The pivot picker of an engine with ``parallelism`` lanes and scores of ``shape``."""
        return RankSelect(sample=cls.sample_of(parallelism), shape=shape, ranks=2,
                          copies=max(1, parallelism // TopKGeometry.PIVOT_LANES))

    # The engine's timing, from the stage depths of golden.topk_timing (the
    # cycle model's definitions; the stage components build their pipelines
    # from the same numbers).
    @property
    def round_latency(self):
        """Cycles from a round's last beat taken to its decision (``golden.topk_cycles.round_latency``)."""
        return topk_cycles.round_latency(self.n_max, self.lanes)

    @property
    def round_gap(self):
        """Cycles from a decision to the next round's sample read (``golden.topk_cycles.round_gap``)."""
        return topk_cycles.round_gap(self.lanes)

    @property
    def final_latency(self):
        """Cycles from the last decision's next cycle plus a row's index to its result beat."""
        return topk_cycles.final_latency(self.n_max, self.lanes)

    @property
    def start_delay(self):
        """Cycles from accepting a request to the first cycle scores are taken (ACCEPT, PREP)."""
        return topk_cycles.START_DELAY

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        G, S = g.broadcast_copies, g.sample
        m.submodules.control = control = TopKControl(geometry=g, ordered=self._ordered)
        m.submodules.input_buffer = in_buffer = LaneBuffer(geometry=g)
        m.submodules.input_writer = writer = InputWriter(geometry=g)
        m.submodules.sampler = sampler = PivotSampler(geometry=g, lfsr_seed=self._lfsr_seed)
        m.submodules.reader = reader = RoundReader(geometry=g)
        m.submodules.compare = compare = RoundCompare(geometry=g)
        m.submodules.counts = counts = RoundCounts(geometry=g)
        m.submodules.decision = decision = RoundDecision(geometry=g)
        m.submodules.final_pass = final = FinalPass(geometry=g)
        m.submodules.output = output = CreditedOutput(geometry=g)
        banks, parts = {}, {}
        for side in SIDES:
            m.submodules[f"bank{side}"] = banks[side] = LaneBuffer(geometry=g)
            m.submodules[f"part{side}"] = parts[side] = PartWriter(geometry=g)

        # The request, its input and its answer.
        wiring.connect(m, wiring.flipped(self.request), control.request)
        wiring.connect(m, wiring.flipped(self.result), output.result)
        m.d.comb += [control.scores_valid.eq(self.scores.valid), self.scores.ready.eq(control.scores_ready),
                     control.result_ready.eq(self.result.ready)]
        if self._ordered:
            m.d.comb += control.final_go.eq(self.final_go)
        m.d.comb += [control.input_last.eq(writer.last), control.rem_last.eq(reader.rem_last),
                     control.decide.eq(counts.decide), control.ends.eq(decision.ends),
                     control.end.eq(decision.end), control.done.eq(output.done)]

        # Round 1's input, kept in the input buffer for the final pass.
        round1 = control.prep[G + 1]
        m.d.comb += [writer.start.eq(round1), writer.n.eq(control.n), writer.n_lanes.eq(control.n_lanes[:S]),
                     writer.n_single.eq(~control.n_multi), writer.scores.eq(self.scores.payload),
                     writer.take.eq(control.take), writer.advance.eq(control.advance)]
        wiring.connect(m, writer.write, in_buffer.write)

        # The pivots: the sample of each round, ranked.
        m.d.comb += [sampler.reload.eq(control.accepted), sampler.sample_read.eq(control.sample_read),
                     sampler.first_taken.eq(writer.first_taken), sampler.first_lanes.eq(writer.first_lanes),
                     sampler.scores.eq(self.scores.payload), sampler.side_m.eq(decision.side_m),
                     sampler.side_r.eq(decision.side_r), sampler.round_lanes.eq(decision.lanes[:S]),
                     sampler.n.eq(decision.n), sampler.k.eq(decision.k),
                     sampler.above_hi.eq(counts.run_gt_hi[-1]), sampler.above_lo.eq(counts.run_gt_lo[-1])]
        for side in SIDES:
            m.d.comb += [getattr(sampler, f"bank_data_{side}").eq(banks[side].read.data),
                         getattr(sampler, f"rows_masks_{side}").eq(parts[side].rows_masks)]

        # A round: its beats, compared with the pivots, counted, and split into the parts.
        m.d.comb += [reader.start.eq(round1), reader.n.eq(control.n), reader.n_lmask.eq(control.n_lmask),
                     reader.n_single.eq(~control.n_multi), reader.n_double.eq(~control.n_multi2),
                     reader.taken.eq(writer.taken), reader.in_beat.eq(writer.beat),
                     reader.before_sample.eq(control.before_sample), reader.drain_last.eq(control.drain_last),
                     reader.run.eq(control.run), reader.sample_rows.eq(sampler.sample_rows),
                     reader.side_m.eq(decision.side_m), reader.side_r.eq(decision.side_r),
                     reader.round_n.eq(decision.n), reader.round_lmask.eq(decision.lmask),
                     reader.round_last.eq(decision.last), reader.round_last2.eq(decision.last2)]
        for side in SIDES:
            wiring.connect(m, getattr(reader, f"read_{side}"), banks[side].read)
        wiring.connect(m, reader.beat, compare.beat)
        m.d.comb += [compare.pivot_hi.eq(sampler.pivot_hi), compare.pivot_lo.eq(sampler.pivot_lo)]
        wiring.connect(m, compare.parts, counts.parts)
        m.d.comb += [counts.count_gt_hi.eq(parts["L"].early_count),
                     counts.count_valid.eq(parts["L"].early_valid),
                     counts.k.eq(decision.k), counts.km1.eq(decision.km1)]
        for side, part in parts.items():
            m.d.comb += [part.valid.eq(compare.parts.valid), part.data.eq(compare.parts.data),
                         part.keep.eq(getattr(compare.parts, f"keep_{side}")),
                         part.first.eq(getattr(counts, f"first_{side}"))]
            wiring.connect(m, part.write, banks[side].write)

        # The decision, from the counts: the next round, or the final pass's threshold and quota.
        m.d.comb += [decision.accept.eq(control.accept), decision.req_n.eq(control.n),
                     decision.req_k.eq(control.k), decision.req_n_m1.eq(control.n_m1),
                     decision.req_k_m1.eq(control.k_m1), decision.k_over.eq(control.k_over),
                     decision.hold.eq(control.hold),
                     *[getattr(decision, f"run_{c}").eq(getattr(counts, f"run_{c}")) for c in CLASSES],
                     decision.k_ge_hi.eq(counts.k_ge_hi), decision.k_ge_lo.eq(counts.k_ge_lo),
                     *[getattr(decision, f"size_{side}").eq(parts[side].size) for side in SIDES],
                     decision.pivot_hi.eq(sampler.pivot_hi), decision.pivot_lo.eq(sampler.pivot_lo)]

        # The final pass and its credited output.
        m.d.comb += [final.start.eq(control.prep[:G + 1]), final.n.eq(control.n),
                     final.n_lanes.eq(control.n_lanes), final.n_multi.eq(control.n_multi),
                     final.begin.eq(control.begin), final.stop.eq(output.stop),
                     final.credit_ok.eq(output.credit_ok), final.load.eq(control.hold),
                     final.threshold.eq(decision.threshold), final.room.eq(decision.room),
                     final.room_mp.eq(decision.room_mp)]
        wiring.connect(m, final.read, in_buffer.read)
        wiring.connect(m, final.packed, output.packed)
        m.d.comb += [output.issue.eq(final.issue), output.start.eq(control.prep[G]),
                     output.quota_m1.eq(decision.km1), output.final.eq(control.final),
                     output.empty.eq(control.empty), output.clamped.eq(control.clamped),
                     output.empty_error.eq(control.empty_error)]
        return m
