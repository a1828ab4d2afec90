# amaranth: UnusedElaboratable=no
"""The softmax unit's parameters, buffer sizes and latency (no simulation), and its credit counter."""

import pytest

from hw.softmax.credits import Credits
from hw.softmax.exp_stage import ExpStage
from hw.softmax.ingest import RowIngest
from hw.softmax.norm_stage import NormStage
from hw.softmax.reciprocal import Reciprocal
from hw.softmax.softmax import Softmax
from sim.amaranth_streams import run


def test_softmax_wrong():
    with pytest.raises(ValueError, match="lanes must be a power of two in 1..64, not 3"):
        Softmax(lanes=3, n_max=64, index_bits=6)
    with pytest.raises(ValueError, match="n_max must be in 1..65536, not 0"):
        Softmax(lanes=2, n_max=0, index_bits=6)
    with pytest.raises(ValueError, match="index_bits must be in 1..16, not 17"):
        Softmax(lanes=2, n_max=64, index_bits=17)
    with pytest.raises(TypeError, match="lanes must be an integer, not 2.0"):
        Softmax(lanes=2.0, n_max=64, index_bits=6)


def test_stages_wrong():
    with pytest.raises(ValueError, match="buffer_depth must be in 2..65536, not 1"):
        RowIngest(lanes=2, n_max=8, index_bits=3, buffer_depth=1, head_depth=4)
    with pytest.raises(ValueError, match="read_latency must be in 1..4, not 0"):
        ExpStage(lanes=2, n_max=8, index_bits=3, beats_cap=5, buffer_depth=8, exp_depth=8,
                 recip_depth=4, read_latency=0)
    with pytest.raises(ValueError, match="out_depth must be a power of two in 4..1024, not 6"):
        NormStage(lanes=2, n_max=8, index_bits=3, beats_cap=5, exp_depth=8, out_depth=6,
                  summary_depth=4, read_latency=2)
    with pytest.raises(ValueError, match="gives must be in 1..4, not 5"):
        Credits(depth=4, gives=5)


@pytest.mark.parametrize("lanes, n_max", [(1, 40), (2, 64), (2, 512), (8, 100), (8, 1024)])
def test_buffers_hold_a_full_row_and_the_beats_in_flight(lanes, n_max):
    unit = Softmax(lanes=lanes, n_max=n_max, index_bits=10)
    assert unit.beats_cap == -(-n_max // lanes) + 1
    assert unit.buffer_depth >= unit.beats_cap + Softmax.BUFFER_SLACK
    assert unit.exp_depth >= unit.beats_cap + Softmax.EXP_SLACK
    # A row of b beats: its exp sum leaves pass 2 ExpStage.latency after its last read; the
    # exp buffer must hold that row and the beats of the next ones written meanwhile.
    assert Softmax.EXP_SLACK > ExpStage.latency_of(lanes, unit.read_latency) + Reciprocal.latency_of() + 8


def test_latency_is_the_sum_of_the_stages():
    unit = Softmax(lanes=2, n_max=64, index_bits=6)
    assert unit.latency(1) == unit.latency_constant
    assert unit.latency(5) == unit.latency_constant + 8
    assert unit.latency_constant == (RowIngest.latency_of(2) + 2 + 1 + ExpStage.latency_of(2, 2)
                                     + Reciprocal.latency_of() + 3 + 2 + 1 + NormStage.latency_of(2))


def test_credits_count():
    dut = Credits(depth=3, gives=2)

    async def bench(ctx):
        assert ctx.get(dut.available)
        for _ in range(3):
            ctx.set(dut.take, 1)
            await ctx.tick()
        ctx.set(dut.take, 0)
        assert not ctx.get(dut.available)
        ctx.set(dut.give, 0b11)
        await ctx.tick()
        ctx.set(dut.give, 0)
        assert not ctx.get(dut.available)      # a give is registered before it counts
        await ctx.tick()
        assert ctx.get(dut.available)
        ctx.set(dut.take, 1)
        await ctx.tick()
        await ctx.tick()
        ctx.set(dut.take, 0)
        assert not ctx.get(dut.available)

    run(dut, bench, deadline_cycles=1_000_000)
