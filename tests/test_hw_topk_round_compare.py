# amaranth: UnusedElaboratable=no
"""hw.topk.round_compare in Amaranth's simulator: classes and parts of each beat, ``latency`` cycles later."""

import random

import pytest

from hw.topk.geometry import TopKGeometry
from hw.topk.round_compare import RoundCompare
from sim.amaranth_streams import run

SEED = 20261205


@pytest.mark.parametrize("lanes, bits, signed", [(4, 6, False), (8, 5, True), (2, 3, False)])
def test_round_compare(lanes, bits, signed):
    g = TopKGeometry(n_max=64, lanes=lanes, score_bits=bits, signed=signed)
    dut = RoundCompare(geometry=g)
    assert dut.latency == 2
    lo, hi = (-(1 << bits - 1), (1 << bits - 1) - 1) if signed else (0, (1 << bits) - 1)
    rng = random.Random(SEED + lanes)
    beats = []
    for _ in range(60):
        pivot_lo = rng.randint(lo, hi)
        beats.append({"valid": rng.random() < 0.8, "first": rng.random() < 0.2, "last": rng.random() < 0.2,
                      "mask": rng.randrange(1 << lanes), "data": [rng.randint(lo, hi) for _ in range(lanes)],
                      "hi": rng.randint(pivot_lo, hi), "lo": pivot_lo})
    got = []

    async def bench(ctx):
        for cycle in range(len(beats) + dut.latency):
            if cycle < len(beats):
                beat = beats[cycle]
                for name in ("valid", "first", "last", "mask"):
                    ctx.set(getattr(dut.beat, name), beat[name])
                for lane, value in enumerate(beat["data"]):
                    ctx.set(dut.beat.data[lane], value)
                    ctx.set(dut.beat.data_lo[lane], value)
                # The pivots hold while the beat is compared (set a cycle ahead in the engine).
                for copy in range(g.pivot_copies):
                    ctx.set(dut.pivot_hi[copy], beat["hi"])
                    ctx.set(dut.pivot_lo[copy], beat["lo"])
            await ctx.tick()
            if cycle + 1 >= dut.latency:
                parts = dut.parts
                got.append({name: ctx.get(getattr(parts, name)) for name in
                            ("valid", "first", "last", "gt_hi", "ge_hi", "gt_lo", "ge_lo",
                             "keep_L", "keep_M", "keep_R")})

    run(dut, bench, deadline_cycles=1000)

    def bits_of(beat, low, high):
        """The lanes of ``beat`` with ``low < x < high`` (None: unbounded)."""
        return sum(1 << lane for lane, x in enumerate(beat["data"]) if beat["mask"] >> lane & 1
                   and (low is None or x > low) and (high is None or x < high))

    for number, beat in enumerate(beats):
        hi, lo = beat["hi"], beat["lo"]
        want = {"valid": beat["valid"], "first": beat["first"], "last": beat["last"],
                "gt_hi": bits_of(beat, hi, None), "ge_hi": bits_of(beat, hi - 1, None),
                "gt_lo": bits_of(beat, lo, None), "ge_lo": bits_of(beat, lo - 1, None),
                "keep_L": bits_of(beat, hi, None), "keep_M": bits_of(beat, lo, hi),
                "keep_R": bits_of(beat, None, lo)}
        assert got[number] == want, f"seed={SEED + lanes} beat {number} {beat}"


def test_round_compare_wrong():
    with pytest.raises(TypeError, match="geometry must be a TopKGeometry, not None"):
        RoundCompare(geometry=None)
