# amaranth: UnusedElaboratable=no
"""SkidBuffer in Amaranth's simulator: order kept under bubbles and backpressure, one beat per cycle."""

import random

import pytest

from hw.skid_buffer import SkidBuffer
from sim.amaranth_streams import run, stream_get, stream_put
from sim.streams import random_pause

SEED = 20261203


@pytest.mark.parametrize("bubbles, backpressure", [(0.0, 0.0), (0.4, 0.0), (0.0, 0.5), (0.3, 0.6)])
def test_skid_buffer(bubbles, backpressure):
    dut = SkidBuffer(16)
    rng = random.Random(SEED)
    sent = [rng.getrandbits(16) for _ in range(200)]
    got, cycles, put_cycles, ticks = [], [], [], []

    async def source(ctx):
        pause = random_pause(random.Random(rng.random()), bubbles) if bubbles else None
        for value in sent:
            await stream_put(ctx, dut.i, value, pause=pause)
            put_cycles.append(len(ticks))

    async def sink(ctx):
        pause = random_pause(random.Random(rng.random()), backpressure) if backpressure else None
        for _ in sent:
            got.append(await stream_get(ctx, dut.o, pause=pause))
            cycles.append(len(ticks))

    async def clock(ctx):
        # Cycles since the start, read by the sink after each beat.
        while len(got) < len(sent):
            await ctx.tick()
            ticks.append(1)

    run(dut, source, sink, clock, deadline_cycles=5000)
    assert got == sent, f"seed {SEED}: order or values changed"
    if not bubbles and not backpressure:
        # latency 1 from the first beat, then one beat per cycle
        assert cycles == list(range(cycles[0], cycles[0] + len(sent)))
        assert put_cycles == list(range(put_cycles[0], put_cycles[0] + len(sent)))
        assert cycles[0] - put_cycles[0] == dut.latency
