# amaranth: UnusedElaboratable=no
"""RankSelect (pivot = sample element of a given rank) and RankTarget (its rank)."""

import random

import pytest
from amaranth.hdl import signed
from amaranth.sim import Simulator

from golden.topk_cycles import pivot_target
from hw.rank_select import RankSelect
from hw.rank_target import RankTarget

SEED = 23


@pytest.mark.parametrize("sample, shape", [(4, 3), (16, signed(6))])
def test_rank_select(sample, shape):
    dut = RankSelect(sample=sample, shape=shape)
    rng = random.Random(SEED + sample)
    print(f"seed={SEED + sample}")
    lo, hi = (-32, 31) if sample == 16 else (0, 7)

    async def bench(ctx):
        for _ in range(40):
            m = rng.randint(1, sample)
            values = [rng.randint(lo, hi) for _ in range(sample)]
            target = rng.randrange(m)
            ctx.set(dut.i_valid, 1)
            ctx.set(dut.i_mask, (1 << m) - 1)
            for l in range(sample):
                ctx.set(dut.i_data[l], values[l])
            await ctx.tick()
            ctx.set(dut.i_valid, 0)
            for l in range(sample):
                ctx.set(dut.i_data[l], rng.randint(lo, hi))   # later beats must not disturb it
            await ctx.tick().repeat(dut.latency - 2)
            ctx.set(dut.target, target)                         # the target may come late
            await ctx.tick()
            assert ctx.get(dut.o_valid)
            await ctx.tick().repeat(2)
            want = sorted(values[:m], reverse=True)[target]
            assert ctx.get(dut.o_value) == want, (values, m, target)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert dut.latency == 3


@pytest.mark.parametrize("sample", [2, 16])
def test_rank_target(sample):
    dut = RankTarget(sample=sample, count_bits=11)
    rng = random.Random(SEED)
    print(f"seed={SEED}")
    pairs = [(1, 1), (1024, 1024), (1024, 1), (17, 16), (sample, sample), (sample + 1, sample + 1)]
    pairs += [(n, rng.randint(1, n)) for n in (rng.randint(1, 1024) for _ in range(40))]

    async def bench(ctx):
        for n, k in pairs:
            ctx.set(dut.n, n)
            ctx.set(dut.k, k)
            await ctx.tick().repeat(dut.latency)
            assert ctx.get(dut.target) == pivot_target(n, k, sample), (n, k)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("cls, kwargs", [(RankSelect, {"shape": 4}), (RankTarget, {"count_bits": 4})])
def test_rank_wrong(cls, kwargs):
    with pytest.raises(ValueError, match=r"sample must be a power of two in 2\.\.16, not 32"):
        cls(sample=32, **kwargs)
