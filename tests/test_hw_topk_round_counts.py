# amaranth: UnusedElaboratable=no
"""hw.topk.round_counts in Amaranth's simulator: running differences, decide and first-beat copies."""

import random

import pytest

from hw.topk.geometry import TopKGeometry
from hw.topk.round_compare import CLASSES
from hw.topk.round_counts import RoundCounts
from sim.amaranth_streams import run

SEED = 20261206


@pytest.mark.parametrize("lanes", [4, 8])
def test_round_counts(lanes):
    g = TopKGeometry(n_max=200, lanes=lanes, score_bits=8, signed=False)
    dut = RoundCounts(geometry=g)
    early = dut.latency - 1     # the zero eliminator's early count, as part L's writer gives it
    rng = random.Random(SEED + lanes)
    rounds = []
    for _ in range(4):
        beats = []
        for _ in range(rng.randint(1, 6)):
            ge_lo = rng.randrange(1 << lanes)
            gt_lo = ge_lo & rng.randrange(1 << lanes)
            ge_hi = gt_lo & rng.randrange(1 << lanes)
            gt_hi = ge_hi & rng.randrange(1 << lanes)
            beats.append({"gt_hi": gt_hi, "ge_hi": ge_hi, "gt_lo": gt_lo, "ge_lo": ge_lo})
        rounds.append((rng.randint(1, 100), beats))
    schedule = []               # per cycle: the beat (or None), its round's k, first, last
    for k, beats in rounds:
        for i, beat in enumerate(beats):
            schedule.append((beat, k, i == 0, i == len(beats) - 1))
            if rng.random() < 0.3:
                schedule.append((None, k, False, False))
        schedule += [(None, k, False, False)] * (dut.latency + 1)
    decisions, firsts = [], []

    async def bench(ctx):
        for cycle in range(len(schedule) + early):
            if cycle < len(schedule):
                beat, k, first, last = schedule[cycle]
                ctx.set(dut.parts.valid, beat is not None)
                ctx.set(dut.parts.first, first)
                ctx.set(dut.parts.last, last)
                for c in CLASSES:
                    ctx.set(getattr(dut.parts, c), beat[c] if beat else 0)
                ctx.set(dut.k, k)
                ctx.set(dut.km1, k - 1)
            if cycle >= early:
                beat = schedule[cycle - early][0]
                ctx.set(dut.count_valid, beat is not None)
                ctx.set(dut.count_gt_hi, bin(beat["gt_hi"]).count("1") if beat else 0)
            await ctx.tick()
            firsts.append(ctx.get(dut.first_L) | ctx.get(dut.first_M) << 8 | ctx.get(dut.first_R) << 16)
            # Sampled after the edge: the value of cycle `cycle + 1`.
            if ctx.get(dut.decide):
                decisions.append((cycle, {c: ctx.get(getattr(dut, f"run_{c}")) for c in CLASSES},
                                  ctx.get(dut.k_ge_hi), ctx.get(dut.k_ge_lo)))

    run(dut, bench, deadline_cycles=2000)
    last_cycles = [cycle for cycle, (_, _, _, last) in enumerate(schedule) if last]
    decided = [cycle for cycle, *_ in decisions]
    assert decided == [c + dut.latency - 1 for c in last_cycles], f"seed={SEED + lanes}"
    for (k, beats), (_, run_values, k_ge_hi, k_ge_lo) in zip(rounds, decisions, strict=True):
        count = {c: sum(bin(b[c]).count("1") for b in beats) for c in CLASSES}
        assert run_values == {c: k - 1 - count[c] for c in CLASSES}, f"seed={SEED + lanes}"
        assert (k_ge_hi, k_ge_lo) == (k - count["ge_hi"], k - count["ge_lo"]), f"seed={SEED + lanes}"
    # Every first-beat copy rises with the first beat's early count.
    all_ones = (1 << g.broadcast_copies) - 1
    first_cycles = [cycle for cycle, (_, _, first, _) in enumerate(schedule) if first]
    assert [c for c, f in enumerate(firsts) if f] == [c + early - 1 for c in first_cycles]
    assert all(f in (0, all_ones | all_ones << 8 | all_ones << 16) for f in firsts)
