"""The head ranking of cascade head pruning: one head at a time against a few others per cycle."""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.command import MAX_HEADS

from ..params import check_int

__all__ = ["HeadRanker"]


class HeadRanker(wiring.Component):
    """Keeps the ``keep`` candidates of largest score among ``MAX_HEADS`` heads (``golden.pruning.prune``).

    A head's rank is the number of candidates that beat it: a larger score, or
    an equal score and a lower head (``golden.topk``'s tie rule: the earliest
    of equals stay). A candidate stays when its rank is below ``keep``, so
    exactly ``keep`` stay when there are at least that many candidates. The
    heads go by one at a time, each compared with :attr:`LANES` scores per
    cycle (``MAX_HEADS / LANES`` cycles a head): a few comparators and a
    population count instead of a top-k engine, since ``MAX_HEADS`` is small
    and a ranking happens once per layer.

    Parameters
    ----------
    score_bits : int
        Bits of a score (unsigned), 1..64.

    Members
    -------
    start : In(1)
        Rank ``cand`` by ``scores`` with ``keep`` (all three held until ``done``).
    cand : In(MAX_HEADS)
        Bit ``h``: head ``h`` is a candidate.
    keep : In(range(MAX_HEADS + 1))
    scores : In(array of ``MAX_HEADS`` unsigned scores)
    done : Out(1)
        One cycle, :attr:`LATENCY` cycles after ``start``; ``kept`` holds the
        result from then until the next ``start``.
    kept : Out(MAX_HEADS)
        Bit ``h``: head ``h`` stays.

    Latency: :attr:`LATENCY` (``MAX_HEADS`` heads of ``MAX_HEADS / LANES``
    groups, one group per cycle; a cycle to select a head's score and the
    group's, one to compare and count, one to add up). Throughput: one
    ranking at a time.
    """

    #: Scores compared with a head's per cycle.
    LANES = 8
    #: Cycles a head takes.
    GROUPS = MAX_HEADS // LANES
    #: Cycles from ``start`` to ``done``: ``MAX_HEADS * GROUPS`` groups, then the two stages behind
    #: the first.
    LATENCY = MAX_HEADS * GROUPS + 3

    def __init__(self, *, score_bits):
        self._score_bits = check_int("score_bits", score_bits, 1, 64)
        super().__init__({
            "start": In(1), "cand": In(MAX_HEADS), "keep": In(range(MAX_HEADS + 1)),
            "scores": In(data.ArrayLayout(unsigned(score_bits), MAX_HEADS)),
            "done": Out(1), "kept": Out(MAX_HEADS),
        })

    score_bits = property(lambda self: self._score_bits)

    def elaborate(self, platform):
        m = Module()
        H, N, G = MAX_HEADS, self.LANES, self.GROUPS
        scores = Array(self.scores[j] for j in range(H))
        groups = Array(Cat(self.scores[g * N + j] for j in range(N)) for g in range(G))
        cand_groups = Array(self.cand[g * N:(g + 1) * N] for g in range(G))

        # Stage A: the head's score, number and candidacy; the group's scores and candidacies.
        head, group = Signal(range(H + 1)), Signal(range(G))
        running = Signal()
        a_valid, a_head, a_cand, a_group = Signal(), Signal(range(H)), Signal(), Signal(range(G))
        a_first, a_last = Signal(), Signal()
        pivot = Signal(self._score_bits)
        a_scores = Signal(data.ArrayLayout(unsigned(self._score_bits), N))
        a_cands = Signal(N)
        m.d.sync += a_valid.eq(0)
        with m.If(self.start):
            m.d.sync += [running.eq(1), head.eq(0), group.eq(0), self.kept.eq(0)]
        with m.Elif(running):
            m.d.sync += [a_valid.eq(1), a_head.eq(head), a_cand.eq(self.cand.bit_select(head, 1)),
                         a_group.eq(group), a_first.eq(group == 0), a_last.eq(group == G - 1),
                         pivot.eq(scores[head]), a_scores.eq(groups[group]), a_cands.eq(cand_groups[group]),
                         group.eq(group + 1)]
            with m.If(group == G - 1):
                m.d.sync += [group.eq(0), head.eq(head + 1)]
                with m.If(head == H - 1):
                    m.d.sync += running.eq(0)

        # Stage B: how many of the group's candidates beat the head.
        b_valid, b_head, b_cand, b_first, b_last = Signal(), Signal(range(H)), Signal(), Signal(), Signal()
        b_count = Signal(range(N + 1))
        m.d.sync += [b_valid.eq(a_valid), b_head.eq(a_head), b_cand.eq(a_cand), b_first.eq(a_first),
                     b_last.eq(a_last)]
        lower = [Cat(Const(j, range(N)), a_group) < a_head for j in range(N)]
        beats = [a_cands[j] & ((a_scores[j] > pivot) | ((a_scores[j] == pivot) & lower[j])) for j in range(N)]
        m.d.sync += b_count.eq(sum(beats))

        # Stage C: the head's rank over its groups; it stays if fewer than ``keep`` beat it.
        rank = Signal(range(H + 1))
        total = Mux(b_first, 0, rank) + b_count
        m.d.sync += self.done.eq(0)
        with m.If(b_valid):
            m.d.sync += rank.eq(total)
            with m.If(b_last & b_cand & (total < self.keep)):
                m.d.sync += self.kept.bit_select(b_head, 1).eq(1)
            with m.If(b_last & (b_head == H - 1)):
                m.d.sync += self.done.eq(1)
        return m
