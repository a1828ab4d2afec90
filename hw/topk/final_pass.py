"""The top-k engine's final pass: the input buffer in input order, the top k kept and packed."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.topk_timing import EQUAL_COUNTS, FINAL_COMPARE, FINAL_KEEP, FINAL_READ

from ..compare import greater_than_const, thermometer
from ..prefix_sum import popcount, prefix_counts, prefix_levels, staged_block_counts
from ..replicate import kept_copies
from ..zero_eliminator import ZeroEliminator
from .geometry import check_geometry
from .lane_buffer import buffer_read
from .round_compare import greater_at_least

__all__ = ["FinalPass", "packed_beat", "kept_layout"]


def kept_layout(geometry):
    """One kept element: its score and its index in the request."""
    return data.StructLayout({"score": geometry.shape, "index": geometry.index_bits})


def packed_beat(geometry):
    """The pass's packed beats as it drives them: the early count of each beat (its kept
    elements) and, later, the packed lanes and their count (``hw.zero_eliminator``)."""
    P = geometry.lanes
    return wiring.Signature({"early_valid": Out(1), "early_count": Out(range(P + 1)),
                             "count": Out(range(P + 1)),
                             "data": Out(data.ArrayLayout(kept_layout(geometry), P))})


class FinalPass(wiring.Component):
    """Reads the input buffer once and keeps ``x > T`` and the earliest ``x == T`` (``T`` the k-th value).

    The elements equal to ``T`` are kept while their running count is below
    the quota ``room = k - n(> T)``: each beat registers each lane's count
    of equals before it (prefix counts within blocks of 8 lanes, in two
    stages, as the zero eliminator's) and the beat's total; lane ``l`` is
    kept if its count is below ``min(room, P)``, and ``room`` drops by the
    total (a subtraction and a compare in parallel, from registers). The
    kept lanes are packed by a zero eliminator with their indices (row and
    lane number).

    The pass never stalls (an enable from the consumer's ready would fan
    out to every register of it): a row is read only while a credit is left
    for it in the result FIFO (``credit_ok``, :class:`.credited_output.CreditedOutput`).

    Parameters
    ----------
    geometry : TopKGeometry

    Members
    -------
    start : In(G + 1)
        Copies of the request's first state: restart the read rows (one per
        lane group) and the counters (the last) for ``n`` elements
        (``n_lanes``: thermometer of ``n``, ``n_multi``: ``n > P``).
    begin, stop : In(1)
        The k-th value is known: read rows from now on; nothing is left
        to keep: stop reading (``begin`` wins).
    credit_ok : In(G + 1)
        A row may be issued (copies per lane group, and one for the counters).
    load, threshold, room, room_mp : In
        HOLD: load the threshold copies ``T`` and the quota and quota - P.
    read : Out(:func:`hw.topk.lane_buffer.buffer_read`)
        The input buffer.
    issue : Out(1)
        A row is read in this cycle (its credit is taken).
    packed : Out(:func:`packed_beat`)
        The row's kept elements, ``latency`` cycles after its issue.
    """

    def __init__(self, *, geometry):
        self._geometry = g = check_geometry(geometry)
        P, G, quota = g.lanes, g.broadcast_copies, signed(g.count_bits + 2)
        super().__init__({
            "start": In(G + 1), "n": In(g.count_bits), "n_lanes": In(P), "n_multi": In(1),
            "begin": In(1), "stop": In(1), "credit_ok": In(G + 1),
            "load": In(1), "threshold": In(data.ArrayLayout(g.shape, g.pivot_copies)),
            "room": In(quota), "room_mp": In(quota),
            "read": Out(buffer_read(g)), "issue": Out(1), "packed": Out(packed_beat(g)),
        })

    @property
    def latency(self):
        """Cycles from a row's issue to its packed beat: the read (and block RAM landing), the
        compare, the equal counts, the keep register and the zero eliminator."""
        return (FINAL_READ + self._geometry.read_delay + FINAL_COMPARE + EQUAL_COUNTS + FINAL_KEEP
                + ZeroEliminator.latency_of(split=True))

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        P, G, shape, row_w, lp = g.lanes, g.broadcast_copies, g.shape, g.row_bits, g.lane_bits
        # A row is issued while one is left to read (more, set by begin) and
        # a credit is left: two registers, each in one copy per lane group
        # (for its read rows) and one for the rest of the pass.
        more_c = kept_copies(1, G + 1, name="fin_more")
        issue_c = [more_c[i] & self.credit_ok[i] for i in range(G + 1)]
        issue = issue_c[G]
        m.d.comb += self.issue.eq(issue)
        row, left = Signal(row_w, name="fin_row"), Signal(g.count_bits, name="fin_rem")
        # Registered views of left, loaded beside it: the lanes of the next
        # row and "a row follows the next one".
        lanes, multi = Signal(P, name="fin_th"), Signal(name="fin_gtp")
        f0_valid, f0_mask, f0_row = Signal(), Signal(P), Signal(row_w, reset_less=True)
        # A cycle without a read compares no lane, so that its equal count
        # is 0 and the quota needs no valid gate.
        m.d.sync += [f0_valid.eq(issue), f0_mask.eq(Mux(issue, lanes, 0))]
        with m.If(issue):
            # left wraps below zero after the last row: more is clear then.
            m.d.sync += [f0_row.eq(row), row.eq(row + 1), left.eq(left - P),
                         lanes.eq(thermometer(left, P, P)),
                         *[c.eq(multi) for c in more_c], multi.eq(greater_than_const(left, 2 * P))]
        with m.If(self.stop):
            m.d.sync += [c.eq(0) for c in more_c]
        with m.If(self.begin):
            m.d.sync += [c.eq(1) for c in more_c]
        with m.If(self.start[G]):
            m.d.sync += [row.eq(0), left.eq(self.n), lanes.eq(self.n_lanes), multi.eq(self.n_multi)]
        # The buffer's read rows, a copy per lane and slice.
        for lane in range(P):
            rows = kept_copies(row_w, g.slices, name=f"fin_row{lane}", reset_less=True)
            copy = g.group(lane, G)
            with m.If(self.start[copy]):
                m.d.sync += [r.eq(0) for r in rows]
            with m.Elif(issue_c[copy]):
                m.d.sync += [r.eq(r + 1) for r in rows]
            m.d.comb += [self.read.rows[lane][s].eq(r) for s, r in enumerate(rows)]
        # The threshold and the quota, loaded in HOLD, one copy per lane group.
        thresholds = kept_copies(shape, g.pivot_copies, name="threshold", reset_less=True)
        rooms = kept_copies(signed(g.count_bits + 2), G, name="room")
        rooms_mp = kept_copies(signed(g.count_bits + 2), G, name="room_mp")

        # FR, with block RAM: the row's lanes wait a cycle for its data,
        # which leaves the landing registers then. The pass's data, classes
        # and rows have no reset: a cycle without a read has a clear mask.
        if g.read_delay:
            fr_valid, fr_mask, fr_row = Signal(), Signal(P), Signal(row_w, reset_less=True)
            m.d.sync += [fr_valid.eq(f0_valid), fr_mask.eq(f0_mask), fr_row.eq(f0_row)]
        else:
            fr_valid, fr_mask, fr_row = f0_valid, f0_mask, f0_row
        f1_valid = Signal()
        f1_gt, f1_ge = Signal(P, reset_less=True), Signal(P, reset_less=True)
        f1_row = Signal(row_w, reset_less=True)
        f1_data = Signal(data.ArrayLayout(shape, P), reset_less=True)
        fin_gt, fin_ge = greater_at_least(m, [self.read.data[lane] for lane in range(P)], thresholds,
                                          fr_mask, "f")
        m.d.sync += [f1_valid.eq(fr_valid), f1_row.eq(fr_row), f1_data.eq(self.read.data),
                     f1_gt.eq(fin_gt), f1_ge.eq(fin_ge)]
        # Equality after the registers (one gate, joining the counts' first level).
        f1_eq = Signal(P)
        m.d.comb += f1_eq.eq(f1_ge & ~f1_gt)
        # The equal counts: two stages of block counts, the beat beside them.
        assert EQUAL_COUNTS == 3, "two stages of block counts, then the compare with the quota"
        half = min(3, prefix_levels(P))
        h_part, h_blk = staged_block_counts(m, f1_eq, f1_eq, P, 1 << half, name="h", kept_pairs=True)
        beat = (f1_valid, f1_gt, f1_eq, f1_row, f1_data)
        for stage in ("e", "h"):
            nbeat = (Signal(name=f"{stage}_valid"), Signal(P, name=f"{stage}_gt", reset_less=True),
                     Signal(P, name=f"{stage}_eq", reset_less=True),
                     Signal(row_w, name=f"{stage}_row", reset_less=True),
                     Signal(data.ArrayLayout(shape, P), name=f"{stage}_data", reset_less=True))
            m.d.sync += [r.eq(v) for r, v in zip(nbeat, beat, strict=True)]
            beat = nbeat
        h_valid, h_gt, h_eq, h_row, h_data = beat
        # The quota stage: each lane's count of equals before it and the beat's total (its
        # own popcount of the block counts, not the last prefix).
        eq_incl = prefix_counts(h_part, P, half)
        quota_valid = Signal()
        quota_gt, quota_eq = Signal(P, reset_less=True), Signal(P, reset_less=True)
        quota_row = Signal(row_w, reset_less=True)
        quota_data = Signal(data.ArrayLayout(shape, P), reset_less=True)
        quota_before = [Signal(range(P), name=f"quota_before{lane}", reset_less=True) for lane in range(P)]
        quota_totals = kept_copies(range(P + 1), G, name="quota_total", reset_less=True)
        m.d.sync += [quota_valid.eq(h_valid), quota_gt.eq(h_gt), quota_eq.eq(h_eq), quota_row.eq(h_row),
                     quota_data.eq(h_data), *[t.eq(popcount(h_blk)) for t in quota_totals]]
        m.d.sync += [quota_before[lane].eq(eq_incl[lane - 1] if lane else 0) for lane in range(P)]
        # room_sat = min(max(room, 0), P), with room and room - P as two
        # accumulators (two carry chains side by side; the signs pick 0, P or
        # the difference), in one copy per lane group. Every cycle, with no
        # valid gate: a cycle without a beat has a total of 0.
        room_sats = kept_copies(range(P + 1), G, name="room_sat", reset_less=True)
        keep = Cat(*[quota_gt[lane] | (quota_eq[lane] & (quota_before[lane] < room_sats[g.group(lane, G)]))
                     for lane in range(P)])
        rs_w = len(room_sats[0])
        for room, room_mp, total, sat in zip(rooms, rooms_mp, quota_totals, room_sats, strict=True):
            left_q, left_p = room - total, room_mp - total
            m.d.sync += [room.eq(left_q), room_mp.eq(left_p),
                         sat.eq(Mux(left_q[-1], 0, Mux(~left_p[-1], P, left_q[:rs_w])))]
        with m.If(self.load):
            m.d.sync += [*[t.eq(self.threshold[i]) for i, t in enumerate(thresholds)],
                         *[r.eq(self.room) for r in rooms], *[r.eq(self.room_mp) for r in rooms_mp]]
        f2_valid, f2_keep = Signal(), Signal(P, reset_less=True)
        f2_score = Signal(data.ArrayLayout(shape, P), reset_less=True)
        f2_row = Signal(row_w, reset_less=True)
        m.d.sync += [f2_valid.eq(quota_valid), f2_keep.eq(keep), f2_score.eq(quota_data),
                     f2_row.eq(quota_row)]
        # A lane's index is its row and its lane number (constant bits, not registered).
        f2_data = Signal(data.ArrayLayout(kept_layout(g), P))
        for lane in range(P):
            m.d.comb += [f2_data[lane].score.eq(f2_score[lane]),
                         f2_data[lane].index.eq(Cat(Const(lane, lp), f2_row))]
        m.submodules.zeF = ze = ZeroEliminator(lanes=P, shape=kept_layout(g), split=True)
        m.d.comb += [ze.i_valid.eq(f2_valid), ze.i_data.eq(f2_data), ze.i_keep.eq(f2_keep),
                     self.packed.early_valid.eq(ze.early_valid), self.packed.early_count.eq(ze.early_count),
                     self.packed.count.eq(ze.o_count), self.packed.data.eq(ze.o_data)]
        return m
