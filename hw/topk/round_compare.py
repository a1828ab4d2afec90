"""The top-k engine's round compare: each candidate against both pivots, the three parts' masks."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.topk_timing import COMPARE, PARTS

from ..compare import greater_equal, greater_than
from .geometry import check_geometry
from .pivot_sampler import SIDES
from .round_reader import round_beat

__all__ = ["RoundCompare", "round_parts", "greater_at_least", "CLASSES"]

# The counted classes of a round, in the order of the decision's tests.
CLASSES = ("gt_hi", "ge_hi", "gt_lo", "ge_lo")


def greater_at_least(m, lanes, refs, mask, name):
    """Per lane ``mask & (lanes[l] > ref)`` and ``mask & (lanes[l] >= ref)``: two carry chains.

    ``refs`` are copies of the reference, one per group of
    ``len(lanes) // len(refs)`` lanes. The mask rides in the chains
    (``hw.compare``), so each result leaves its chain with no LUT after it;
    equality is then ``ge & ~gt``, one gate beside the register, instead of
    an XOR/AND tree three LUT levels deep.
    """
    count = len(lanes)
    per = count // len(refs)
    gt, ge = Signal(count, name=f"{name}_gt"), Signal(count, name=f"{name}_ge")
    m.d.comb += [gt.eq(Cat(*[greater_than(lanes[l], refs[l // per], mask=mask[l]) for l in range(count)])),
                 ge.eq(Cat(*[greater_equal(lanes[l], refs[l // per], mask=mask[l]) for l in range(count)]))]
    return gt, ge


def round_parts(geometry):
    """A compared beat as its producer drives it: flags, lanes, the four classes and the three
    parts' keep masks (L: > hi, M: lo < x < hi, R: < lo)."""
    P = geometry.lanes
    return wiring.Signature({
        "valid": Out(1), "first": Out(1), "last": Out(1), "data": Out(data.ArrayLayout(geometry.shape, P)),
        **{c: Out(P) for c in CLASSES}, **{f"keep_{side}": Out(P) for side in SIDES},
    })


class RoundCompare(wiring.Component):
    """Compares each lane of a round's beat with the pivots ``hi >= lo`` and splits it in three parts.

    Parameters
    ----------
    geometry : TopKGeometry

    Members
    -------
    beat : In(:func:`hw.topk.round_reader.round_beat`)
    pivot_hi, pivot_lo : In(ArrayLayout(score, copies))
        The pivots, one copy per ``PIVOT_LANES`` lanes.
    parts : Out(:func:`round_parts`)
        The beat :attr:`latency` cycles later with its classes ``> hi``,
        ``>= hi``, ``> lo``, ``>= lo`` (masked to the beat's lanes) and parts.

    Latency :attr:`latency` = 2: the classes registered straight from the
    carry chains (a comparator and the first levels of the zero
    eliminators' prefix sums in one cycle are too long a path), then the
    parts' masks, one gate each after the class registers (the gate after
    the chains is a long route; after the registers it would sit in front
    of the zero eliminators' first count level).
    """

    def __init__(self, *, geometry):
        self._geometry = g = check_geometry(geometry)
        pivots = data.ArrayLayout(g.shape, g.pivot_copies)
        super().__init__({"beat": In(round_beat(g)), "pivot_hi": In(pivots), "pivot_lo": In(pivots),
                          "parts": Out(round_parts(g))})

    @property
    def latency(self):
        return COMPARE + PARTS

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        P, shape, beat = g.lanes, g.shape, self.beat
        # The compare stage: the classes, all four masked in their chains.
        cmp_valid, cmp_first, cmp_last = Signal(), Signal(), Signal()
        cmp_data = Signal(data.ArrayLayout(shape, P), reset_less=True)
        cmp_cls = {c: Signal(P, name=f"cmp_{c}", reset_less=True) for c in CLASSES}
        cmp_mask = Signal(P, reset_less=True)
        m.d.sync += [cmp_valid.eq(beat.valid), cmp_first.eq(beat.first), cmp_last.eq(beat.last),
                     cmp_mask.eq(beat.mask)]
        m.d.sync += [cmp_data[lane].eq(beat.data[lane]) for lane in range(P)]
        copies = g.pivot_copies
        gt_hi, ge_hi = greater_at_least(m, [beat.data[lane] for lane in range(P)],
                                        [self.pivot_hi[c] for c in range(copies)], beat.mask, "chi")
        gt_lo, ge_lo = greater_at_least(m, [beat.data_lo[lane] for lane in range(P)],
                                        [self.pivot_lo[c] for c in range(copies)], beat.mask, "clo")
        m.d.sync += [cmp_cls["gt_hi"].eq(gt_hi), cmp_cls["ge_hi"].eq(ge_hi),
                     cmp_cls["gt_lo"].eq(gt_lo), cmp_cls["ge_lo"].eq(ge_lo)]
        # The parts stage: the masks, registered beside the beat and the classes.
        part_valid, part_first, part_last = Signal(), Signal(), Signal()
        part_data = Signal(data.ArrayLayout(shape, P), name="part_data", reset_less=True)
        part_cls = {c: Signal(P, name=f"part_{c}", reset_less=True) for c in CLASSES}
        part_keep = {side: Signal(P, name=f"part_keep{side}", reset_less=True) for side in SIDES}
        m.d.sync += [part_valid.eq(cmp_valid), part_first.eq(cmp_first), part_last.eq(cmp_last),
                     part_data.eq(cmp_data),
                     *[part_cls[c].eq(cmp_cls[c]) for c in CLASSES],
                     part_keep["L"].eq(cmp_cls["gt_hi"]),
                     part_keep["M"].eq(cmp_cls["gt_lo"] & ~cmp_cls["ge_hi"]),
                     part_keep["R"].eq(cmp_mask & ~cmp_cls["ge_lo"])]
        parts = self.parts
        m.d.comb += [parts.valid.eq(part_valid), parts.first.eq(part_first), parts.last.eq(part_last),
                     parts.data.eq(part_data), *[getattr(parts, c).eq(part_cls[c]) for c in CLASSES],
                     *[getattr(parts, f"keep_{side}").eq(part_keep[side]) for side in SIDES]]
        return m
