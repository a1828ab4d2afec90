"""Delay lines: the skew in front of a mesh and the deskew behind it."""

from amaranth.hdl import Signal

from ..params import check_int

__all__ = ["delayed"]


def delayed(m, value, cycles, *, name, reset_less=True, domain="sync"):
    """``value`` after ``cycles`` registers (``cycles = 0``: ``value`` itself).

    Data lines need no reset (a valid bit delayed beside them says what they
    hold); a valid bit's line is made with ``reset_less=False``.
    """
    cycles = check_int("cycles", cycles, 0, 4096)
    for i in range(cycles):
        stage = Signal.like(value, name=f"{name}_d{i + 1}", reset_less=reset_less)
        m.d[domain] += stage.eq(value)
        value = stage
    return value
