# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the softmax datapath units against golden/softmax.py, bit for bit."""

import random

import numpy as np
import pytest

from golden.softmax import SOFTMAX, exp_fx, normalize, reciprocal, softmax_widths
from hw.softmax.exp_unit import ExpUnit
from hw.softmax.normalizer import MaxProbability, Normalizer
from hw.softmax.reciprocal import Reciprocal
from sim.amaranth_streams import run

SEED = 1515


def _stream(dut, inputs, outputs, latency, values):
    """Drive ``inputs`` (name -> list) one per cycle; return ``outputs`` read ``latency`` cycles later."""
    count = len(next(iter(values.values())))
    got = {name: [] for name in outputs}

    async def bench(ctx):
        for cycle in range(count + latency):
            if cycle < count:
                for name in inputs:
                    ctx.set(getattr(dut, name), values[name][cycle])
            if cycle >= latency:
                for name in outputs:
                    got[name].append(ctx.get(getattr(dut, name)))
            await ctx.tick()

    run(dut, bench, deadline_cycles=1_000_000)
    return got


def test_exp_unit_every_difference():
    """Every d = s - max from 0 down past the clamp (-4096 - 64), then random extremes, and invalid lanes."""
    rng = random.Random(SEED)
    lo, hi = SOFTMAX.score.min_int, SOFTMAX.score.max_int
    pairs = [(0, -u) for u in range(0, 4096 + 64)]
    pairs += [(m, m - rng.randint(0, m - lo)) for m in (rng.randint(lo, hi) for _ in range(300))]
    pairs += [(hi, lo), (lo, lo), (hi, hi)]
    valid = [1] * len(pairs) + [0] * 20
    pairs += [(0, -rng.randint(0, 100)) for _ in range(20)]
    dut = ExpUnit()
    got = _stream(dut, ["row_max", "score", "valid"], ["exp", "exp_norm"], dut.latency,
                  {"row_max": [p[0] for p in pairs], "score": [p[1] for p in pairs], "valid": valid})
    d = np.array([s - m for m, s in pairs], dtype=np.int64)
    want = np.where(np.array(valid, bool), exp_fx(d), 0)
    shift = SOFTMAX.exp_frac - SOFTMAX.norm_frac
    want_norm = (want + (1 << (shift - 1))) >> shift
    bad = [i for i in range(len(pairs)) if got["exp"][i] != want[i] or got["exp_norm"][i] != want_norm[i]]
    assert not bad, (f"seed={SEED}: {len(bad)} mismatches, first at {pairs[bad[0]]} valid={valid[bad[0]]}: "
                     f"got {got['exp'][bad[0]]}/{got['exp_norm'][bad[0]]}, "
                     f"expected {want[bad[0]]}/{want_norm[bad[0]]}")


@pytest.mark.parametrize("n_max", [1, 64, 512, 1024])
def test_reciprocal_random_sums(n_max):
    rng = random.Random(SEED + n_max)
    bits = softmax_widths(n_max)["sum_bits"]
    one = 1 << SOFTMAX.exp_frac
    top = n_max * one
    totals = [one, top, one + 1, 2 * one - 1, 2 * one, min(top, 2 * one + 1)]
    totals += [rng.randint(one, top) for _ in range(400)]
    totals += [1 << rng.randint(SOFTMAX.exp_frac, bits - 1) for _ in range(20) if n_max > 1]
    totals = [t for t in totals if t < 1 << bits]
    dut = Reciprocal(sum_bits=bits, tag_width=8)
    tags = [rng.randint(0, 255) for _ in totals]
    got = _stream(dut, ["i_total", "i_tag", "i_valid"], ["o_recip", "o_z_excess", "o_tag", "o_valid"],
                  dut.latency, {"i_total": totals, "i_tag": tags, "i_valid": [1] * len(totals)})
    recip, z = reciprocal(np.array(totals))
    for i, total in enumerate(totals):
        assert (got["o_recip"][i], got["o_z_excess"][i] + SOFTMAX.exp_frac, got["o_tag"][i]) == \
            (recip[i], z[i], tags[i]), f"seed={SEED + n_max} S={total}"
    assert all(got["o_valid"])


def test_normalizer_random():
    rng = random.Random(SEED + 1)
    z_values = 11
    rows = []
    for _ in range(500):
        total = rng.randint(1 << 22, (1 << (22 + z_values)) - 1)
        recip, z = (int(v[0]) for v in reciprocal(np.array([total])))
        e = rng.choice((1 << 22, rng.randint(0, 1 << 22), rng.randint(0, 64)))
        rows.append((e, recip, z))
    rows.append((1 << 22, 1 << 17, 22))
    shift = SOFTMAX.exp_frac - SOFTMAX.norm_frac
    dut = Normalizer(z_values=z_values)
    got = _stream(dut, ["exp_norm", "recip", "z_excess"], ["prob"], dut.latency,
                  {"exp_norm": [(e + (1 << (shift - 1))) >> shift for e, _, _ in rows],
                   "recip": [r for _, r, _ in rows], "z_excess": [z - 22 for _, _, z in rows]})
    for i, (e, recip, z) in enumerate(rows):
        want = int(normalize(np.array([e]), recip, z)[0])
        assert got["prob"][i] == want, f"seed={SEED + 1} e={e} R={recip} z={z}: {got['prob'][i]} != {want}"


def test_max_probability_is_normalize_of_one():
    rng = random.Random(SEED + 2)
    rows = []
    for _ in range(200):
        total = rng.randint(1 << 22, (1 << 32) - 1)
        recip, z = (int(v[0]) for v in reciprocal(np.array([total])))
        rows.append((recip, z, int(rng.random() < 0.1)))
    rows.append((1 << 17, 22, 0))
    dut = MaxProbability(z_values=10)
    got = _stream(dut, ["recip", "z_excess", "empty"], ["max_prob"], dut.latency,
                  {"recip": [r for r, _, _ in rows], "z_excess": [z - 22 for _, z, _ in rows],
                   "empty": [e for _, _, e in rows]})
    for i, (recip, z, empty) in enumerate(rows):
        want = 0 if empty else int(normalize(np.array([1 << 22]), recip, z)[0])
        assert got["max_prob"][i] == want, f"seed={SEED + 2} R={recip} z={z} empty={empty}"
    assert got["max_prob"][-1] == 1 << 15


def test_reciprocal_wrong():
    with pytest.raises(ValueError, match="sum_bits must be in 23..40, not 22"):
        Reciprocal(sum_bits=22, tag_width=1)
    with pytest.raises(ValueError, match="tag_width must be in 1..256, not 0"):
        Reciprocal(sum_bits=30, tag_width=0)


def test_normalizer_wrong():
    with pytest.raises(ValueError, match="z_values must be in 1..32, not 0"):
        Normalizer(z_values=0)
