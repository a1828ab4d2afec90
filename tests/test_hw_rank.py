# amaranth: UnusedElaboratable=no
"""RankSelect (pivot = sample element of a given rank) and RankTarget (its rank)."""

import random

import pytest
from amaranth.hdl import Shape, signed

from golden.topk_cycles import pivot_targets
from hw.rank_select import RankSelect
from hw.rank_target import RankTarget
from sim.amaranth_streams import run

SEED = 23


@pytest.mark.parametrize("sample, shape, ranks, copies",
                         [(2, 2, 1, 1), (4, 3, 2, 1), (8, 4, 1, 3), (16, signed(6), 2, 4)])
def test_rank_select(sample, shape, ranks, copies):
    """A stream of samples with random bubbles, back to back at times; each
    sample's targets are driven only at their ``target_delay`` cycle (random
    elsewhere), and every copy of ``o_value`` must hold between selections."""
    dut = RankSelect(sample=sample, shape=shape, ranks=ranks, copies=copies)
    rng = random.Random(SEED + sample)
    print(f"seed={SEED + sample}")
    w = Shape.cast(shape)
    lo, hi = (-(1 << w.width - 1), (1 << w.width - 1) - 1) if w.signed else (0, (1 << w.width) - 1)
    beats = 60

    async def bench(ctx):
        targets, results = {}, {}     # cycle -> target to drive / result to see
        issued, held = set(), [0] * ranks
        for t in range(beats + dut.latency):
            if t in results:
                held = results.pop(t)
            assert ctx.get(dut.o_valid) == (t - dut.latency in issued), t
            for r in range(ranks):
                assert [ctx.get(dut.o_value[r][c]) for c in range(copies)] == [held[r]] * copies, (t, held)
            values = [rng.randint(lo, hi) for _ in range(sample)]
            m = rng.randint(1, sample)
            valid = t < beats and rng.random() < 0.6
            ctx.set(dut.i_valid, valid)
            ctx.set(dut.i_mask, (1 << m) - 1 if valid else rng.randrange(1 << sample))
            for l in range(sample):
                ctx.set(dut.i_data[l], values[l])
            if valid:
                issued.add(t)
                want = [rng.randrange(m) for _ in range(ranks)]
                targets[t + dut.target_delay] = want
                results[t + dut.latency] = [sorted(values[:m], reverse=True)[rank] for rank in want]
            for r, rank in enumerate(targets.pop(t, [rng.randrange(sample) for _ in range(ranks)])):
                ctx.set(dut.target[r], rank)
            await ctx.tick()
        assert not results and len(issued) > beats // 3

    run(dut, bench, deadline_cycles=1_000_000)
    # Pinned: the top-k engine's pipeline is built around these two figures.
    assert (dut.latency, dut.target_delay) == (8, 3)


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
            got = ctx.get(dut.target_hi), ctx.get(dut.target_lo)
            assert got == pivot_targets(n, k, sample), (n, k)

    run(dut, bench, deadline_cycles=1_000_000)


@pytest.mark.parametrize("cls, kwargs", [(RankSelect, {"shape": 4}), (RankTarget, {"count_bits": 4})])
def test_rank_wrong(cls, kwargs):
    with pytest.raises(ValueError, match=r"sample must be a power of two in 2\.\.16, not 32"):
        cls(sample=32, **kwargs)


@pytest.mark.parametrize("kwargs, message", [({"ranks": 5}, r"ranks must be .*1\.\.4.*5"),
                                             ({"copies": 0}, r"copies must be .*1\.\.16.*0")])
def test_rank_select_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RankSelect(sample=4, shape=4, **kwargs)
