# amaranth: UnusedElaboratable=no
"""LaneRam: slices with their own read rows behave as one synchronous RAM."""

import random

import pytest
from amaranth.hdl import Shape, signed

from hw.lane_ram import LaneRam
from sim.amaranth_streams import run

SEED = 77


@pytest.mark.parametrize("shape, depth, slice_bits, slices, block",
                         [(16, 32, 8, 2, False), (signed(12), 20, 5, 3, False), (7, 4, 16, 1, False),
                          (16, 128, 16, 1, True)])
def test_lane_ram_random(shape, depth, slice_bits, slices, block):
    dut = LaneRam(shape=shape, depth=depth, slice_bits=slice_bits, block=block)
    assert (dut.slices, dut.latency) == (slices, 1 + block)
    rng = random.Random(SEED + depth)
    print(f"seed={SEED + depth}")
    width, sign = Shape.cast(shape).width, Shape.cast(shape).signed
    lo, hi = -(sign << (width - 1)), (1 << (width - sign)) - 1
    model = [None] * depth
    pending = []
    checked = 0

    async def bench(ctx):
        nonlocal checked
        for _ in range(600):
            addr = rng.randrange(depth)
            write = rng.random() < 0.5
            w_addr, w_data = rng.randrange(depth), rng.randint(lo, hi)
            ctx.set(dut.w_en, write)
            ctx.set(dut.w_addr, w_addr)
            ctx.set(dut.w_data, w_data)
            for s in range(dut.slices):
                ctx.set(dut.r_addr[s], addr)
            # Read before write: the row's old value, latency cycles later.
            pending.append(model[addr])
            await ctx.tick()
            if write:
                model[w_addr] = w_data
            if len(pending) == dut.latency:
                old = pending.pop(0)
                if old is not None:
                    assert ctx.get(dut.r_data) == old, (addr, old)
                    checked += 1

    run(dut, bench, deadline_cycles=1_000_000)
    assert checked > 200


def test_lane_ram_arguments():
    with pytest.raises(ValueError, match="depth"):
        LaneRam(shape=8, depth=0, slice_bits=4)
    with pytest.raises(ValueError, match="slice_bits"):
        LaneRam(shape=8, depth=8, slice_bits=0)
    with pytest.raises(TypeError, match="block must be a bool"):
        LaneRam(shape=8, depth=8, slice_bits=8, block=1)


def test_lane_ram_block_attribute():
    """``block`` asks Yosys for block RAM on every slice, and only then."""
    from amaranth.back import rtlil
    for block in (False, True):
        text = rtlil.convert(LaneRam(shape=16, depth=128, slice_bits=8, block=block))
        assert text.count('attribute \\ram_style "block"') == (2 if block else 0)
        assert text.count("attribute \\no_rw_check 1") == (2 if block else 0)
