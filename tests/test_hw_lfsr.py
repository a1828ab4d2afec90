# amaranth: UnusedElaboratable=no
"""Lfsr against its golden twin (golden.topk_cycles.lfsr_step)."""

import pytest

from golden.topk_cycles import lfsr_seeds, lfsr_step
from hw.lfsr import Lfsr
from sim.amaranth_streams import run


def test_lfsr_steps_reload():
    dut = Lfsr(seed=0xACE1)
    pattern = [1, 1, 0, 1, 1, 1, 0, 0, 1] * 4

    async def bench(ctx):
        state = 0xACE1
        for number, step in enumerate(pattern):
            assert ctx.get(dut.value) == state, f"cycle {number}"
            reload = number == 20
            ctx.set(dut.step, step)
            ctx.set(dut.reload, reload)
            await ctx.tick()
            state = 0xACE1 if reload else lfsr_step(state) if step else state

    run(dut, bench, deadline_cycles=1_000_000)


def test_lfsr_period_and_seeds():
    state, period = 1, 0
    while True:
        state, period = lfsr_step(state), period + 1
        if state == 1:
            break
    assert period == 65535
    seeds = lfsr_seeds(1, 16)
    assert len(set(seeds)) == 16 and all(1 <= s <= 0xFFFF for s in seeds)


@pytest.mark.parametrize("seed, error, message", [
    (0, ValueError, r"seed must be in 1\.\.65535, not 0"),
    (1 << 16, ValueError, r"seed must be in 1\.\.65535, not 65536"),
    (True, TypeError, "seed must be an integer, not True"),
])
def test_lfsr_wrong(seed, error, message):
    with pytest.raises(error, match=message):
        Lfsr(seed=seed)
