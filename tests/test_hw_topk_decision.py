# amaranth: UnusedElaboratable=no
"""hw.topk.decision in Amaranth's simulator: the outcome of a round's counts and what HOLD loads."""

import random

import pytest

from hw.topk.decision import RoundDecision
from hw.topk.geometry import TopKGeometry
from sim.amaranth_streams import run

SEED = 20261207


def _outcome(k, n_gt_hi, n_ge_hi, n_gt_lo, n_ge_lo):
    """The golden rule: the first class with at least k candidates."""
    for name, count in (("L", n_gt_hi), ("hi", n_ge_hi), ("M", n_gt_lo), ("lo", n_ge_lo)):
        if count >= k:
            return name
    return "R"


@pytest.mark.parametrize("lanes", [4, 16])
def test_round_decision(lanes):
    g = TopKGeometry(n_max=300, lanes=lanes, score_bits=8, signed=False)
    dut = RoundDecision(geometry=g)
    rng = random.Random(SEED + lanes)
    cases = []
    for _ in range(40):
        n = rng.randint(1, 300)
        k = rng.randint(1, n)
        ge_lo = rng.randint(0, n)
        gt_lo = rng.randint(0, ge_lo)
        ge_hi = rng.randint(0, gt_lo)
        gt_hi = rng.randint(0, ge_hi)
        sizes = {"L": gt_hi, "M": gt_lo - ge_hi, "R": n - ge_lo}
        cases.append((n, k, (gt_hi, ge_hi, gt_lo, ge_lo), sizes, rng.randint(100, 255), rng.randint(0, 99)))
    results = []

    async def bench(ctx):
        for n, k, counts, sizes, hi, lo in cases:
            # ACCEPT: round 1's n and k (k within n: no clamp).
            ctx.set(dut.accept, 1)
            for name, value in (("req_n", n), ("req_k", k), ("req_n_m1", n - 1), ("req_k_m1", k - 1)):
                ctx.set(getattr(dut, name), value)
            await ctx.tick()
            ctx.set(dut.accept, 0)
            assert (ctx.get(dut.n), ctx.get(dut.k), ctx.get(dut.km1)) == (n, k, k - 1)
            # The decision's cycle: the counts final, then HOLD.
            for name, count in zip(("gt_hi", "ge_hi", "gt_lo", "ge_lo"), counts, strict=True):
                ctx.set(getattr(dut, f"run_{name}"), k - 1 - count)
            ctx.set(dut.k_ge_hi, k - counts[1])
            ctx.set(dut.k_ge_lo, k - counts[3])
            for side, size in sizes.items():
                ctx.set(getattr(dut, f"size_{side}"), size)
            for copy in range(g.pivot_copies):
                ctx.set(dut.pivot_hi[copy], hi)
                ctx.set(dut.pivot_lo[copy], lo)
            ends = ctx.get(dut.ends)
            await ctx.tick()
            ctx.set(dut.hold, 1)
            end = ctx.get(dut.end)
            threshold = [ctx.get(dut.threshold[c]) for c in range(g.pivot_copies)]
            room, room_mp = ctx.get(dut.room), ctx.get(dut.room_mp)
            await ctx.tick()
            ctx.set(dut.hold, 0)
            results.append((ends, end, threshold, room, room_mp, ctx.get(dut.n), ctx.get(dut.k),
                            ctx.get(dut.km1), ctx.get(dut.side_m), ctx.get(dut.side_r)))
            await ctx.tick()
            await ctx.tick()
            n_now = ctx.get(dut.n)
            assert ctx.get(dut.last) == (n_now <= lanes) and ctx.get(dut.last2) == (n_now <= 2 * lanes)
            assert ctx.get(dut.lanes) == (1 << min(n_now, lanes)) - 1
            assert ctx.get(dut.lmask) == (1 << (n_now - 1) % lanes + 1) - 1 if n_now else True

    run(dut, bench, deadline_cycles=2000)
    for (n, k, counts, sizes, hi, lo), got in zip(cases, results, strict=True):
        outcome = _outcome(k, *counts)
        ends, end, threshold, room, room_mp, next_n, next_k, next_km1, side_m, side_r = got
        where = f"seed={SEED + lanes} n={n} k={k} counts={counts}: {outcome}"
        assert ends == end == (outcome in ("hi", "lo")), where
        if outcome in ("hi", "lo"):
            t, above = (hi, counts[0]) if outcome == "hi" else (lo, counts[2])
            assert threshold == [t] * g.pivot_copies, where
            assert (room, room_mp) == (k - above, k - above - lanes), where
        else:
            side = outcome
            assert (side_m, side_r) == (side == "M", side == "R"), where
            assert next_n == sizes[side], where
            below = {"L": 0, "M": counts[1], "R": counts[3]}[side]
            assert (next_k, next_km1) == (k - below, k - 1 - below), where
