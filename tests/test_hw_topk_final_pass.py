# amaranth: UnusedElaboratable=no
"""hw.topk.final_pass in Amaranth's simulator: the input buffer read once, the top k kept and packed."""

import random

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring

from golden.topk import topk, topk_threshold
from golden.topk_timing import FINAL_LATENCY
from hw.topk.final_pass import FinalPass
from hw.topk.geometry import TopKGeometry
from hw.topk.lane_buffer import LaneBuffer
from sim.amaranth_streams import run

SEED = 20261210


class _PassAndBuffer(Elaboratable):
    def __init__(self, geometry):
        self.final, self.buffer = FinalPass(geometry=geometry), LaneBuffer(geometry=geometry)

    def elaborate(self, platform):
        m = Module()
        m.submodules.final, m.submodules.buffer = self.final, self.buffer
        wiring.connect(m, self.final.read, self.buffer.read)
        return m


@pytest.mark.parametrize("n_max, lanes", [(40, 4), (512, 4), (64, 8)])
def test_final_pass(n_max, lanes):
    g = TopKGeometry(n_max=n_max, lanes=lanes, score_bits=6, signed=False)
    dut = _PassAndBuffer(g)
    final, buffer = dut.final, dut.buffer
    # The pass's part of the engine's final latency: HOLD before it, the FIFO after it.
    assert final.latency == FINAL_LATENCY - 1 - 2 + g.read_delay
    rng = random.Random(SEED + n_max)
    requests = []
    for _ in range(4):
        n = rng.randint(1, n_max)
        pool = [rng.randrange(64) for _ in range(3)]
        requests.append((n, rng.randint(1, n), [rng.choice(pool) if rng.random() < 0.5 else rng.randrange(64)
                                                for _ in range(n)]))
    results = []

    async def bench(ctx):
        for n, k, scores in requests:
            for row in range(-(-n // lanes)):
                for lane in range(lanes):
                    index = row * lanes + lane
                    ctx.set(buffer.write.addr[lane], row)
                    ctx.set(buffer.write.data[lane], scores[index] if index < n else rng.randrange(64))
                ctx.set(buffer.write.en, -1)
                await ctx.tick()
            ctx.set(buffer.write.en, 0)
            threshold, _, room = (int(v) for v in topk_threshold(np.array(scores), k))
            ctx.set(final.start, -1)
            ctx.set(final.n, n)
            ctx.set(final.n_lanes, (1 << min(n, lanes)) - 1)
            ctx.set(final.n_multi, n > lanes)
            ctx.set(final.credit_ok, -1)
            await ctx.tick()
            ctx.set(final.start, 0)
            # HOLD: the threshold and quota; then the pass begins.
            ctx.set(final.load, 1)
            for copy in range(g.pivot_copies):
                ctx.set(final.threshold[copy], threshold)
            ctx.set(final.room, room)
            ctx.set(final.room_mp, room - lanes)
            await ctx.tick()
            ctx.set(final.load, 0)
            ctx.set(final.begin, 1)
            await ctx.tick()
            ctx.set(final.begin, 0)
            kept, issues = [], 0
            for _ in range(-(-n // lanes) + final.latency + 2):
                issues += ctx.get(final.issue)
                await ctx.tick()
                count = ctx.get(final.packed.count)
                kept += [(ctx.get(final.packed.data[lane].index), ctx.get(final.packed.data[lane].score))
                         for lane in range(count)]
            results.append((issues, kept))

    run(dut, bench, deadline_cycles=20_000)
    for (n, k, scores), (issues, kept) in zip(requests, results, strict=True):
        want = [(int(i), scores[i]) for i in topk(np.array(scores), k)]
        assert issues == -(-n // lanes), f"seed={SEED + n_max} n={n}"
        assert kept == want, f"seed={SEED + n_max} n={n} k={k} scores={scores}"
