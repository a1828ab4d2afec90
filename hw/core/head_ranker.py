"""The head ranking of cascade head pruning: one head's rank per cycle against all the others at once."""

from amaranth.hdl import Array, Cat, Const, Module, Signal, unsigned
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
    heads go by one per cycle, each compared with all ``MAX_HEADS`` scores in
    parallel: ``MAX_HEADS`` comparators and a population count instead of a
    top-k engine, since ``MAX_HEADS`` is small.

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

    Latency: :attr:`LATENCY` (``MAX_HEADS`` heads, one per cycle, a cycle to
    select a head's score, one to compare, one to count). Throughput: one
    ranking at a time.
    """

    #: Cycles from ``start`` to ``done``: ``MAX_HEADS`` heads, then the two stages behind the first.
    LATENCY = MAX_HEADS + 3

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
        H = MAX_HEADS
        scores = Array(self.scores[j] for j in range(H))

        # Stage A: the head's score, number and candidacy.
        head = Signal(range(H + 1))
        running = Signal()
        a_valid, a_head, a_cand = Signal(), Signal(range(H)), Signal()
        pivot = Signal(self._score_bits)
        m.d.sync += a_valid.eq(0)
        with m.If(self.start):
            m.d.sync += [running.eq(1), head.eq(0), self.kept.eq(0)]
        with m.Elif(running):
            m.d.sync += [a_valid.eq(1), a_head.eq(head), a_cand.eq(self.cand.bit_select(head, 1)),
                         pivot.eq(scores[head]), head.eq(head + 1)]
            with m.If(head == H - 1):
                m.d.sync += running.eq(0)

        # Stage B: which candidates beat the head (every comparison at once).
        b_valid, b_head, b_cand = Signal(), Signal(range(H)), Signal()
        beats = Signal(H)
        m.d.sync += [b_valid.eq(a_valid), b_head.eq(a_head), b_cand.eq(a_cand)]
        beaten_by = [(self.scores[j] > pivot) | ((self.scores[j] == pivot) & (Const(j, range(H)) < a_head))
                     for j in range(H)]
        m.d.sync += beats.eq(Cat(self.cand[j] & beaten_by[j] for j in range(H)))

        # Stage C: the head stays if fewer than ``keep`` beat it.
        rank = sum(beats[j] for j in range(H))
        m.d.sync += self.done.eq(0)
        with m.If(b_valid):
            with m.If(b_cand & (rank < self.keep)):
                m.d.sync += self.kept.bit_select(b_head, 1).eq(1)
            with m.If(b_head == H - 1):
                m.d.sync += self.done.eq(1)
        return m
