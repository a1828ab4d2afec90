"""Comparators shaped for the ECP5 fabric: no LUT after a carry chain, no chain for a constant."""

from amaranth.hdl import Cat, Const, Value

__all__ = ["greater_equal", "greater_than", "greater_than_const", "thermometer"]


def _keys(a, b):
    """``a`` and ``b`` as unsigned values of the same order (sign bit flipped if signed)."""
    a, b = Value.cast(a), Value.cast(b)
    if a.shape() != b.shape():
        raise TypeError(f"compared values must have one shape, not {a.shape()} and {b.shape()}")
    w = len(a)
    if a.shape().signed:
        return Cat(a[:w - 1], ~a[w - 1]), Cat(b[:w - 1], ~b[w - 1])
    return a, b


def _borrow(ka, kb, mask):
    """``ka > kb`` (unsigned keys), and ``mask`` as a top bit: ``Cat(ka, 0) > Cat(kb, ~mask)``."""
    if mask is not None:
        ka, kb = Cat(ka, Const(0, 1)), Cat(kb, ~Value.cast(mask))
    return (kb - ka)[-1]


def greater_than(a, b, *, mask=None):
    """``a > b`` (and ``mask``, if given) as the borrow of one carry chain.

    The borrow of ``b - a``, one bit wider, is the sum output of the chain's
    last cell. A plain ``a > b`` puts a LUT after the chain (Yosys combines
    the subtraction's flags), and ``mask & (a > b)`` another one: each is a
    level and a route on paths that have neither to spare. The mask rides in
    the chain as a top bit: ``Cat(a, 0) > Cat(b, ~mask)``.
    """
    return _borrow(*_keys(a, b), mask)


def greater_equal(a, b, *, mask=None):
    """``a >= b`` (and ``mask``) as one carry chain: ``2a + 1 > 2b``.

    The constant low bits enter the chain as one more cell; ``~a`` in the
    chain (``b + ~a``) was mapped to a LUT in front of it, one more level and
    route.
    """
    ka, kb = _keys(a, b)
    return _borrow(Cat(Const(1, 1), ka), Cat(Const(0, 1), kb), mask)


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
