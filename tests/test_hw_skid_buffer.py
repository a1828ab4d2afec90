# amaranth: UnusedElaboratable=no
"""SkidBuffer in Amaranth's simulator: order kept under bubbles and backpressure, one beat per cycle."""

import random

import pytest
from amaranth.sim import Simulator

from hw.skid_buffer import SkidBuffer

SEED = 20261203


@pytest.mark.parametrize("bubbles, backpressure", [(0.0, 0.0), (0.4, 0.0), (0.0, 0.5), (0.3, 0.6)])
def test_skid_buffer(bubbles, backpressure):
    dut = SkidBuffer(16)
    rng = random.Random(SEED)
    sent = [rng.getrandbits(16) for _ in range(200)]
    got, cycles = [], []

    async def source(ctx):
        for value in sent:
            while rng.random() < bubbles:
                await ctx.tick()
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, value)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        cycle = 0
        while len(got) < len(sent):
            ready = rng.random() >= backpressure
            ctx.set(dut.o.ready, ready)
            _, _, valid, value = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            cycle += 1
            if valid and ready:
                got.append(value)
                cycles.append(cycle)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    assert got == sent, f"seed {SEED}: order or values changed"
    if not bubbles and not backpressure:
        # latency 1 from the first beat, then one beat per cycle
        assert cycles == list(range(cycles[0], cycles[0] + len(sent)))
        assert cycles[0] == 1 + dut.latency
