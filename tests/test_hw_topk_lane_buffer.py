# amaranth: UnusedElaboratable=no
"""hw.topk.lane_buffer and hw.topk.geometry in Amaranth's simulator: per-lane writes, reads at the latency."""

import random

import pytest

from hw.topk.geometry import TopKGeometry
from hw.topk.lane_buffer import LaneBuffer
from sim.amaranth_streams import run

SEED = 20261204


@pytest.mark.parametrize("n_max, lanes, bits", [(37, 4, 12), (512, 4, 16), (64, 8, 6)])
def test_lane_buffer(n_max, lanes, bits):
    """Each lane keeps its own rows; data comes ``latency`` cycles after its row (2 with block RAM)."""
    g = TopKGeometry(n_max=n_max, lanes=lanes, score_bits=bits, signed=False)
    dut = LaneBuffer(geometry=g)
    assert dut.latency == 1 + g.block_ram == 1 + (g.rows > 64)
    rng = random.Random(SEED + n_max)
    contents = [[rng.randrange(1 << bits) for _ in range(lanes)] for _ in range(g.rows)]
    reads = [[rng.randrange(g.rows) for _ in range(lanes)] for _ in range(40)]
    got = []

    async def bench(ctx):
        for row, values in enumerate(contents):
            for lane in range(lanes):
                ctx.set(dut.write.addr[lane], row)
                ctx.set(dut.write.data[lane], values[lane])
            ctx.set(dut.write.en, (1 << lanes) - 1)
            await ctx.tick()
        ctx.set(dut.write.en, 0)
        for cycle in range(len(reads) + dut.latency):
            if cycle < len(reads):
                for lane in range(lanes):
                    for s in range(g.slices):
                        ctx.set(dut.read.rows[lane][s], reads[cycle][lane])
            await ctx.tick()
            if cycle + 1 >= dut.latency:
                got.append([ctx.get(dut.read.data[lane]) for lane in range(lanes)])

    run(dut, bench, deadline_cycles=5000)
    want = [[contents[row][lane] for lane, row in enumerate(rows)] for rows in reads]
    assert got[:len(want)] == want, f"seed={SEED + n_max}"


def test_geometry():
    g = TopKGeometry(n_max=1024, lanes=16, score_bits=16, signed=False)
    assert (g.count_bits, g.index_bits, g.sample, g.rows, g.row_bits, g.lane_bits) == (11, 10, 16, 64, 6, 4)
    assert (g.block_ram, g.slices, g.broadcast_copies, g.select_copies, g.pivot_copies) == (False, 2, 4, 8, 8)
    deep = TopKGeometry(n_max=512, lanes=4, score_bits=16, signed=True)
    assert (deep.block_ram, deep.read_delay, deep.slices, deep.shape.signed) == (True, 1, 1, True)
    assert TopKGeometry(n_max=1, lanes=2, score_bits=2, signed=False).index_bits == 1


def test_lane_buffer_wrong():
    with pytest.raises(TypeError, match="geometry must be a TopKGeometry, not 3"):
        LaneBuffer(geometry=3)
