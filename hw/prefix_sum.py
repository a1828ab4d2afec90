"""Parallel prefix count of a bit vector (Sklansky adder tree)."""

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .params import check_int

__all__ = ["PrefixSum", "popcount", "prefix_counts", "prefix_levels"]


def prefix_levels(width):
    """Adder levels of the tree: ``ceil(log2(width))``."""
    return (width - 1).bit_length()


def prefix_counts(bits, width, start=0, stop=None):
    """Inclusive prefix counts of ``bits[0..width-1]`` as a list of Values.

    Sklansky's tree: ``log2(width)`` levels of adders whose widths grow with the
    level, instead of a ripple chain ``acc + bit`` (which synthesises to a
    ``width``-deep carry chain and caps Fmax near 55 MHz on ECP5 at 16 lanes).
    Levels ``start..stop-1`` only, so that a caller can register the partial
    sums between two halves of the tree: the input is then the partial sums
    after level ``start - 1``.
    """
    sums = [bits[i] for i in range(width)]
    stop = prefix_levels(width) if stop is None else stop
    for level in range(start, stop):
        step = 1 << level
        nxt = list(sums)
        for i in range(width):
            if (i // step) % 2 == 1:
                nxt[i] = sums[i] + sums[(i // step) * step - 1]
        sums = nxt
    return sums


def popcount(values):
    """Sum of ``values`` (bits or counts) as a balanced adder tree."""
    values = list(values)
    if not values:
        raise ValueError("popcount needs at least one value")
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


class PrefixSum(wiring.Component):
    """Combinational inclusive prefix count of ``width`` bits.

    Parameters
    ----------
    width : int
        Number of input bits (1..64).

    Members
    -------
    i : In(width)
        Input bits.
    o : Out(ArrayLayout(range(width + 1), width))
        ``o[l]`` = number of set bits among ``i[0..l]``.
    total : Out(range(width + 1))
        Number of set bits.

    Latency 0 (combinational, ``ceil(log2(width))`` adder levels); the parent
    registers the outputs.
    """

    def __init__(self, *, width):
        width = check_int("width", width, 1, 64)
        self._width = width
        count = unsigned((width).bit_length())
        super().__init__({
            "i": In(width),
            "o": Out(data.ArrayLayout(count, width)),
            "total": Out(count),
        })

    @property
    def width(self):
        return self._width

    @property
    def latency(self):
        return 0

    def elaborate(self, platform):
        m = Module()
        sums = prefix_counts([self.i[l] for l in range(self._width)], self._width)
        for l in range(self._width):
            m.d.comb += self.o[l].eq(sums[l])
        m.d.comb += self.total.eq(sums[-1])
        return m
