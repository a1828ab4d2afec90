"""Parallel prefix count of a bit vector (Sklansky adder tree)."""

from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .params import check_int

__all__ = ["PrefixSum", "block_prefix_counts", "lut_count", "popcount", "prefix_counts", "prefix_levels",
           "staged_block_counts"]


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


def lut_count(bits, *, m=None, name="pair"):
    """Popcount of up to 8 bits as plain logic, without adders.

    A count per group of 4 bits (each output bit one LUT4 of the group),
    then each bit of the sum of the two counts (0..4 each) as a function of
    at most 6 bits: one LUT level for up to 4 bits, two or three for 8 on
    ECP5 (as mapped in the top-k engine). The structure is fixed here rather
    than left to Yosys's arithmetic passes; a 16-lane zero eliminator alone
    measured about the same Fmax either way (232 vs 228 MHz).

    With a module ``m``, the pair terms (XOR and AND of two bits) are kept
    wires driven in ``m``: when each bit is itself a gate of two registers
    (a compare's classes), the LUT mapper otherwise folds those gates into a
    ripple three or four LUTs deep; kept, a count of 4 such bits is two LUT
    levels.
    """
    bits = list(bits)
    if not 1 <= len(bits) <= 8:
        raise ValueError(f"lut_count takes 1..8 bits, not {len(bits)}")
    groups = []
    for g in range(0, len(bits), 4):
        a, b, c, d = (bits[g:g + 4] + [Const(0, 1)] * 4)[:4]
        x, y, p, r = a ^ b, c ^ d, a & b, c & d
        if m is not None:
            terms = []
            for t, v in zip("xypr", (x, y, p, r), strict=True):
                w = Signal(name=f"{name}_{t}{g // 4}", attrs={"keep": 1})
                m.d.comb += w.eq(v)
                terms.append(w)
            x, y, p, r = terms
        groups.append(Cat(x ^ y, p ^ r ^ (x & y), p & r))
    if len(groups) == 1:
        return groups[0]
    x, y = groups
    c1 = x[0] & y[0]
    c2 = (x[1] & y[1]) | (c1 & (x[1] ^ y[1]))
    # A count of 4 has its low bits clear, so bit 2 never carries.
    return Cat(x[0] ^ y[0], x[1] ^ y[1] ^ c1, x[2] ^ y[2] ^ c2, x[2] & y[2])


def block_prefix_counts(bits, width, block, *, m=None, name="bpc"):
    """Inclusive prefix counts of ``bits[0..width-1]`` within blocks of ``block`` lanes.

    Lane ``l`` counts the set bits from the start of its block up to ``l``,
    each with :func:`lut_count` (``block`` at most 8): the values of levels
    ``0..log2(block)-1`` of :func:`prefix_counts`, so that a caller can
    register them and add the block offsets with ``prefix_counts(...,
    start=log2(block))``. ``m`` keeps the pair terms (:func:`lut_count`).
    """
    if not (1 <= block <= 8 and block & (block - 1) == 0 and width % block == 0):
        raise ValueError(f"block must be a power of two in 1..8 dividing width {width}, not {block}")
    return [lut_count([bits[i] for i in range(l - l % block, l + 1)], m=m, name=f"{name}{l}")
            for l in range(width)]


def staged_block_counts(m, part_bits, total_bits, width, block, *, name, en=1, kept_pairs=False):
    """Prefix counts within blocks of ``block`` lanes and block totals, registered in two stages.

    Stage 1 counts within blocks of 4 lanes (:func:`block_prefix_counts`:
    each output bit one LUT4 of the lane bits), stage 2 within blocks of
    ``block`` (up to 8: one add of two 3-bit counts per lane). Returns
    ``(parts, totals)``: ``parts[l]`` counts ``part_bits`` from the start of
    lane ``l``'s block up to ``l``, ``totals[b]`` the ``total_bits`` of block
    ``b``, both two cycles after the bits (registers advance when ``en``).
    Counting 8 lanes in one stage put three LUT levels after the long route
    that brings the bits (a compare), the slowest path of the top-k engine.
    ``kept_pairs`` keeps stage 1's pair terms (:func:`lut_count`), for bits
    that are gates rather than registers. The registers have no reset: the
    caller's valid qualifies them.
    """
    quad = min(4, block)
    per = block // quad
    # Counts of bits whose beat carries its own valid: no reset.
    def counts(limit, number, suffix):
        return [Signal(range(limit + 1), name=f"{name}_{suffix}{i}", reset_less=True) for i in range(number)]
    q_part, q_total = counts(quad, width, "qpart"), counts(quad, width // quad, "qtotal")
    parts, totals = counts(block, width, "part"), counts(block, width // block, "total")
    with m.If(en):
        km = m if kept_pairs else None
        quads = block_prefix_counts(part_bits, width, quad, m=km, name=f"{name}_pp")
        m.d.sync += [r.eq(v) for r, v in zip(q_part, quads, strict=True)]
        m.d.sync += [t.eq(lut_count([total_bits[i] for i in range(b * quad, (b + 1) * quad)],
                                    m=km, name=f"{name}_tp{b}"))
                     for b, t in enumerate(q_total)]
        levels = prefix_counts(q_part, width, quad.bit_length() - 1, block.bit_length() - 1)
        m.d.sync += [r.eq(v) for r, v in zip(parts, levels, strict=True)]
        m.d.sync += [t.eq(popcount(q_total[b * per:(b + 1) * per])) for b, t in enumerate(totals)]
    return parts, totals


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
