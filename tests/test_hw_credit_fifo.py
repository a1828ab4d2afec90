# amaranth: UnusedElaboratable=no
"""CreditFifo: order, no loss, the credit contract, the empty-FIFO latency and the throughput."""

import random

import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from hw.credit_fifo import CreditFifo
from sim.amaranth_streams import run

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
        await _drain(ctx, dut, depth, got)

    _run(dut, bench)
    assert len(sent) > 300
    assert got == sent


async def _drain(ctx, dut, depth, got):
    """Stop writing, read until empty (at most depth + 4 cycles), and check it is empty."""
    ctx.set(dut.w_en, 0)
    ctx.set(dut.r_en, 1)
    for _ in range(depth + 4):
        if ctx.get(dut.r_valid):
            got.append(ctx.get(dut.r_data))
        await ctx.tick()
    assert not ctx.get(dut.r_valid)


def _run(dut, bench):
    run(dut, bench, deadline_cycles=1_000_000)


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

    _run(dut, bench)


@pytest.mark.parametrize("width, depth, credit_delay", [(12, 16, 0), (150, 4, 0), (150, 8, 1), (1, 2, 1)])
def test_credit_fifo_random_credits(width, depth, credit_delay):
    """Random writes within the credits and random r_en; data wider than one group.

    The writer counts what it has outstanding and a pop's credit comes back
    ``credit_delay`` cycles later (the engine returns it from a register).
    """
    seed = SEED + width + depth + credit_delay
    print(f"seed={seed}")
    rng = random.Random(seed)
    dut = CreditFifo(width=width, depth=depth)
    sent, got = [], []

    async def bench(ctx):
        outstanding, returning = 0, [0] * credit_delay
        p_write, p_read = 0.5, 0.5
        for cycle in range(1500):
            if cycle % 150 == 0:    # phases from trickle to flood, each side
                p_write, p_read = rng.choice([0.1, 0.5, 0.9, 1.0]), rng.choice([0.1, 0.5, 0.9, 1.0])
            write = outstanding < depth and rng.random() < p_write
            read = rng.random() < p_read
            value = rng.getrandbits(width)
            ctx.set(dut.w_en, write)
            ctx.set(dut.w_data, value)
            ctx.set(dut.r_en, read)
            popped = ctx.get(dut.r_valid) and read
            if popped:
                got.append(ctx.get(dut.r_data))
            if write:
                sent.append(value)
                outstanding += 1
            returning.append(int(popped))
            outstanding -= returning.pop(0)
            assert outstanding <= depth
            await ctx.tick()
        await _drain(ctx, dut, depth, got)

    _run(dut, bench)
    assert len(sent) > 300
    assert got == sent


@pytest.mark.parametrize("depth", [4, 16])
def test_credit_fifo_one_per_cycle(depth):
    """Writes whenever a credit is left and r_en held: one entry per cycle.

    A credit goes round in 3 cycles (write, entry out 2 cycles later, written
    again in the cycle after its pop), so 4 credits keep the writer busy.
    """
    dut = CreditFifo(width=70, depth=depth)
    n = 40

    async def bench(ctx):
        credits, value, got, valid_cycles = depth, 0, [], []
        ctx.set(dut.r_en, 1)
        for cycle in range(n + 4):
            write = credits > 0 and value < n
            ctx.set(dut.w_en, write)
            ctx.set(dut.w_data, value * 0x123456789 + 1)
            if ctx.get(dut.r_valid):
                got.append(ctx.get(dut.r_data))
                valid_cycles.append(cycle)
                credits += 1
            if write:
                value += 1
                credits -= 1
            await ctx.tick()
        assert got == [v * 0x123456789 + 1 for v in range(n)]
        # First write at cycle 0, first entry at the latency, then no gap.
        assert valid_cycles == list(range(dut.latency, dut.latency + n))

    _run(dut, bench)


def test_credit_fifo_stall_then_drain():
    """All credits spent while the reader stalls, then r_en returns: nothing lost, one per cycle."""
    dut = CreditFifo(width=100, depth=16)

    async def bench(ctx):
        for value in range(16):
            ctx.set(dut.w_en, 1)
            ctx.set(dut.w_data, value << 80 | value)
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        for _ in range(5):
            assert ctx.get(dut.r_valid) and ctx.get(dut.r_data) == 0
            await ctx.tick()
        ctx.set(dut.r_en, 1)
        out = []
        for _ in range(16):
            assert ctx.get(dut.r_valid)
            out.append(ctx.get(dut.r_data))
            await ctx.tick()
        assert not ctx.get(dut.r_valid)
        assert out == [v << 80 | v for v in range(16)]

    _run(dut, bench)


def test_credit_fifo_reset_mid_stream():
    """One-cycle resets at random points of a random stream: empty at once, then exact again.

    Some of the FIFO's copies have no reset (they only load empty slots or
    select r_data while r_valid is low): a single reset cycle must do.
    """
    seed = SEED + 7
    print(f"seed={seed}")
    rng = random.Random(seed)
    dut = CreditFifo(width=90, depth=4)
    m = Module()
    m.domains.sync = cd = ClockDomain("sync")
    m.submodules.dut = dut
    resets = []

    async def bench(ctx):
        sent, got, outstanding = [], [], 0
        for _ in range(1500):
            if rng.random() < 0.02:
                # Whatever the writer and reader do in the reset cycle is discarded.
                ctx.set(cd.rst, 1)
                ctx.set(dut.w_en, rng.random() < 0.5)
                ctx.set(dut.r_en, rng.random() < 0.5)
                await ctx.tick()
                ctx.set(cd.rst, 0)
                assert got == sent[:len(got)]
                resets.append(len(got))
                sent, got, outstanding = [], [], 0
                assert not ctx.get(dut.r_valid)
                continue
            write = outstanding < 4 and rng.random() < 0.7
            read = rng.random() < 0.6
            value = rng.getrandbits(90)
            ctx.set(dut.w_en, write)
            ctx.set(dut.w_data, value)
            ctx.set(dut.r_en, read)
            if ctx.get(dut.r_valid) and read:
                got.append(ctx.get(dut.r_data))
                outstanding -= 1
            if write:
                sent.append(value)
                outstanding += 1
            await ctx.tick()
        assert got == sent[:len(got)] and len(sent) - len(got) <= 4

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(resets) > 10 and sum(resets) > 300


@pytest.mark.parametrize("kwargs, error, message", [
    ({"width": 0, "depth": 4}, ValueError, "width must be in 1..65536, not 0"),
    ({"width": 8, "depth": 6}, ValueError, "depth must be a power of two in 2..1024, not 6"),
])
def test_credit_fifo_wrong(kwargs, error, message):
    with pytest.raises(error, match=message):
        CreditFifo(**kwargs)
