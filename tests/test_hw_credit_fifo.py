# amaranth: UnusedElaboratable=no
"""CreditFifo: order, no loss, the credit contract and the empty-FIFO latency."""

import random

import pytest
from amaranth.sim import Simulator

from hw.credit_fifo import CreditFifo

SEED = 2024


@pytest.mark.parametrize("depth, p_write, p_read",
                         [(2, 0.9, 0.5), (16, 0.7, 0.6), (16, 0.95, 0.2), (4, 0.3, 0.9)])
def test_credit_fifo_random(depth, p_write, p_read):
    dut = CreditFifo(width=12, depth=depth)
    rng = random.Random(SEED + depth)
    print(f"seed={SEED + depth}")
    sent, got = [], []

    async def bench(ctx):
        credits, value = depth, 0
        for _ in range(1500):
            write = credits > 0 and rng.random() < p_write
            read = rng.random() < p_read
            ctx.set(dut.w_en, write)
            ctx.set(dut.w_data, value)
            ctx.set(dut.r_en, read)
            if ctx.get(dut.r_valid) and read:
                got.append(ctx.get(dut.r_data))
                credits += 1
            if write:
                sent.append(value)
                value = (value * 5 + 3) & 0xFFF
                credits -= 1
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        ctx.set(dut.r_en, 1)
        for _ in range(depth + 4):
            if ctx.get(dut.r_valid):
                got.append(ctx.get(dut.r_data))
            await ctx.tick()
        assert not ctx.get(dut.r_valid)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(sent) > 300
    assert got == sent


def test_credit_fifo_latency_and_full():
    dut = CreditFifo(width=8, depth=4)

    async def bench(ctx):
        ctx.set(dut.w_en, 1)
        ctx.set(dut.w_data, 7)
        await ctx.tick()
        ctx.set(dut.w_en, 0)
        for _ in range(dut.latency - 1):
            assert not ctx.get(dut.r_valid)
            await ctx.tick()
        assert ctx.get(dut.r_valid) and ctx.get(dut.r_data) == 7
        # Held until read; then all `depth` credits' entries fit (plus the held one).
        for value in range(10, 10 + dut.depth):
            ctx.set(dut.w_en, 1)
            ctx.set(dut.w_data, value)
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        out = []
        ctx.set(dut.r_en, 1)
        for _ in range(dut.depth + 3):
            if ctx.get(dut.r_valid):
                out.append(ctx.get(dut.r_data))
            await ctx.tick()
        assert out == [7, *range(10, 10 + dut.depth)]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"width": 0, "depth": 4}, ValueError, "width must be in 1..4096, not 0"),
    ({"width": 8, "depth": 6}, ValueError, "depth must be a power of two in 2..1024, not 6"),
])
def test_credit_fifo_wrong(kwargs, error, message):
    with pytest.raises(error, match=message):
        CreditFifo(**kwargs)
