"""The top-k engine's round decision: which part the next round reads, or the k-th value."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..compare import greater_than_const, thermometer
from ..replicate import kept_copies
from .geometry import check_geometry
from .pivot_sampler import SIDES
from .round_compare import CLASSES

__all__ = ["RoundDecision", "last_lanes"]


def last_lanes(n, P):
    """Lanes of the last beat of ``n >= 1`` elements, ``P`` per beat: lane ``l`` if ``l <= (n - 1) mod P``.

    A function of the low ``log2(P)`` bits of ``n`` only (one LUT per lane).
    """
    low = n[:P.bit_length() - 1]
    return Cat(*[(low == 0) | greater_than_const(low, l) for l in range(P)])


class RoundDecision(wiring.Component):
    """Holds a round's ``n`` and ``k``, decides from its counts, and sets up the next round or the pass.

    The first class with at least ``k`` candidates decides: ``> hi`` (read
    part L), ``>= hi`` (``hi`` is the k-th value), ``> lo`` (read M), ``>=
    lo`` (``lo`` is the k-th value), else read R. The outcome is registered
    every cycle from the counts' sign bits (final in the decision's cycle,
    so these are in HOLD), and HOLD loads the next round's state from it:
    its ``n`` (the part's size), ``k`` and ``k - 1`` (running differences
    of the counts), or, when the selection ends, the threshold ``T`` and
    the quota ``k - n(> T)`` of the final pass (both candidates registered
    beside the outcome: not an adder after its select, a long path into
    HOLD).

    Parameters
    ----------
    geometry : TopKGeometry

    Members
    -------
    accept, req_n, req_k, req_n_m1, req_k_m1, k_over : In
        ACCEPT: round 1 of the request ``{n, k}`` (``k`` clamped to ``n``
        if ``k_over``), from the request's registers.
    hold : In(1)
        HOLD, the cycle after the decision.
    run_gt_hi, run_ge_hi, run_gt_lo, run_ge_lo, k_ge_hi, k_ge_lo : In
        The round's counts (:class:`.round_counts.RoundCounts`).
    size_L, size_M, size_R : In(count_bits)
        The parts' sizes.
    pivot_hi, pivot_lo : In(ArrayLayout(score, copies))
    n, k, km1 : Out(count_bits)
        The round's candidates, rank wanted and ``k - 1``.
    lanes, last, last2, lmask : Out
        Registered views of ``n``: its thermometer, ``n <= P``, ``n <= 2P``
        and the lanes of its last beat (final two cycles after a load).
    side_m, side_r : Out(1)
        The round reads part M / R (neither: L).
    ends : Out(1)
        The selection ends at this decision (combinational, from the counts).
    end : Out(1)
        Registered ``ends``, read in HOLD.
    threshold, room, room_mp : Out
        The final pass's ``T`` (one copy per pivot copy) and quota, and the
        quota minus ``P``, valid in HOLD when ``end``.
    """

    def __init__(self, *, geometry):
        self._geometry = g = check_geometry(geometry)
        P, cb, diff = g.lanes, g.count_bits, signed(g.count_bits + 2)
        pivots = data.ArrayLayout(g.shape, g.pivot_copies)
        super().__init__({
            "accept": In(1), "req_n": In(cb), "req_k": In(cb), "req_n_m1": In(cb), "req_k_m1": In(cb),
            "k_over": In(1), "hold": In(1),
            **{f"run_{c}": In(diff) for c in CLASSES}, "k_ge_hi": In(diff), "k_ge_lo": In(diff),
            **{f"size_{side}": In(cb) for side in SIDES}, "pivot_hi": In(pivots), "pivot_lo": In(pivots),
            "n": Out(cb), "k": Out(cb), "km1": Out(cb),
            "lanes": Out(P), "last": Out(1), "last2": Out(1), "lmask": Out(P),
            "side_m": Out(1), "side_r": Out(1), "ends": Out(1), "end": Out(1),
            "threshold": Out(pivots), "room": Out(diff), "room_mp": Out(diff),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        P, GT = g.lanes, g.pivot_copies
        # Registered every cycle: final in GAP (n is loaded in HOLD, DRAIN
        # follows), where the sample read and the issue counters take them.
        m.d.sync += [self.lanes.eq(thermometer(self.n, P)), self.last.eq(~greater_than_const(self.n, P)),
                     self.last2.eq(~greater_than_const(self.n, 2 * P)), self.lmask.eq(last_lanes(self.n, P))]
        with m.If(self.accept):
            m.d.sync += [self.k.eq(Mux(self.k_over, self.req_n, self.req_k)),
                         self.km1.eq(Mux(self.k_over, self.req_n_m1, self.req_k_m1)), self.n.eq(self.req_n)]

        run = {c: getattr(self, f"run_{c}") for c in CLASSES}
        neg = {c: run[c][-1] for c in CLASSES}
        m.d.comb += self.ends.eq(~neg["gt_hi"] & (neg["ge_hi"] | ~neg["gt_lo"] & neg["ge_lo"]))
        # The quota's candidates, room and room - P, for T = hi and T = lo.
        room_of = {c: (Signal(signed(g.count_bits + 2), name=f"room_{c}"),
                       Signal(signed(g.count_bits + 2), name=f"room_mp_{c}"))
                   for c in ("gt_hi", "gt_lo")}
        m.d.sync += [r.eq(run[c] + d) for c, pair in room_of.items()
                     for r, d in zip(pair, (1, -(P - 1)), strict=True)]
        # The k-th value is hi (if the selection ends): one copy per
        # threshold copy and one for the quota.
        out_t_hi = kept_copies(1, GT + 1, name="out_t_hi")
        out_u, out_m, out_d = Signal(), Signal(), Signal()
        m.d.sync += [out_u.eq(neg["gt_hi"]), *[c.eq(neg["ge_hi"]) for c in out_t_hi],
                     out_m.eq(~neg["gt_hi"] & ~neg["ge_hi"] & neg["gt_lo"]),
                     out_d.eq(~neg["gt_hi"] & ~neg["ge_hi"] & ~neg["gt_lo"] & ~neg["ge_lo"]),
                     self.end.eq(self.ends)]
        # Loaded in HOLD whatever the outcome (an enable from the outcome
        # would fan out to all of them): T = hi if n(>= hi) >= k, else lo.
        m.d.comb += [*[self.threshold[i].eq(Mux(out_t_hi[i], self.pivot_hi[i], self.pivot_lo[i]))
                       for i in range(GT)],
                     self.room.eq(Mux(out_t_hi[GT], room_of["gt_hi"][0], room_of["gt_lo"][0])),
                     self.room_mp.eq(Mux(out_t_hi[GT], room_of["gt_hi"][1], room_of["gt_lo"][1]))]
        with m.If(self.hold):
            # The next round's k - 1 and k: (k - 1) - n(>= c) and k - n(>= c).
            m.d.sync += [self.n.eq(Mux(out_u, self.size_L, Mux(out_m, self.size_M, self.size_R))),
                         self.side_m.eq(out_m), self.side_r.eq(out_d)]
            with m.If(out_m):
                m.d.sync += [self.k.eq(self.k_ge_hi), self.km1.eq(run["ge_hi"])]
            with m.Elif(out_d):
                m.d.sync += [self.k.eq(self.k_ge_lo), self.km1.eq(run["ge_lo"])]
        return m
