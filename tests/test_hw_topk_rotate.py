"""hw.topk.rotate in Amaranth's simulator: lane j of the result is lanes[(j - a) % P]."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module, Signal

from hw.topk.rotate import rotate, rotate_layers
from sim.amaranth_streams import run

SEED = 20261203


class _Rotation(Elaboratable):
    def __init__(self, P):
        self.lanes = [Signal(8, name=f"lane{j}") for j in range(P)]
        self.amount = Signal(range(P))
        self.out = None
        self.P = P

    def elaborate(self, platform):
        m = Module()
        # One copy of the amount per column, as the part writer drives it.
        self.out = rotate(m, self.lanes, [self.amount] * self.P, "rot")
        outs = [Signal(8, name=f"out{j}") for j in range(self.P)]
        m.d.comb += [o.eq(v) for o, v in zip(outs, self.out, strict=True)]
        self.outs = outs
        return m


@pytest.mark.parametrize("P", [2, 4, 8, 16, 32])
def test_rotate(P):
    assert rotate_layers(P) == -(-(P.bit_length() - 1) // 2)
    rng = random.Random(SEED + P)
    dut = _Rotation(P)
    m = Module()
    m.submodules.rotation = dut
    delay = rotate_layers(P) - 1
    beats = [([rng.randint(0, 255) for _ in range(P)], rng.randrange(P)) for _ in range(12)]
    got = []

    async def bench(ctx):
        for cycle in range(len(beats) + delay):
            if cycle < len(beats):
                values, amount = beats[cycle]
                for lane, value in zip(dut.lanes, values, strict=True):
                    ctx.set(lane, value)
                ctx.set(dut.amount, amount)
            if cycle >= delay:
                got.append([ctx.get(o) for o in dut.outs])
            await ctx.tick()

    run(m, bench, deadline_cycles=1000)
    want = [[values[(j - amount) % P] for j in range(P)] for values, amount in beats]
    assert got == want, f"seed={SEED + P} P={P}"
