"""hw.compare: the fabric-shaped comparators equal the plain ones, exhaustively on small widths."""

import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from hw.compare import greater_than, greater_than_const, thermometer


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
def test_greater_than(shape):
    checked = []

    def build(m, a, b):
        out = Signal()
        m.d.comb += out.eq(greater_than(a, b))
        return [out]

    def check(_, x, y, outs):
        assert outs[0] == (x > y), (x, y)
        checked.append(outs[0])

    _simulate((shape, shape), build, check)
    assert sum(checked) == sum(1 for x in range(16) for y in range(16) if x > y)


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
