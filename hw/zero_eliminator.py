"""Zero eliminator: pack the kept lanes of a beat into the low lanes."""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.topk_timing import ZERO_ELIMINATOR_EARLY_LATENCY, zero_eliminator_latency

from .params import check_bool, check_int, check_pow2
from .prefix_sum import popcount, prefix_counts, prefix_levels, staged_block_counts
from .replicate import replicas

__all__ = ["ZeroEliminator"]

# Adder levels of the prefix tree before its middle register.
A_LEVELS = 3


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
    early_copies : int
        Registers holding ``early_count`` and ``early_valid`` (1..64):
        identical copies that synthesis keeps apart (``hw.replicate``), for
        a consumer that spreads their fanout (an accumulator per memory
        bank) over them.

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
        The same beat's valid and count ``latency - early_latency`` cycles
        before ``o_*`` (after the prefix count), so that a consumer can
        compute a write offset in parallel with the shifter.
    early_counts : Out(ArrayLayout(range(lanes + 1), early_copies))
    early_valids : Out(early_copies)
        ``early_count`` and ``early_valid`` in ``early_copies`` kept copies
        (copy 0 is ``early_count`` or ``early_valid`` itself).

    Only the valids are reset; the data, keeps, counts and move bits are
    registers without reset (a long reset net to every data flip-flop costs
    routing; these are only read where their valid is set).

    Latency (advancing cycles): :attr:`early_latency` = 3 to ``early_*``
    (two registers inside the prefix count and one after it),
    :attr:`latency` = 4 to ``o_*``, 5 with ``split`` (a register after the
    shifter, and one between its halves); throughput one beat per cycle.
    """

    def __init__(self, *, lanes, shape, split=False, early_copies=1):
        lanes = check_pow2("lanes", lanes, 2, 64)
        check_bool("split", split)
        self._lanes = lanes
        self._shape = shape
        self._split = split
        self._early_copies = check_int("early_copies", early_copies, 1, 64)
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
            "early_counts": Out(data.ArrayLayout(range(lanes + 1), early_copies)),
            "early_valids": Out(early_copies),
        })

    @property
    def lanes(self):
        return self._lanes

    @property
    def shape(self):
        return self._shape

    @property
    def split(self):
        return self._split

    @property
    def early_latency(self):
        """Cycles from ``i_*`` to ``early_*``: the three stages of the prefix count."""
        return self.EARLY_LATENCY

    @property
    def latency(self):
        """Cycles from ``i_*`` to ``o_*``: ``early_latency`` and the shifter's stages."""
        return self.latency_of(split=self._split)

    # Also as class-level values, so that a parent can state its own latency
    # without building (and never elaborating) an instance.
    # Defined with the top-k engine's other depths (golden.topk_timing).
    EARLY_LATENCY = ZERO_ELIMINATOR_EARLY_LATENCY

    @classmethod
    def latency_of(cls, *, split):
        """:attr:`latency` of an instance built with ``split``."""
        return zero_eliminator_latency(split)

    def elaborate(self, platform):
        m = Module()
        P = self._lanes
        layers = P.bit_length() - 1

        # Stages 1a, 1b, 1c: exclusive prefix count of the empty slots =
        # distance to move, as a Sklansky adder tree with registers after its
        # second and third levels: stages 1a and 1b count within blocks of 4,
        # then 8 lanes (staged_block_counts), stage 1c adds the block offsets.
        # The count of kept lanes is a separate popcount, per block in 1a and
        # 1b and summed in 1c (``P - prefix[-1]`` would chain the subtraction
        # after the tree). Counting 8 lanes in one stage, three LUT levels
        # after the long route from the compare, was the slowest path of the
        # top-k engine.
        half = min(A_LEVELS, prefix_levels(P))
        block = 1 << half
        empty = ~self.i_keep
        a_part, a_kept = staged_block_counts(m, empty, self.i_keep, P, block, name="ze", en=self.en,
                                             kept_pairs=True)
        # The beat beside the counts.
        valid, beat, keep = self.i_valid, self.i_data, self.i_keep
        for stage in ("q", "a"):
            nvalid = Signal(name=f"ze_{stage}_valid")
            nbeat = Signal(data.ArrayLayout(self._shape, P), name=f"ze_{stage}_data", reset_less=True)
            nkeep = Signal(P, name=f"ze_{stage}_keep", reset_less=True)
            with m.If(self.en):
                m.d.sync += [nvalid.eq(valid), nbeat.eq(beat), nkeep.eq(keep)]
            valid, beat, keep = nvalid, nbeat, nkeep
        a_valid, a_data, a_keep = valid, beat, keep
        incl = prefix_counts(a_part, P, half)
        # The distance is registered as move bits: bit b of lane l's distance
        # if the lane is kept, else 0, so that a shifter layer's select is one
        # register or LUT output (an empty lane never moves into another).
        moves = []
        for l in range(P):
            # The distance of lane 0 is 0 and that of any kept lane < P.
            z = incl[l - 1][:layers] if l else Const(0, layers)
            moves.append(z & a_keep[l].replicate(layers))

        # Stages 2a, 2b: log2(P) layers of 2:1 multiplexers, LSB first. Lane i
        # takes lane i + 2**b's element if that one moves in layer b; the move
        # bits of later layers travel with the element, and a lane whose
        # element left without a replacement gets none. The first stage's
        # second-layer select (lane l's move bit after the first layer) is
        # computed beside the distances and registered; in the second stage
        # it is one LUT of registers (computing it in the first stage as well
        # made that stage three LUTs deep, and slower on ECP5).
        h = (layers - 1) // 2
        stages = [range(0, h + 1), range(h + 1, layers)] if self._split else [range(layers)]
        vals = [a_data[l] for l in range(P)]
        s_valid, s_count = a_valid, popcount(a_kept)
        for k, stage in enumerate(stages):
            r_valid = Signal(name=f"ze_valid{k}")
            r_count = Signal(range(P + 1), name=f"ze_count{k}", reset_less=True)
            r_vals = [Signal(self._shape, name=f"ze_v{k}_{l}", reset_less=True) for l in range(P)]
            r_moves = [Signal(layers, name=f"ze_mv{k}_{l}", reset_less=True) for l in range(P)]
            with m.If(self.en):
                m.d.sync += [r_valid.eq(s_valid), r_count.eq(s_count)]
                m.d.sync += [r_vals[l].eq(vals[l]) for l in range(P)]
                # Only the bits of this stage's and later layers are needed.
                if stage:
                    m.d.sync += [r_moves[l][stage[0]:].eq(moves[l][stage[0]:]) for l in range(P)]
            pre = None
            if len(stage) > 1 and k == 0:
                pre = [Signal(name=f"ze_pre{k}_{l}", reset_less=True) for l in range(P)]
                _, after = _layer(m, vals, moves, stage[0], [mv[stage[0]] for mv in moves], f"ze_p{k}")
                with m.If(self.en):
                    m.d.sync += [pre[l].eq(after[l][stage[1]]) for l in range(P)]
            if k == 0:
                m.d.comb += [self.early_valid.eq(r_valid), self.early_count.eq(r_count),
                             self.early_counts[0].eq(r_count), self.early_valids[0].eq(r_valid)]
                more = self._early_copies - 1
                copies = (replicas(m, s_count, more, name="ze_count_copy", enable=self.en, reset_less=True)
                          if more else [])
                m.d.comb += [self.early_counts[c + 1].eq(copy) for c, copy in enumerate(copies)]
                copies = replicas(m, s_valid, more, name="ze_valid_copy", enable=self.en) if more else []
                m.d.comb += [self.early_valids[c + 1].eq(copy) for c, copy in enumerate(copies)]
            vals, moves, s_valid, s_count = r_vals, r_moves, r_valid, r_count
            for j, b in enumerate(stage):
                sel = pre if j == 1 and pre else [mv[b] for mv in moves]
                vals, moves = _layer(m, vals, moves, b, sel, f"ze_l{b}")
        # The outputs' registers; only the valid has a reset.
        o_data = Signal.like(self.o_data, name="ze_o_data", reset_less=True)
        o_count = Signal.like(self.o_count, name="ze_o_count", reset_less=True)
        with m.If(self.en):
            m.d.sync += [self.o_valid.eq(s_valid), o_count.eq(s_count)]
            for l in range(P):
                m.d.sync += o_data[l].eq(vals[l])
        m.d.comb += [self.o_data.eq(o_data), self.o_count.eq(o_count)]
        return m


def _layer(m, vals, moves, b, sel, name):
    """Shifter layer ``b``: lane i takes lane i + 2**b's element if ``sel[i + 2**b]``.

    ``sel[l]`` is bit ``b`` of ``moves[l]`` (given separately, so that it can
    come from a register holding a precomputed copy). Returns the new values
    and move bits.
    """
    P, d = len(vals), 1 << b
    nvals = [Signal.like(vals[i], name=f"{name}_v{i}") for i in range(P)]
    nmoves = [Signal.like(moves[i], name=f"{name}_mv{i}") for i in range(P)]
    for i in range(P):
        stay = moves[i] & ~sel[i].replicate(len(moves[i]))
        if i + d < P:
            m.d.comb += [nvals[i].eq(Mux(sel[i + d], vals[i + d], vals[i])),
                         nmoves[i].eq(Mux(sel[i + d], moves[i + d], stay))]
        else:
            m.d.comb += [nvals[i].eq(vals[i]), nmoves[i].eq(stay)]
    return nvals, nmoves
