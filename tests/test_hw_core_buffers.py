# amaranth: UnusedElaboratable=no
"""The head datapath's K buffer and column sums (hw/core) in Amaranth's simulator."""

import random

import numpy as np
import pytest

from golden.quant import join_planes, msb_only, split_planes
from hw.core import HeadDatapath
from hw.core.column_sums import ColumnSums
from hw.core.key_buffer import KeyBuffer
from sim.amaranth_streams import run, stream_get
from sim.streams import random_pause

SEED = 29


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_key_buffer_planes_and_lanes(lanes):
    """Rows written plane by plane read back ``lanes`` per beat: MSB-only codes, then full codes."""
    rng = np.random.default_rng(SEED + lanes)
    D, depth, msb, lsb = 4, 12, 8, 4
    codes = rng.integers(-2047, 2048, size=(depth, D))
    hi, lo = split_planes(codes, msb, lsb)
    buf = KeyBuffer(head_dim=D, max_context=depth, msb_bits=msb, lsb_bits=lsb, lanes=lanes)
    got = {}

    async def bench(ctx):
        for plane, rows in ((0, msb_only(hi, lsb)), (1, lo)):
            for p in range(depth):
                ctx.set(buf.w_pos, p)
                ctx.set(buf.w_codes, [int(c) for c in rows[p]])
                ctx.set(buf.w_lsb, plane)
                ctx.set(buf.w_en, 1)
                await ctx.tick()
            ctx.set(buf.w_en, 0)
            for full, n in ((0, depth), (1, depth - 3)):
                if plane == 0 and full:
                    continue
                ctx.set(buf.count, n)
                ctx.set(buf.full, full)
                ctx.set(buf.start, 1)
                await ctx.tick()
                ctx.set(buf.start, 0)
                pause = random_pause(random.Random(SEED), 0.4)
                out = []
                for _ in range(-(-n // lanes)):
                    beat = await stream_get(ctx, buf.keys, pause=pause)
                    out += [(beat.index[i], [int(x) for x in beat.k[i]]) for i in range(lanes)]
                got[(plane, full)] = out[:n]

    run(buf, bench)
    want_msb = [(p, [int(c) for c in msb_only(hi[p], lsb)]) for p in range(depth)]
    want_full = [(p, [int(c) for c in join_planes(hi[p], lo[p], lsb)]) for p in range(depth - 3)]
    assert got[(0, 0)] == want_msb
    assert got[(1, 0)] == want_msb
    assert got[(1, 1)] == want_full


def test_column_sums():
    """Clear, then adds at distinct positions back to back, then read: the sums of the adds."""
    sums = ColumnSums(depth=8, sum_bits=32)
    rng = random.Random(SEED)
    adds = [[(p, rng.randrange(1 << 15)) for p in rng.sample(range(8), rng.randint(1, 8))] for _ in range(5)]
    got = []

    async def bench(ctx):
        for p in range(8):
            ctx.set(sums.clear_pos, p)
            ctx.set(sums.clear_en, 1)
            await ctx.tick()
        ctx.set(sums.clear_en, 0)
        for row in adds:
            for p, prob in row:
                ctx.set(sums.add_pos, p)
                ctx.set(sums.add_prob, prob)
                ctx.set(sums.add_en, 1)
                await ctx.tick()
            ctx.set(sums.add_en, 0)
            await ctx.tick()
        for p in range(8):
            ctx.set(sums.rd_pos, p)
            ctx.set(sums.rd_en, 1)
            await ctx.tick()
            got.append(ctx.get(sums.rd_data))

    run(sums, bench)
    want = [sum(prob for row in adds for q, prob in row if q == p) for p in range(8)]
    assert got == want


def test_buffers_wrong():
    with pytest.raises(ValueError, match="lanes must be a power of two in 1..64, not 3"):
        KeyBuffer(head_dim=4, max_context=8, msb_bits=8, lsb_bits=4, lanes=3)
    with pytest.raises(ValueError, match="sum_bits must be in 16..62, not 8"):
        ColumnSums(depth=8, sum_bits=8)


def test_head_wrong():
    from dataclasses import replace

    from gen.config import preset
    with pytest.raises(TypeError, match="config must be a SpattenConfig, not 3"):
        HeadDatapath(config=3)
    # The configuration itself refuses a datapath with no LSB plane (gen.config, issue 21).
    with pytest.raises(ValueError, match=r"lsb_bits must be in 1\.\.15, not 0"):
        HeadDatapath(config=replace(preset("tiny"), msb_bits=12, lsb_bits=0))
    with pytest.raises(ValueError,
                       match="config.qk_multipliers / config.head_dim must be a power of two, not 3"):
        HeadDatapath(config=replace(preset("tiny"), qk_multipliers=24))
