# amaranth: UnusedElaboratable=no
"""hw.topk.pivot_sampler in Amaranth's simulator: round 1's and later rounds' pivots, the sample rows."""

import random

import pytest

from golden.topk_cycles import lfsr_seeds, lfsr_step, pivot_targets
from hw.topk.geometry import TopKGeometry
from hw.topk.pivot_sampler import SIDES, PivotSampler
from sim.amaranth_streams import run

SEED = 20261212


@pytest.mark.parametrize("n_max, lanes", [(64, 4), (512, 4), (256, 16)])
def test_pivot_sampler(n_max, lanes):
    g = TopKGeometry(n_max=n_max, lanes=lanes, score_bits=6, signed=False)
    dut = PivotSampler(geometry=g, lfsr_seed=7)
    S = g.sample
    rng = random.Random(SEED + n_max + lanes)
    cases = [(rng.choice(("input", *SIDES)), rng.randint(1, n_max)) for _ in range(12)]
    got, rows = [], []
    masks = {side: rng.randrange(1 << g.mask_bits) for side in SIDES}
    banks = {side: [rng.randrange(64) for _ in range(lanes)] for side in SIDES}

    async def bench(ctx):
        for side in SIDES:
            for copy in range(g.broadcast_copies):
                ctx.set(getattr(dut, f"rows_masks_{side}")[copy], masks[side])
            for lane, value in enumerate(banks[side]):
                ctx.set(getattr(dut, f"bank_data_{side}")[lane], value)
        ctx.set(dut.above_lo, 1)        # the next round reads M
        ctx.set(dut.reload, 1)
        await ctx.tick()
        ctx.set(dut.reload, 0)
        await ctx.tick()
        await ctx.tick()
        rows.append([ctx.get(dut.sample_rows[j]) for j in range(S)])
        for source, n in cases:
            k = rng.randint(1, n)
            ctx.set(dut.n, n)
            ctx.set(dut.k, k)
            ctx.set(dut.side_m, source == "M")
            ctx.set(dut.side_r, source == "R")
            lanes_mask = (1 << min(n, S)) - 1
            scores = [rng.randrange(64) for _ in range(lanes)]
            ctx.set(dut.scores, scores)
            for _ in range(6):          # the rank targets settle
                await ctx.tick()
            if source == "input":
                ctx.set(dut.first_taken, 1)
                ctx.set(dut.first_lanes, lanes_mask)
            else:
                ctx.set(dut.sample_read, 1)
                ctx.set(dut.round_lanes, lanes_mask)
            await ctx.tick()
            ctx.set(dut.first_taken, 0)
            ctx.set(dut.sample_read, 0)
            for _ in range(dut.latency):
                await ctx.tick()
            if source != "input":
                rows.append([ctx.get(dut.sample_rows[j]) for j in range(S)])
            sample = (scores if source == "input" else banks[source])[:min(n, S)]
            got.append((sorted(sample, reverse=True), pivot_targets(n, k, S),
                        ctx.get(dut.pivot_hi[0]), ctx.get(dut.pivot_lo[g.pivot_copies - 1])))

    run(dut, bench, deadline_cycles=5000)
    for number, (sample, (t_hi, t_lo), hi, lo) in enumerate(got):
        where = f"seed={SEED + n_max + lanes} case {number} {cases[number]}"
        assert (hi, lo) == (sample[t_hi], sample[t_lo]), where
    # The LFSRs restart at their seeds and step at each sample read; the rows are masked by part M's mask.
    states = lfsr_seeds(7, S)
    want = [[s & masks["M"] & ((1 << g.row_bits) - 1) for s in states]]
    for source, _ in cases:
        if source != "input":
            states = [lfsr_step(s) for s in states]
            want.append([s & masks["M"] & ((1 << g.row_bits) - 1) for s in states])
    assert rows == want, f"seed={SEED + n_max + lanes}"
