"""Pick the sample element of a given rank: the pivot of a quick-select round."""

import operator

from amaranth.hdl import Const, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .prefix_sum import prefix_counts, prefix_levels

__all__ = ["RankSelect"]


class RankSelect(wiring.Component):
    """Return the sample element whose descending rank is ``target``.

    Every pair of the ``sample`` lanes is compared (``sample * (sample - 1) / 2``
    comparators), each lane's rank is the count of lanes ranked above it
    (greater, or equal and in a lower lane: a total order, so every rank
    ``0..count-1`` belongs to exactly one valid lane), and the lane whose rank
    equals ``target`` is selected with a one-hot OR.

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
        Wanted rank, read 3 cycles after ``i_valid`` (it may arrive late).
    o_valid, o_value : Out
        Selected element (``target`` must be ``< popcount(i_mask)``);
        ``o_value`` holds until the next sample is selected.

    Latency :attr:`latency` = 4 cycles (comparators, rank count in two
    halves, select), throughput one sample per cycle.
    """

    def __init__(self, *, sample, shape):
        sample = operator.index(sample)
        if sample < 2 or sample > 16 or sample & (sample - 1):
            raise ValueError(f"sample must be a power of two in 2..16, not {sample!r}")
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
        return 4

    def elaborate(self, platform):
        m = Module()
        S = self._sample
        r1_valid = Signal()
        r1_data = Signal(data.ArrayLayout(self._shape, S))
        r1_mask = Signal(S)
        above = [Signal(S, name=f"above{i}") for i in range(S)]
        m.d.sync += [r1_valid.eq(self.i_valid), r1_data.eq(self.i_data), r1_mask.eq(self.i_mask)]
        # One comparator per pair: for j < i lane j is above lane i iff
        # data[j] >= data[i]; lane i is above lane j iff not.
        for i in range(S):
            m.d.sync += above[i][i].eq(0)
            for j in range(i):
                j_above_i = self.i_data[j] >= self.i_data[i]
                m.d.sync += [above[i][j].eq(self.i_mask[j] & j_above_i),
                             above[j][i].eq(self.i_mask[i] & ~j_above_i)]

        # The rank counts: adder trees split in two by a register (a
        # comparator and a whole tree in one cycle: 86 MHz on ECP5).
        half = prefix_levels(S) // 2
        ra_valid = Signal()
        ra_data = Signal(data.ArrayLayout(self._shape, S))
        ra_mask = Signal(S)
        m.d.sync += [ra_valid.eq(r1_valid), ra_data.eq(r1_data), ra_mask.eq(r1_mask)]
        parts = []
        for i in range(S):
            part = prefix_counts([above[i][j] for j in range(S)], S, 0, half)
            regs = [Signal(range(S + 1), name=f"part{i}_{j}") for j in range(S)]
            m.d.sync += [regs[j].eq(part[j]) for j in range(S)]
            parts.append(regs)

        r2_valid = Signal()
        r2_data = Signal(data.ArrayLayout(self._shape, S))
        r2_mask = Signal(S)
        ranks = [Signal(range(S + 1), name=f"rank{i}") for i in range(S)]
        m.d.sync += [r2_valid.eq(ra_valid), r2_data.eq(ra_data), r2_mask.eq(ra_mask)]
        for i in range(S):
            m.d.sync += ranks[i].eq(prefix_counts(parts[i], S, half)[-1])

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
