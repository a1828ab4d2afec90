# amaranth: UnusedElaboratable=no
"""hw.topk.credited_output in Amaranth's simulator: beats through the FIFO under backpressure."""

import random

import pytest

from hw.topk.credited_output import CreditedOutput
from hw.topk.geometry import TopKGeometry
from hw.zero_eliminator import ZeroEliminator
from sim.amaranth_streams import run, stream_get
from sim.streams import random_pause

SEED = 20261211
# Cycles from a row's issue to its early count, as the final pass has them.
PASS_DELAY = 6


@pytest.mark.parametrize("lanes, backpressure", [(4, 0.0), (4, 0.6), (8, 0.3)])
def test_credited_output(lanes, backpressure):
    g = TopKGeometry(n_max=200, lanes=lanes, score_bits=8, signed=False)
    dut = CreditedOutput(geometry=g)
    shift = ZeroEliminator.latency_of(split=True) - ZeroEliminator.EARLY_LATENCY
    rng = random.Random(SEED + lanes)
    requests = []
    for _ in range(4):
        # The final pass keeps exactly k elements; rows after the k-th are empty.
        rows = [[(rng.randrange(200), rng.randrange(256)) for _ in range(rng.randint(0, lanes))]
                for _ in range(rng.randint(1, 30))]
        rows[0].append((0, 0))
        rows[0] = rows[0][:lanes]
        requests.append((rows + [[]] * rng.randint(0, 8), sum(len(r) for r in rows)))
    got, issued_rows = [], []

    async def source(ctx):
        for rows, k in requests:
            ctx.set(dut.start, 1)
            ctx.set(dut.quota_m1, k - 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.final, 1)
            pipe, row, stopped, issued = [], 0, False, 0
            while not ctx.get(dut.done):
                stopped |= ctx.get(dut.stop)
                # The final pass: issue while a row is left, not stopped, and a credit is left.
                issue = row < len(rows) and not stopped and ctx.get(dut.credit_ok[g.broadcast_copies])
                ctx.set(dut.issue, issue)
                pipe.append(rows[row] if issue else None)
                row += issue
                issued += issue
                early = pipe[-PASS_DELAY] if len(pipe) >= PASS_DELAY else None
                ctx.set(dut.packed.early_valid, early is not None)
                ctx.set(dut.packed.early_count, len(early) if early else 0)
                late = pipe[-PASS_DELAY - shift] if len(pipe) >= PASS_DELAY + shift else None
                ctx.set(dut.packed.count, len(late) if late else 0)
                for lane, (index, score) in enumerate(late or []):
                    ctx.set(dut.packed.data[lane].index, index)
                    ctx.set(dut.packed.data[lane].score, score)
                await ctx.tick()
            ctx.set(dut.final, 0)
            ctx.set(dut.issue, 0)
            issued_rows.append(issued)
            await ctx.tick()

    async def sink(ctx):
        pause = random_pause(random.Random(rng.random()), backpressure)
        for _ in requests:
            beats = []
            while not beats or not beats[-1].last:
                beats.append(await stream_get(ctx, dut.result, pause=pause))
            got.append([(beat.index[lane], beat.score[lane]) for beat in beats for lane in range(beat.count)])

    run(dut, source, sink, deadline_cycles=50_000)
    for (rows, k), kept, issued in zip(requests, got, issued_rows, strict=True):
        flat = [element for row in rows for element in row]
        assert kept == flat and len(flat) == k, f"seed={SEED + lanes} k={k}: {kept} vs {flat}"
        # The pass stops reading once the last beat is pushed (a few rows may follow it).
        assert issued <= len(rows), f"seed={SEED + lanes}"


def test_credited_output_depth():
    def depth(n_max, lanes):
        geometry = TopKGeometry(n_max=n_max, lanes=lanes, score_bits=8, signed=False)
        return CreditedOutput(geometry=geometry).fifo_depth

    assert (depth(64, 16), depth(512, 4)) == (16, 32)
