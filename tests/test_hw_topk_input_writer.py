# amaranth: UnusedElaboratable=no
"""hw.topk.input_writer in Amaranth's simulator: each taken beat written at its row a cycle later."""

import random

import pytest

from hw.topk.geometry import TopKGeometry
from hw.topk.input_writer import InputWriter
from sim.amaranth_streams import run

SEED = 20261209


@pytest.mark.parametrize("n_max, lanes", [(37, 4), (100, 8)])
def test_input_writer(n_max, lanes):
    g = TopKGeometry(n_max=n_max, lanes=lanes, score_bits=8, signed=False)
    dut = InputWriter(geometry=g)
    rng = random.Random(SEED + lanes)
    requests = [rng.randint(1, n_max) for _ in range(5)]
    log = []

    async def bench(ctx):
        for n in requests:
            ctx.set(dut.start, 1)
            ctx.set(dut.n, n)
            ctx.set(dut.n_lanes, (1 << min(n, g.sample)) - 1)
            ctx.set(dut.n_single, n <= lanes)
            await ctx.tick()
            ctx.set(dut.start, 0)
            assert ctx.get(dut.first_lanes) == (1 << min(n, g.sample)) - 1
            beats = [[rng.randrange(256) for _ in range(lanes)] for _ in range(-(-n // lanes))]
            row = 0
            while row < len(beats):
                take = rng.random() < 0.7       # bubbles: no beat offered
                ctx.set(dut.take, take)
                ctx.set(dut.advance, take)
                ctx.set(dut.scores, beats[row])
                if take:
                    assert ctx.get(dut.first_taken) == (row == 0)
                    assert ctx.get(dut.last) == (row == len(beats) - 1), f"n={n} row={row}"
                await ctx.tick()
                # A cycle later: the write, the round's copies of the handshake and the beat.
                writes = ctx.get(dut.write.en)
                assert writes == ((1 << lanes) - 1 if take else 0)
                assert ctx.get(dut.taken) == (0b11 if take else 0)
                if take:
                    log.append(([ctx.get(dut.write.addr[lane]) for lane in range(lanes)],
                                [ctx.get(dut.write.data[lane]) for lane in range(lanes)],
                                [ctx.get(dut.beat[lane]) for lane in range(lanes)], row, beats[row]))
                    row += 1
            ctx.set(dut.take, 0)
            ctx.set(dut.advance, 0)
            await ctx.tick()

    run(dut, bench, deadline_cycles=5000)
    assert len(log) == sum(-(-n // lanes) for n in requests)
    for addrs, values, beat, row, want in log:
        assert addrs == [row] * lanes and values == want and beat == want, f"seed={SEED + lanes} row {row}"
