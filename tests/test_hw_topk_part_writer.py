# amaranth: UnusedElaboratable=no
"""hw.topk.part_writer in Amaranth's simulator: a round's kept lanes, packed into the banks in order."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring

from hw.topk.geometry import TopKGeometry
from hw.topk.lane_buffer import LaneBuffer
from hw.topk.part_writer import PartWriter
from sim.amaranth_streams import run

SEED = 20261208


class _WriterAndBanks(Elaboratable):
    def __init__(self, geometry):
        self.writer, self.banks = PartWriter(geometry=geometry), LaneBuffer(geometry=geometry)

    def elaborate(self, platform):
        m = Module()
        m.submodules.writer, m.submodules.banks = self.writer, self.banks
        wiring.connect(m, self.writer.write, self.banks.write)
        return m


@pytest.mark.parametrize("n_max, lanes", [(64, 4), (128, 8), (16, 2), (512, 4)])
def test_part_writer(n_max, lanes):
    g = TopKGeometry(n_max=n_max, lanes=lanes, score_bits=8, signed=False)
    dut = _WriterAndBanks(g)
    writer, banks = dut.writer, dut.banks
    early = writer.early_latency
    rng = random.Random(SEED + n_max + lanes)
    rounds = []
    for _ in range(3):
        beats = [([rng.randrange(256) for _ in range(lanes)], rng.randrange(1 << lanes))
                 for _ in range(rng.randint(1, n_max // lanes))]
        rounds.append(beats)
    checked = []

    async def bench(ctx):
        for beats in rounds:
            schedule = [(values, keep, i == 0) for i, (values, keep) in enumerate(beats)]
            for cycle in range(len(schedule) + early + writer.write_latency + 1):
                beat = schedule[cycle] if cycle < len(schedule) else None
                ctx.set(writer.valid, beat is not None)
                if beat:
                    for lane, value in enumerate(beat[0]):
                        ctx.set(writer.data[lane], value)
                    ctx.set(writer.keep, beat[1])
                # The round's first beat, aligned with its early count.
                ctx.set(writer.first, -1 if cycle == early else 0)
                await ctx.tick()
            kept = [value for values, keep in beats for lane, value in enumerate(values) if keep >> lane & 1]
            assert ctx.get(writer.size) == len(kept), f"seed={SEED + n_max + lanes}"
            full = len(kept) // lanes
            want_mask = (1 << full.bit_length() - 1) - 1 if full else 0
            assert all(ctx.get(writer.rows_masks[c]) == want_mask for c in range(g.broadcast_copies))
            # Read the banks back: element i at row i // P of bank i mod P.
            for row in range(-(-len(kept) // lanes)):
                for lane in range(lanes):
                    for s in range(g.slices):
                        ctx.set(banks.read.rows[lane][s], row)
                for _ in range(banks.latency):
                    await ctx.tick()
                got = [ctx.get(banks.read.data[lane]) for lane in range(lanes)]
                want = kept[row * lanes:(row + 1) * lanes]
                assert got[:len(want)] == want, f"seed={SEED + n_max + lanes} row {row}"
            checked.append(len(kept))

    run(dut, bench, deadline_cycles=20_000)
    assert len(checked) == len(rounds)
