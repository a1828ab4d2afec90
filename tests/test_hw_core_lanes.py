# amaranth: UnusedElaboratable=no
"""The head datapath's lane converters (hw/core/lanes.py) in Amaranth's simulator."""

import random

import pytest

from hw.core.lanes import Packer, Serializer
from sim.amaranth_streams import run, stream_get, stream_put
from sim.streams import random_pause

SEED = 19


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_packer_then_serializer_round_trip(lanes):
    """Lists of 1..9 elements packed into beats and serialized again come back whole, ``last`` included."""
    rng = random.Random(SEED + lanes)
    lists = [[rng.randrange(1 << 12) for _ in range(rng.randint(1, 9))] for _ in range(12)]
    packer, serializer = Packer(shape=12, lanes=lanes), Serializer(shape=12, lanes=lanes)
    beats, got = [], []

    async def feed(ctx):
        pause = random_pause(random.Random(SEED), 0.3)
        for values in lists:
            for n, value in enumerate(values):
                last = int(n == len(values) - 1)
                await stream_put(ctx, packer.i, {"value": value, "last": last}, pause=pause)

    async def middle(ctx):
        pause = random_pause(random.Random(SEED + 1), 0.3)
        for _ in lists:
            while True:
                beat = await stream_get(ctx, packer.o, pause=pause)
                beats.append(beat)
                await stream_put(ctx, serializer.i, beat)
                if beat.last:
                    break

    async def drain(ctx):
        pause = random_pause(random.Random(SEED + 2), 0.3)
        for _ in lists:
            out = []
            while True:
                element = await stream_get(ctx, serializer.o, pause=pause)
                assert not element.none
                out.append(element.value)
                if element.last:
                    break
            got.append(out)

    from amaranth.hdl import Module
    top = Module()
    top.submodules.packer, top.submodules.serializer = packer, serializer
    run(top, feed, middle, drain)
    assert got == lists
    assert all(beat.count == lanes for beat in beats if not beat.last)
    assert len(beats) == sum(-(-len(v) // lanes) for v in lists)


def test_serializer_empty_beat():
    """A beat of count 0 gives one element with ``none``, carrying its ``last``."""
    ser = Serializer(shape=8, lanes=2)
    got = []

    async def feed(ctx):
        await stream_put(ctx, ser.i, {"lanes": [5, 6], "count": 2, "last": 0})
        await stream_put(ctx, ser.i, {"lanes": [0, 0], "count": 0, "last": 1})

    async def drain(ctx):
        for _ in range(3):
            e = await stream_get(ctx, ser.o)
            got.append((e.value, e.last, e.none))

    run(ser, feed, drain)
    assert got[:2] == [(5, 0, 0), (6, 0, 0)] and got[2][1:] == (1, 1)


def test_lanes_wrong():
    with pytest.raises(ValueError, match="lanes must be in 1..64, not 0"):
        Packer(shape=8, lanes=0)
    with pytest.raises(ValueError, match="lanes must be in 1..64, not 65"):
        Serializer(shape=8, lanes=65)
