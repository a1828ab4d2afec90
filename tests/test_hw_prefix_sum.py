# amaranth: UnusedElaboratable=no
"""PrefixSum (adder tree) and ZeroEliminator (prefix sum + log2(P) shifter)."""

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hw.prefix_sum import PrefixSum, block_prefix_counts, lut_count
from hw.zero_eliminator import ZeroEliminator
from sim.amaranth_streams import run

SEED = 11


@pytest.mark.parametrize("width", [1, 3, 8, 13, 64])
def test_prefix_sum(width):
    dut = PrefixSum(width=width)
    rng = random.Random(SEED + width)
    print(f"seed={SEED + width}")
    masks = [0, (1 << width) - 1] + [rng.getrandbits(width) for _ in range(60)]

    async def bench(ctx):
        for mask in masks:
            ctx.set(dut.i, mask)
            want = [bin(mask & ((2 << l) - 1)).count("1") for l in range(width)]
            got = [ctx.get(dut.o[l]) for l in range(width)]
            assert got == want, f"mask {mask:#x}: {got}, expected {want}"
            assert ctx.get(dut.total) == bin(mask).count("1")

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("kept_pairs", [False, True])
@pytest.mark.parametrize("block", [1, 2, 4, 8])
def test_lut_counts(block, kept_pairs):
    # Every 8-bit vector: lut_count of each prefix length, and the counts
    # within blocks (exhaustive, so every carry of the two-group sum is hit),
    # with the pair terms as plain logic or as kept wires driven in m.
    m = Module()
    km = m if kept_pairs else None
    bits = Signal(8)
    counts = [Signal(4, name=f"count{n}") for n in range(1, 9)]
    blocks = [Signal(4, name=f"block{l}") for l in range(8)]
    m.d.comb += [c.eq(lut_count([bits[i] for i in range(n)], m=km, name=f"c{n}"))
                 for n, c in enumerate(counts, 1)]
    m.d.comb += [b.eq(v) for b, v in zip(blocks, block_prefix_counts(bits, 8, block, m=km), strict=True)]

    async def bench(ctx):
        for value in range(256):
            ctx.set(bits, value)
            prefixes = [bin(value & ((1 << n) - 1)).count("1") for n in range(1, 9)]
            assert [ctx.get(c) for c in counts] == prefixes, value
            want = [bin(value >> (l - l % block) & ((2 << (l % block)) - 1)).count("1") for l in range(8)]
            assert [ctx.get(b) for b in blocks] == want, value

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


def test_lut_count_arguments():
    with pytest.raises(ValueError, match="1..8 bits"):
        lut_count([Signal() for _ in range(9)])
    with pytest.raises(ValueError, match="block must be"):
        block_prefix_counts(Signal(12), 12, 8)


def _run_ze(lanes, masks, rng, stall, split=False):
    """Random beats through a ZeroEliminator; checks o_* and early_* timing.

    Each beat's early_* and o_* must appear exactly early_latency and latency
    advancing cycles after it was taken, with its count and packed lanes.
    """
    # Three copies of the early count: every copy must carry the count.
    dut = ZeroEliminator(lanes=lanes, shape=8, split=split, early_copies=3)
    sent, got, early = [], [], []

    async def bench(ctx):
        pending = list(masks)
        step = 0
        for _ in range(4 * len(masks) + 20):
            en = rng.random() >= stall
            ctx.set(dut.en, en)
            if en:
                if ctx.get(dut.o_valid):
                    count = ctx.get(dut.o_count)
                    got.append((step, [ctx.get(dut.o_data[l]) for l in range(count)]))
                if ctx.get(dut.early_valid):
                    counts = {ctx.get(dut.early_counts[c]) for c in range(3)} | {ctx.get(dut.early_count)}
                    assert len(counts) == 1, f"early count copies differ: {counts}"
                    early.append((step, ctx.get(dut.early_count)))
                # A new input is taken on every advancing cycle.
                valid = bool(pending)
                ctx.set(dut.i_valid, valid)
                if valid:
                    mask = pending.pop(0)
                    values = [rng.randrange(256) for _ in range(lanes)]
                    for l in range(lanes):
                        ctx.set(dut.i_data[l], values[l])
                    ctx.set(dut.i_keep, mask)
                    sent.append((step, [values[l] for l in range(lanes) if mask >> l & 1]))
                step += 1
            await ctx.tick()

    run(dut, bench, deadline_cycles=1_000_000)
    assert got == [(t + dut.latency, lanes_) for t, lanes_ in sent]
    assert early == [(t + dut.early_latency, len(lanes_)) for t, lanes_ in sent]
    assert dut.early_latency < dut.latency


@pytest.mark.parametrize("lanes, split, early_latency, latency", [(16, False, 3, 4), (16, True, 3, 5)])
def test_zero_eliminator_latency(lanes, split, early_latency, latency):
    # The engine's cycle model counts on these; a change must be deliberate.
    dut = ZeroEliminator(lanes=lanes, shape=25, split=split)
    assert (dut.early_latency, dut.latency) == (early_latency, latency)


def test_zero_eliminator_bad_early_copies():
    with pytest.raises(ValueError, match="early_copies"):
        ZeroEliminator(lanes=4, shape=8, early_copies=0)


def test_zero_eliminator_every_mask():
    _run_ze(8, list(range(256)), random.Random(SEED), stall=0.0)


@pytest.mark.parametrize("lanes, split", [(2, False), (16, False), (64, False), (2, True), (16, True)])
def test_zero_eliminator_random_stalls(lanes, split):
    rng = random.Random(SEED + lanes)
    print(f"seed={SEED + lanes}")
    masks = [0, (1 << lanes) - 1] + [rng.getrandbits(lanes) & rng.getrandbits(lanes) for _ in range(40)]
    _run_ze(lanes, masks, rng, stall=0.3, split=split)


@pytest.mark.parametrize("cls, kwargs, error, message", [
    (PrefixSum, {"width": 0}, ValueError, r"width must be in 1\.\.64, not 0"),
    (PrefixSum, {"width": 2.0}, TypeError, "width must be an integer, not 2.0"),
    (ZeroEliminator, {"lanes": 12, "shape": 4}, ValueError,
     r"lanes must be a power of two in 2\.\.64, not 12"),
    (ZeroEliminator, {"lanes": True, "shape": 4}, TypeError, "lanes must be an integer, not True"),
    (ZeroEliminator, {"lanes": 4, "shape": 4, "split": 1}, TypeError, "split must be a bool, not 1"),
])
def test_blocks_wrong(cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        cls(**kwargs)
