# amaranth: UnusedElaboratable=no
"""hw.topk.control in Amaranth's simulator: the request's path through the states, cycle by cycle."""

import pytest

from golden import topk_cycles
from hw.topk.control import TopKControl
from hw.topk.geometry import TopKGeometry
from sim.amaranth_streams import run


async def _accept(ctx, dut, n, k):
    """Offer the request until taken; return the cycles until ``scores_ready`` (or ``empty``) rises."""
    ctx.set(dut.request.valid, 1)
    ctx.set(dut.request.payload, {"n": n, "k": k})
    await ctx.tick().until(dut.request.ready)
    ctx.set(dut.request.valid, 0)
    for cycle in range(1, 20):
        if ctx.get(dut.scores_ready) or ctx.get(dut.empty):
            return cycle
        await ctx.tick()
    raise AssertionError("no input state")


@pytest.mark.parametrize("lanes", [4, 16])
def test_control_rounds(lanes):
    """A good request: input, a round that goes on (DRAIN, GAP, RUN), a round that ends, the final pass."""
    g = TopKGeometry(n_max=100, lanes=lanes, score_bits=8, signed=False)
    dut = TopKControl(geometry=g)
    events = {}

    async def bench(ctx):
        assert await _accept(ctx, dut, 70, 5) == topk_cycles.START_DELAY
        assert (ctx.get(dut.n), ctx.get(dut.k_m1), ctx.get(dut.clamped)) == (70, 4, 0)
        ctx.set(dut.scores_valid, 1)
        ctx.set(dut.input_last, 1)
        assert ctx.get(dut.take) and ctx.get(dut.advance)
        await ctx.tick()
        ctx.set(dut.scores_valid, 0)
        assert not ctx.get(dut.scores_ready)
        for name, ends in (("round 1", 0), ("round 2", 1)):
            ctx.set(dut.decide, 1)
            ctx.set(dut.ends, ends)
            await ctx.tick()
            ctx.set(dut.decide, 0)
            ctx.set(dut.end, ends)
            assert ctx.get(dut.hold)
            # Cycles from the decision: HOLD is the first.
            for cycle in range(1, 20):
                if ctx.get(dut.begin):
                    events[name] = ("begin", cycle)
                    break
                await ctx.tick()
                if ctx.get(dut.sample_read):
                    events[name] = ("sample_read", cycle + 1)
                    await ctx.tick()
                    assert ctx.get(dut.run)
                    ctx.set(dut.rem_last, 1)
                    await ctx.tick()
                    ctx.set(dut.rem_last, 0)
                    assert not ctx.get(dut.run)
                    break
        await ctx.tick()
        assert ctx.get(dut.final)
        ctx.set(dut.done, 1)
        await ctx.tick()
        ctx.set(dut.done, 0)
        assert ctx.get(dut.request.ready)

    run(dut, bench, deadline_cycles=500)
    assert events == {"round 1": ("sample_read", topk_cycles.round_gap(lanes)), "round 2": ("begin", 1)}


@pytest.mark.parametrize("n, k, delay, beats", [(0, 3, topk_cycles.EMPTY_DELAY, 0),
                                                 (101, 2, topk_cycles.DISCARD_DELAY, 26),
                                                 (9, 0, topk_cycles.DISCARD_DELAY, 3)])
def test_control_bad_requests(n, k, delay, beats):
    """n = 0: one empty answer; n > n_max or k = 0: the beats dropped, then the empty answer."""
    g = TopKGeometry(n_max=100, lanes=4, score_bits=8, signed=False)
    dut = TopKControl(geometry=g)

    async def bench(ctx):
        assert await _accept(ctx, dut, n, k) == delay
        ctx.set(dut.scores_valid, 1)
        for _ in range(beats):
            assert ctx.get(dut.discard) and ctx.get(dut.scores_ready) and not ctx.get(dut.take)
            await ctx.tick()
        ctx.set(dut.scores_valid, 0)
        assert ctx.get(dut.empty) and ctx.get(dut.empty_error) == (k != 0)
        ctx.set(dut.result_ready, 1)
        await ctx.tick()
        assert ctx.get(dut.request.ready)

    run(dut, bench, deadline_cycles=500)


def test_control_ordered():
    """With ordered, the final pass waits for final_go (FWAIT)."""
    g = TopKGeometry(n_max=100, lanes=4, score_bits=8, signed=False)
    dut = TopKControl(geometry=g, ordered=True)

    async def bench(ctx):
        await _accept(ctx, dut, 4, 1)
        ctx.set(dut.scores_valid, 1)
        ctx.set(dut.input_last, 1)
        await ctx.tick()
        ctx.set(dut.scores_valid, 0)
        ctx.set(dut.decide, 1)
        ctx.set(dut.ends, 1)
        await ctx.tick()
        ctx.set(dut.decide, 0)
        ctx.set(dut.end, 1)
        for _ in range(5):
            assert not ctx.get(dut.begin)
            await ctx.tick()
            assert not ctx.get(dut.final)
        ctx.set(dut.final_go, 1)
        assert ctx.get(dut.begin)
        await ctx.tick()
        assert ctx.get(dut.final)

    run(dut, bench, deadline_cycles=500)
