# amaranth: UnusedElaboratable=no
"""hw.topk.round_reader in Amaranth's simulator: round 1's beats from the input, later rounds' from a part."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring

from hw.topk.geometry import TopKGeometry
from hw.topk.lane_buffer import LaneBuffer
from hw.topk.pivot_sampler import SIDES
from hw.topk.round_reader import RoundReader
from sim.amaranth_streams import run

SEED = 20261213


class _ReaderAndBanks(Elaboratable):
    def __init__(self, geometry):
        self.reader = RoundReader(geometry=geometry)
        self.banks = {side: LaneBuffer(geometry=geometry) for side in SIDES}

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader = self.reader
        for side, bank in self.banks.items():
            m.submodules[f"bank{side}"] = bank
            wiring.connect(m, getattr(self.reader, f"read_{side}"), bank.read)
        return m


def _beat(ctx, beat, lanes):
    return (ctx.get(beat.first), ctx.get(beat.last), ctx.get(beat.mask),
            [ctx.get(beat.data[lane]) for lane in range(lanes)],
            [ctx.get(beat.data_lo[lane]) for lane in range(lanes)])


@pytest.mark.parametrize("n_max, lanes", [(64, 4), (512, 4), (128, 8)])
def test_round_reader(n_max, lanes):
    g = TopKGeometry(n_max=n_max, lanes=lanes, score_bits=8, signed=False)
    dut = _ReaderAndBanks(g)
    reader = dut.reader
    rng = random.Random(SEED + n_max + lanes)
    contents = {side: [[rng.randrange(256) for _ in range(lanes)] for _ in range(g.rows)] for side in SIDES}
    rounds = [(rng.choice(("input", *SIDES)), rng.randint(1, n_max)) for _ in range(8)]
    got, want, finished = [], [], []

    def lanes_of(n):
        return (1 << (n - 1) % lanes + 1) - 1

    async def bench(ctx):
        for side, bank in dut.banks.items():
            for row, values in enumerate(contents[side]):
                for lane in range(lanes):
                    ctx.set(bank.write.addr[lane], row)
                    ctx.set(bank.write.data[lane], values[lane])
                ctx.set(bank.write.en, -1)
                await ctx.tick()
            ctx.set(bank.write.en, 0)
        for source, n in rounds:
            beats = -(-n // lanes)
            if source == "input":
                ctx.set(reader.start, 1)
                ctx.set(reader.n, n)
                ctx.set(reader.n_lmask, lanes_of(n))
                ctx.set(reader.n_single, n <= lanes)
                ctx.set(reader.n_double, n <= 2 * lanes)
                await ctx.tick()
                ctx.set(reader.start, 0)
                rows = [[rng.randrange(256) for _ in range(lanes)] for _ in range(beats)]
                for row in rows:
                    ctx.set(reader.taken, 0b11)     # the beat was taken a cycle ago: it is in_beat now
                    ctx.set(reader.in_beat, row)
                    await ctx.tick()
                ctx.set(reader.taken, 0)
            else:
                rows = contents[source][:beats]
                ctx.set(reader.side_m, source == "M")
                ctx.set(reader.side_r, source == "R")
                ctx.set(reader.round_n, n)
                ctx.set(reader.round_lmask, lanes_of(n))
                ctx.set(reader.round_last, n <= lanes)
                ctx.set(reader.round_last2, n <= 2 * lanes)
                # The control's states after HOLD: the load of the sample rows, GAP, then RUN.
                ctx.set(reader.before_sample, 1)
                await ctx.tick()
                ctx.set(reader.before_sample, 0)
                ctx.set(reader.drain_last, 1)
                await ctx.tick()
                ctx.set(reader.drain_last, 0)
                await ctx.tick()
                ctx.set(reader.run, 1)
                while True:
                    last = ctx.get(reader.rem_last)
                    await ctx.tick()
                    if last:
                        break
                ctx.set(reader.run, 0)
            for number, row in enumerate(rows):
                final = number == beats - 1
                want.append((number == 0, final, lanes_of(n) if final else (1 << lanes) - 1, row, row))
            while len(got) < len(want):
                await ctx.tick()
            for _ in range(reader.latency + 2):
                await ctx.tick()
            assert len(got) == len(want), f"extra beats: {got[len(want):]}"
        finished.append(True)

    async def monitor(ctx):
        while not finished:
            await ctx.tick()
            if ctx.get(reader.beat.valid):
                got.append(_beat(ctx, reader.beat, lanes))

    run(dut, bench, monitor, deadline_cycles=20_000)
    for number, (g_beat, w_beat) in enumerate(zip(got, want, strict=True)):
        first, last, mask, data, data_lo = g_beat
        masked = [v if mask >> lane & 1 else None for lane, v in enumerate(data)]
        want_masked = [v if w_beat[2] >> lane & 1 else None for lane, v in enumerate(w_beat[3])]
        assert (first, last, mask, masked, data_lo == data) == (*w_beat[:3], want_masked, True), \
            f"seed={SEED + n_max + lanes} beat {number}"
