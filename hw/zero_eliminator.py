"""Zero eliminator: pack the kept lanes of a beat into the low lanes."""

from amaranth.hdl import Const, Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .params import check_bool, check_pow2
from .prefix_sum import prefix_counts, prefix_levels

__all__ = ["ZeroEliminator"]


class ZeroEliminator(wiring.Component):
    """Pack the kept lanes of a ``lanes``-wide beat into lanes ``0..count-1``.

    As in the SpAtten paper: a prefix sum of the empty slots gives each kept
    element the distance ``z`` it moves down; a ``log2(lanes)``-layer shifter
    then moves it by ``2**b`` in layer ``b`` when bit ``b`` of ``z`` is set
    (least significant layer first: two kept elements never collide, because
    ``z`` is non-decreasing across kept lanes and grows by less than the lane
    distance). Order is preserved.

    Parameters
    ----------
    lanes : int
        Power of two in 2..64.
    shape : ShapeLike or Layout
        Payload of one lane.
    split : bool
        Register the shifter between its lower and upper half of layers
        (one more cycle of latency, half the logic depth).

    Members
    -------
    en : In(1)
        Pipeline advance (stall when 0: every register holds).
    i_valid, i_data, i_keep : In
        Input beat, and which lanes to keep.
    o_valid, o_data, o_count : Out
        Packed beat: ``o_data[0..o_count-1]`` are the kept lanes in order;
        higher lanes are don't-care.
    early_valid, early_count : Out
        The same beat's valid and count one cycle before ``o_*`` (after the
        prefix sum), so that a consumer can compute a write offset in
        parallel with the shifter.

    Latency :attr:`latency` = 3 advancing cycles (registers in the middle
    and after the prefix sum, and after the shifter), 4 with ``split``
    (``early_*`` then come two cycles before ``o_*``); throughput one beat
    per cycle.
    """

    def __init__(self, *, lanes, shape, split=False):
        lanes = check_pow2("lanes", lanes, 2, 64)
        check_bool("split", split)
        self._lanes = lanes
        self._shape = shape
        self._split = split
        super().__init__({
            "en": In(1, init=1),
            "i_valid": In(1),
            "i_data": In(data.ArrayLayout(shape, lanes)),
            "i_keep": In(lanes),
            "o_valid": Out(1),
            "o_data": Out(data.ArrayLayout(shape, lanes)),
            "o_count": Out(range(lanes + 1)),
            "early_valid": Out(1),
            "early_count": Out(range(lanes + 1)),
        })

    @property
    def lanes(self):
        return self._lanes

    LATENCY = 3

    @property
    def split(self):
        return self._split

    @property
    def latency(self):
        return self.LATENCY + self._split

    def elaborate(self, platform):
        m = Module()
        P = self._lanes
        layers = P.bit_length() - 1
        zbits = unsigned(layers)

        # Stages 1a, 1b: exclusive prefix count of the empty slots = distance to
        # move, as an adder tree split in two halves by a register (a whole
        # tree in one cycle would be the slowest path of the engine).
        half = prefix_levels(P) // 2
        empty = ~self.i_keep
        part = prefix_counts([empty[l] for l in range(P)], P, 0, half)
        a_valid = Signal()
        a_data = Signal(data.ArrayLayout(self._shape, P))
        a_keep = Signal(P)
        a_part = [Signal(range(P + 1), name=f"ze_part{l}") for l in range(P)]
        with m.If(self.en):
            m.d.sync += [a_valid.eq(self.i_valid), a_data.eq(self.i_data), a_keep.eq(self.i_keep)]
            m.d.sync += [a_part[l].eq(part[l]) for l in range(P)]
        incl = prefix_counts(a_part, P, half)
        s1_valid = Signal()
        s1_data = Signal(data.ArrayLayout(self._shape, P))
        s1_keep = Signal(P)
        s1_z = Signal(data.ArrayLayout(zbits, P))
        s1_count = Signal(range(P + 1))
        with m.If(self.en):
            m.d.sync += [
                s1_valid.eq(a_valid),
                s1_data.eq(a_data),
                s1_keep.eq(a_keep),
                s1_count.eq(P - incl[-1]),
            ]
            for l in range(P):
                # Distance of a kept lane is always < lanes; for l = 0 it is 0.
                m.d.sync += s1_z[l].eq(incl[l - 1] if l else Const(0, zbits))

        m.d.comb += [self.early_valid.eq(s1_valid), self.early_count.eq(s1_count)]

        # Stage 2: log2(P) layers of 2:1 multiplexers, LSB first.
        vals = [s1_data[l] for l in range(P)]
        keep = [s1_keep[l] for l in range(P)]
        zs = [s1_z[l] for l in range(P)]
        s_valid, s_count = s1_valid, s1_count
        for b in range(layers):
            d = 1 << b
            nvals, nkeep, nzs = [], [], []
            for i in range(P):
                stay = keep[i] & ~zs[i][b]
                if i + d < P:
                    come = keep[i + d] & zs[i + d][b]
                    nvals.append(Signal(self._shape, name=f"ze_v{b}_{i}"))
                    nzs.append(Signal(zbits, name=f"ze_z{b}_{i}"))
                    m.d.comb += [
                        nvals[-1].eq(vals[i + d]),
                        nzs[-1].eq(zs[i + d]),
                    ]
                    with m.If(~come):
                        m.d.comb += [nvals[-1].eq(vals[i]), nzs[-1].eq(zs[i])]
                    nkeep.append(come | stay)
                else:
                    nvals.append(vals[i])
                    nzs.append(zs[i])
                    nkeep.append(stay)
            vals, keep, zs = nvals, nkeep, nzs
            if self._split and b == (layers - 1) // 2:
                # Stage 2a/2b: the lower layers' outputs registered.
                rv = [Signal(self._shape, name=f"ze_m_v{i}") for i in range(P)]
                rk = [Signal(name=f"ze_m_k{i}") for i in range(P)]
                rz = [Signal(zbits, name=f"ze_m_z{i}") for i in range(P)]
                m_valid, m_count = Signal(), Signal(range(P + 1))
                with m.If(self.en):
                    m.d.sync += [m_valid.eq(s_valid), m_count.eq(s_count)]
                    m.d.sync += [rv[i].eq(vals[i]) for i in range(P)]
                    m.d.sync += [rk[i].eq(keep[i]) for i in range(P)]
                    m.d.sync += [rz[i].eq(zs[i]) for i in range(P)]
                vals, keep, zs, s_valid, s_count = rv, rk, rz, m_valid, m_count
        with m.If(self.en):
            m.d.sync += [self.o_valid.eq(s_valid), self.o_count.eq(s_count)]
            for l in range(P):
                m.d.sync += self.o_data[l].eq(vals[l])
        return m
