"""Comparators shaped for the ECP5 fabric: no LUT after a carry chain, no chain for a constant."""

from amaranth.hdl import Cat, Const, Value

__all__ = ["greater_than", "greater_than_const", "thermometer"]


def greater_than(a, b):
    """``a > b`` as the borrow of ``b - a`` one bit wider (both of one shape).

    The borrow is the sum output of the carry chain's last cell. A plain
    ``a > b`` puts a LUT after the chain (Yosys maps the compare to a
    subtraction whose flags are then combined), one more level and one more
    route on paths that have neither to spare.
    """
    return (b - a)[-1]


def greater_than_const(x, c):
    """``x > c`` for an unsigned value ``x`` and a constant ``c >= 0``, as plain logic.

    Yosys maps a compare with a constant to a carry chain too: a chain and the
    LUT after it for what is a function of a few bits. Written as the sum of
    products over the zero bits of ``c`` (``x`` matches ``c`` above bit ``i``,
    has a one where ``c`` has a zero at bit ``i``), it maps to a LUT tree.
    """
    x = Value.cast(x)
    if c < 0:
        raise ValueError(f"c must be >= 0, not {c}")
    if c >> len(x):
        return Const(0, 1)
    terms, above = [], Const(1, 1)
    for i in reversed(range(len(x))):
        if (c >> i) & 1:
            above = above & x[i]
        else:
            terms.append(above & x[i])
            above = above & ~x[i]
    return Cat(*terms).any() if terms else Const(0, 1)


def thermometer(x, lanes, offset=0):
    """``Cat(x > offset, x > offset + 1, ..., x > offset + lanes - 1)``: the lanes a count fills."""
    return Cat(*[greater_than_const(x, offset + l) for l in range(lanes)])
