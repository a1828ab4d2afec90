"""The top-k engine's round counts: the classes counted as the beats pass, for the round's decision."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.topk_timing import DECISION

from ..prefix_sum import popcount, staged_block_counts
from ..replicate import replicas
from ..zero_eliminator import ZeroEliminator
from .geometry import check_geometry
from .pivot_sampler import SIDES
from .round_compare import CLASSES, round_parts

__all__ = ["RoundCounts"]


def early_count(m, bits, name):
    """``popcount(bits)`` three cycles later, as a zero eliminator's early count.

    The block totals of ``staged_block_counts`` (two stages; its unused
    prefix counts are removed by synthesis), then their sum: the stages of
    ``ZeroEliminator.early_count``, so that both arrive together.
    """
    assert ZeroEliminator.EARLY_LATENCY == 3, "two block-count stages and the sum"
    P = len(bits)
    _, blocks = staged_block_counts(m, bits, bits, P, min(P, 8), name=name)
    total = Signal(range(P + 1), name=name)
    m.d.sync += total.eq(popcount(blocks))
    return total


class RoundCounts(wiring.Component):
    """Counts a round's candidates ``> hi``, ``>= hi``, ``> lo``, ``>= lo`` as running differences.

    ``run_c = (k - 1) - n(c)`` for each class ``c``, so that the decision's
    compares ``n(c) >= k`` are the sign bits of registers; ``k - n(>= hi)``
    and ``k - n(>= lo)`` run too, as the next round's ``k`` (no adder after
    the decision). The count of ``> hi`` is part L's early count (the same
    lanes); the other classes have counts of their own with the same
    stages.

    Parameters
    ----------
    geometry : TopKGeometry

    Members
    -------
    parts : In(:func:`hw.topk.round_compare.round_parts`)
    count_gt_hi, count_valid : In
        Part L's early count and its valid.
    k, km1 : In(count_bits)
        The round's rank wanted and ``k - 1``, read at its first beat.
    run_gt_hi, run_ge_hi, run_gt_lo, run_ge_lo, k_ge_hi, k_ge_lo : Out(signed(count_bits + 2))
    decide : Out(1)
        The counts are final (the cycle after the round's last beat's counts).
    first_L, first_M, first_R : Out(G)
        "First beat of the round", aligned with the early counts, in one copy
        per lane group for each part writer.

    Latency: the early count's stages, then :data:`golden.topk_timing.DECISION`.
    """

    def __init__(self, *, geometry):
        self._geometry = g = check_geometry(geometry)
        diff = signed(g.count_bits + 2)
        super().__init__({
            "parts": In(round_parts(g)), "count_gt_hi": In(range(g.lanes + 1)), "count_valid": In(1),
            "k": In(g.count_bits), "km1": In(g.count_bits),
            **{f"run_{c}": Out(diff) for c in CLASSES}, "k_ge_hi": Out(diff), "k_ge_lo": Out(diff),
            "decide": Out(1), **{f"first_{side}": Out(g.broadcast_copies) for side in SIDES},
        })

    @property
    def latency(self):
        """Cycles from a beat's parts to the decision when it is the round's last."""
        return ZeroEliminator.EARLY_LATENCY + DECISION

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        G, parts = g.broadcast_copies, self.parts
        # The first/last flags aligned with the early counts.
        first, last = parts.first, parts.valid & parts.last
        for i in range(ZeroEliminator.EARLY_LATENCY - 1):
            nf, nl = Signal(name=f"ze_first{i}"), Signal(name=f"ze_last{i}")
            m.d.sync += [nf.eq(first), nl.eq(last)]
            first, last = nf, nl
        # "First beat of the round" restarts every accumulator: one copy for
        # the running differences, one per part and lane group.
        first_c = replicas(m, first, 1 + len(SIDES) * G, name="ze_first")
        for si, side in enumerate(SIDES):
            m.d.comb += [getattr(self, f"first_{side}")[i].eq(c)
                         for i, c in enumerate(first_c[1 + si * G: 1 + (si + 1) * G])]
        counted_last = Signal(name="ze_last")
        m.d.sync += counted_last.eq(last)
        m.d.sync += self.decide.eq(counted_last)
        counts = {"gt_hi": self.count_gt_hi}
        for c in CLASSES[1:]:
            counts[c] = early_count(m, getattr(parts, c), f"cnt_{c}")
        run = {c: Signal(signed(g.count_bits + 2), name=f"run_{c}") for c in CLASSES}
        k_ge_hi, k_ge_lo = Signal(signed(g.count_bits + 2)), Signal(signed(g.count_bits + 2))
        with m.If(self.count_valid):
            m.d.sync += [run[c].eq(Mux(first_c[0], self.km1, run[c]) - counts[c]) for c in CLASSES]
            m.d.sync += [k_ge_hi.eq(Mux(first_c[0], self.k, k_ge_hi) - counts["ge_hi"]),
                         k_ge_lo.eq(Mux(first_c[0], self.k, k_ge_lo) - counts["ge_lo"])]
        m.d.comb += [*[getattr(self, f"run_{c}").eq(run[c]) for c in CLASSES],
                     self.k_ge_hi.eq(k_ge_hi), self.k_ge_lo.eq(k_ge_lo)]
        return m
