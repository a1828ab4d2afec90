"""Pick the sample elements of given ranks: the pivots of a quick-select round."""

from amaranth.hdl import Cat, Module, Mux, Shape, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.topk_timing import RANK_SELECT_LATENCY, RANK_TARGET_DELAY

from .compare import greater_than
from .params import check_int, check_pow2
from .prefix_sum import lut_count
from .replicate import kept_copies, replicas

__all__ = ["RankSelect"]


class RankSelect(wiring.Component):
    """Return the sample elements whose descending ranks are ``target[0..ranks-1]``.

    Every pair of the ``sample`` lanes is compared (``sample * (sample - 1) / 2``
    comparators), each lane's rank is the count of lanes ranked above it
    (greater, or equal and in a lower lane: a total order, so the ranks are a
    permutation of ``0..sample-1``), and the lane whose rank equals ``target``
    is selected with a one-hot OR, for each target.

    The comparators work on keys ``Cat(value, valid)`` (sign bit flipped for
    signed shapes): a masked lane is below every valid lane, so the valid
    lanes hold the ranks ``0..popcount(i_mask)-1`` and no mask gate sits
    between a comparator and the count.

    Parameters
    ----------
    sample : int
        Number of sample lanes (power of two in 2..16).
    shape : ShapeLike
        Element shape (signed or unsigned).
    ranks : int
        Number of targets (and selected elements), 1..4.
    copies : int
        Registers per selected element, 1..16: identical copies that
        synthesis keeps apart (``hw.replicate``), so that a consumer can
        spread a pivot's fanout (every comparator of a wide beat) over them.

    Members
    -------
    i_valid, i_data, i_mask : In
        Sample beat; ``i_mask`` marks the valid lanes.
    target : In(ArrayLayout(range(sample), ranks))
        Wanted ranks, read :attr:`target_delay` = 3 cycles after ``i_valid``
        (they may arrive late; their values at other cycles do not matter).
    o_valid : Out(1)
    o_value : Out(ArrayLayout(ArrayLayout(shape, copies), ranks))
        ``o_value[r][c]``: copy ``c`` of the element of rank ``target[r]``
        (each target must be ``< popcount(i_mask)``); held until the next
        sample is selected.

    Latency :attr:`latency` = 8 cycles (the keys in copies; comparators; two
    half counts of each rank; target minus the second half; the first half
    equal to that, as a one-hot hit vector; the one-hot OR in two stages;
    the copies registered again),
    throughput one sample per cycle.
    """

    def __init__(self, *, sample, shape, ranks=1, copies=1):
        sample = check_pow2("sample", sample, 2, 16)
        self._sample = sample
        self._shape = shape
        self._ranks = check_int("ranks", ranks, 1, 4)
        self._copies = check_int("copies", copies, 1, 16)
        super().__init__({
            "i_valid": In(1),
            "i_data": In(data.ArrayLayout(shape, sample)),
            "i_mask": In(sample),
            "target": In(data.ArrayLayout(range(sample), ranks)),
            "o_valid": Out(1),
            "o_value": Out(data.ArrayLayout(data.ArrayLayout(shape, copies), ranks)),
        })

    ranks = property(lambda self: self._ranks)
    copies = property(lambda self: self._copies)

    @property
    def latency(self):
        return self.LATENCY

    @property
    def target_delay(self):
        return self.TARGET_DELAY

    # Also as class-level values, so that a parent can state its own latency
    # without building (and never elaborating) an instance.
    # Defined with the top-k engine's other depths (golden.topk_timing).
    LATENCY = RANK_SELECT_LATENCY
    TARGET_DELAY = RANK_TARGET_DELAY
    # Copies of each key: copy c feeds the comparators against the lanes of
    # the c-th quarter, so that no key bit drives all S - 1 of its
    # comparators (a wide fanout before a carry chain).
    KEY_COPIES = 4

    def elaborate(self, platform):
        m = Module()
        S = self._sample
        shape = Shape.cast(self._shape)
        w = shape.width
        L = S.bit_length() - 1
        C = min(S, self.KEY_COPIES)
        # Stage 0: each lane's key, Cat(value, valid), in C copies.
        keys = []
        for i in range(S):
            u = Value.cast(self.i_data[i]).as_unsigned()
            if shape.signed:
                u = Cat(u[:w - 1], ~u[w - 1])
            keys.append(replicas(m, Cat(u, self.i_mask[i]), C, name=f"key{i}", reset_less=True))

        # The data and valid travel along the pipeline to the select stage.
        # Only the valid bits are reset: every other register here is
        # reloaded each cycle and used only under its valid bit (the output
        # values are read only after a sample's valid has loaded them).
        valid, lanes = self.i_valid, self.i_data
        valids = [valid]                # valids[i]: the sample is in stage i
        for stage in range(self.latency - 1):
            nvalid = Signal(name=f"r{stage + 1}_valid")
            m.d.sync += nvalid.eq(valid)
            valid = nvalid
            valids.append(valid)
        for stage in range(5):          # to the hit vectors' stage
            nlanes = Signal(data.ArrayLayout(self._shape, S), name=f"r{stage + 1}_data", reset_less=True)
            m.d.sync += nlanes.eq(lanes)
            lanes = nlanes

        # Stage 1: one registered comparator per pair (a 17-bit carry chain
        # fed by high-fanout keys leaves no time for logic after it).
        # above(j, i): lane j is ranked above lane i (for j < i: key[j] >=
        # key[i]; for j > i: key[j] > key[i]).
        # Each comparator's register in two copies, one by each of the two
        # lanes' counts (a single register between them is a long route).
        lt = {}
        for i in range(S):
            for j in range(i):
                # key[j] < key[i] as a borrow (hw.compare: no LUT after the chain).
                lt[j, i] = replicas(m, greater_than(keys[i][j * C // S], keys[j][i * C // S]), 2,
                                    name=f"lt{j}_{i}", reset_less=True)

        def above(j, i):
            """Lane j ranks above lane i, from the copy by lane i's count."""
            return ~lt[j, i][1] if j < i else lt[i, j][0]

        # Stage 2: each rank in two halves, a = popcount of the first half
        # of the S - 1 comparisons and b of the rest (a whole 15-bit popcount
        # does not fit one cycle; its last add goes to stage 3).
        half_a, half_b = [], []
        for i in range(S):
            bits = [above(j, i) for j in range(S) if j != i]
            na = (len(bits) + 1) // 2
            for store, part, name in ((half_a, bits[:na], "a"), (half_b, bits[na:], "b")):
                cnt = Signal(L, name=f"rank{i}_{name}", reset_less=True)
                m.d.sync += cnt.eq(lut_count(part) if part else 0)
                store.append(cnt)

        # Stages 3 and 4: a one-hot hit vector per target, rank == target
        # (exactly one lane hits), as a == target - b: stage 3 registers
        # target - b (L + 1 bits: a negative difference wraps above every
        # a) beside a, stage 4 compares (the add and the compare in one
        # stage are too long a path).
        a_d = [Signal(L, name=f"rank{i}_a_d", reset_less=True) for i in range(S)]
        m.d.sync += [a_d[i].eq(half_a[i]) for i in range(S)]
        hits = []
        for r in range(self._ranks):
            hit = Signal(S, name=f"hit{r}", reset_less=True)
            for i in range(S):
                t_minus_b = Signal(L + 1, name=f"t{r}_minus_b{i}", reset_less=True)
                m.d.sync += [t_minus_b.eq(self.target[r] - half_b[i]), hit[i].eq(a_d[i] == t_minus_b)]
            hits.append(hit)

        # Stages 5 to 7: one-hot AND-OR per target. Stage 5 ORs pairs of
        # lanes (one LUT) into registers; stage 6 ORs the pairs (two LUT
        # levels for S = 16) into one register; stage 7 loads the copies
        # from it, with nothing between them, so that each copy can sit by
        # its loads, far from the tree: the OR tree, its copies' routes and
        # the hit vector's wide fanout each take a cycle of their own
        # (docs/topk.md has the measurements).
        # The values are held between samples: the pivots of a whole round.
        m.d.sync += self.o_valid.eq(valid)
        for r, hit in enumerate(hits):
            w = Shape.cast(self._shape).width
            groups = []
            for g in range(0, S, 2):
                terms = [Mux(hit[i], Value.cast(lanes[i]).as_unsigned(), 0) for i in range(g, min(S, g + 2))]
                while len(terms) > 1:
                    terms = [terms[t] | terms[t + 1] if t + 1 < len(terms) else terms[t]
                             for t in range(0, len(terms), 2)]
                part = Signal(w, name=f"part{r}_{g // 2}", reset_less=True)
                m.d.sync += part.eq(terms[0])
                groups.append(part)
            total = groups[0]
            for part in groups[1:]:
                total = total | part
            tree = Signal(self._shape, name=f"value{r}_tree", reset_less=True)
            copies = kept_copies(self._shape, self._copies, name=f"value{r}", reset_less=True)
            with m.If(valids[6]):
                m.d.sync += tree.eq(total)
            with m.If(valids[7]):
                m.d.sync += [c.eq(tree) for c in copies]
            m.d.comb += [self.o_value[r][c].eq(copy) for c, copy in enumerate(copies)]
        return m

