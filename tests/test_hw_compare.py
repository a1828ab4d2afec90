"""hw.compare: the fabric-shaped comparators equal the plain ones, exhaustively on small widths."""

import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from hw.compare import greater_equal, greater_than, greater_than_const, thermometer


def _simulate(width, build, check):
    """Drive every value pair of two ``width``-bit inputs through ``build(a, b)`` outputs."""
    m = Module()
    a, b = Signal(width[0]), Signal(width[1])
    outputs = build(m, a, b)
    sim = Simulator(m)

    async def bench(ctx):
        for x in range(1 << a.shape().width):
            for y in range(1 << b.shape().width):
                ctx.set(a, x)
                ctx.set(b, y)
                check(a.shape(), ctx.get(a), ctx.get(b), [ctx.get(o) for o in outputs])

    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("shape", [4, signed(4)], ids=["unsigned", "signed"])
def test_greater_than_and_equal(shape):
    counted = []

    def build(m, a, b):
        outs = [Signal(name=f"o{i}") for i in range(6)]
        m.d.comb += [outs[0].eq(greater_than(a, b)), outs[1].eq(greater_equal(a, b)),
                     outs[2].eq(greater_than(a, b, mask=1)), outs[3].eq(greater_equal(a, b, mask=1)),
                     outs[4].eq(greater_than(a, b, mask=0)), outs[5].eq(greater_equal(a, b, mask=0))]
        return outs

    def check(_, x, y, outs):
        assert outs == [x > y, x >= y, x > y, x >= y, 0, 0], (x, y, outs)
        counted.append(outs[0] + outs[1])

    _simulate((shape, shape), build, check)
    # Every pair was checked, and both compares fired where they should.
    assert sum(counted) == sum((x > y) + (x >= y) for x in range(16) for y in range(16))


def test_compare_shapes_must_match():
    with pytest.raises(TypeError, match="one shape"):
        greater_than(Signal(4), Signal(5))


def test_greater_than_const_and_thermometer():
    consts = list(range(0, 66))     # up to past the 6-bit range: constant 0 output

    def build(m, a, _):
        outs = [Signal(name=f"gt{c}") for c in consts]
        m.d.comb += [o.eq(greater_than_const(a, c)) for o, c in zip(outs, consts, strict=True)]
        th = Signal(8)
        m.d.comb += th.eq(thermometer(a, 8, 8))
        return [*outs, th]

    def check(_, x, __, outs):
        assert outs[:-1] == [int(x > c) for c in consts], x
        assert outs[-1] == sum(1 << l for l in range(8) if x > 8 + l), x

    _simulate((6, 1), build, check)


def test_greater_than_const_rejects_negative():
    with pytest.raises(ValueError, match="c must be >= 0"):
        greater_than_const(Signal(4), -1)
