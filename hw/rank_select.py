"""Pick the sample element of a given rank: the pivot of a quick-select round."""

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .params import check_pow2

__all__ = ["RankSelect"]


class RankSelect(wiring.Component):
    """Return the sample element whose descending rank is ``target``.

    Every pair of the ``sample`` lanes is compared (``sample * (sample - 1) / 2``
    comparators), each lane's rank is the count of lanes ranked above it
    (greater, or equal and in a lower lane: a total order, so every rank
    ``0..count-1`` belongs to exactly one valid lane), and the lane whose rank
    equals ``target`` is selected with a one-hot OR.

    The comparators work on keys ``Cat(value, valid)`` (sign bit flipped for
    signed shapes): a masked lane is below every valid lane, so no mask gate
    sits between a comparator and the count. Each comparator output feeds a
    4-input popcount in one LUT level (registered), and the group counts are
    added in the next cycle.

    Parameters
    ----------
    sample : int
        Number of sample lanes (power of two in 2..16).
    shape : ShapeLike
        Element shape (signed or unsigned).

    Members
    -------
    i_valid, i_data, i_mask : In
        Sample beat; ``i_mask`` marks the valid lanes.
    target : In(range(sample))
        Wanted rank, read 2 cycles after ``i_valid`` (it may arrive late).
    o_valid, o_value : Out
        Selected element (``target`` must be ``< popcount(i_mask)``);
        ``o_value`` holds until the next sample is selected.

    Latency :attr:`latency` = 3 cycles (comparators with group popcounts,
    rank sums, select), throughput one sample per cycle.
    """

    def __init__(self, *, sample, shape):
        sample = check_pow2("sample", sample, 2, 16)
        self._sample = sample
        self._shape = shape
        super().__init__({
            "i_valid": In(1),
            "i_data": In(data.ArrayLayout(shape, sample)),
            "i_mask": In(sample),
            "target": In(range(sample)),
            "o_valid": Out(1),
            "o_value": Out(shape),
        })

    @property
    def latency(self):
        return 3

    def elaborate(self, platform):
        m = Module()
        S = self._sample
        shape = Shape.cast(self._shape)
        w = shape.width
        keys = []
        for i in range(S):
            u = Value.cast(self.i_data[i]).as_unsigned()
            if shape.signed:
                u = Cat(u[:w - 1], ~u[w - 1])
            keys.append(Cat(u, self.i_mask[i]))

        # above(j, i): lane j is ranked above lane i (for j < i: key[j] >=
        # key[i]; for j > i: key[j] > key[i]); one comparator per pair.
        ge = {}
        for i in range(S):
            for j in range(i):
                ge[j, i] = Signal(name=f"ge{j}_{i}")
                m.d.comb += ge[j, i].eq(keys[j] >= keys[i])

        def above(j, i):
            if j == i:
                return Const(0, 1)
            return ge[j, i] if j < i else ~ge[i, j]

        # Stage 1: 4-lane popcounts as explicit Boolean functions (one LUT4
        # per bit after the comparator's carry chain, not an adder chain).
        G = min(4, S)
        r1_valid = Signal()
        r1_data = Signal(data.ArrayLayout(self._shape, S))
        r1_mask = Signal(S)
        m.d.sync += [r1_valid.eq(self.i_valid), r1_data.eq(self.i_data), r1_mask.eq(self.i_mask)]
        groups = []
        for i in range(S):
            row = []
            for q in range(S // G):
                bits = [above(q * G + t, i) for t in range(G)]
                cnt = Signal(range(G + 1), name=f"grp{i}_{q}")
                if G == 4:
                    a, b, c, d = bits
                    x, y, p, r = a ^ b, c ^ d, a & b, c & d
                    m.d.sync += cnt.eq(Cat(x ^ y, p ^ r ^ (x & y), p & r))
                else:
                    a, b = bits
                    m.d.sync += cnt.eq(Cat(a ^ b, a & b))
                row.append(cnt)
            groups.append(row)

        # Stage 2: the rank of each lane, the sum of its group counts.
        r2_valid = Signal()
        r2_data = Signal(data.ArrayLayout(self._shape, S))
        r2_mask = Signal(S)
        # A rank counts the other lanes: at most S - 1, log2(S) bits (a
        # narrower compare with the target in the select stage).
        ranks = [Signal(range(S), name=f"rank{i}") for i in range(S)]
        m.d.sync += [r2_valid.eq(r1_valid), r2_data.eq(r1_data), r2_mask.eq(r1_mask)]
        for i in range(S):
            total = groups[i]
            while len(total) > 1:
                total = [total[t] + total[t + 1] for t in range(0, len(total), 2)]
            m.d.sync += ranks[i].eq(total[0])

        width = len(Value.cast(r2_data[0]))
        picked = Const(0, width)
        for i in range(S):
            hit = r2_mask[i] & (ranks[i] == self.target)
            picked = picked | Mux(hit, Value.cast(r2_data[i]).as_unsigned(), 0)
        # The value is held between samples: it is the pivot for a whole round.
        m.d.sync += self.o_valid.eq(r2_valid)
        with m.If(r2_valid):
            m.d.sync += self.o_value.eq(picked)
        return m
