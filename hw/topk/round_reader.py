"""The top-k engine's round reader: a round's beats, from the input or read from a part's banks."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.topk_timing import BANK_READ, BEAT_ISSUE, PIVOT_WAIT

from ..compare import greater_than_const
from ..replicate import kept_copies, replicas
from .geometry import check_geometry
from .lane_buffer import buffer_read
from .pivot_sampler import SIDES

__all__ = ["RoundReader", "round_beat"]


def round_beat(geometry):
    """A round's beat as its producer drives it: flags, lanes, and the data twice (one copy
    for the compares with each pivot)."""
    lanes = data.ArrayLayout(geometry.shape, geometry.lanes)
    return wiring.Signature({"valid": Out(1), "first": Out(1), "last": Out(1), "mask": Out(geometry.lanes),
                             "data": Out(lanes), "data_lo": Out(lanes)})


class RoundReader(wiring.Component):
    """Issues a round's beats and delays them until the round's pivots are ready.

    Round 1's beats are the input beats (a cycle after each is taken);
    a later round reads the part it keeps from row 0, ``P`` candidates per
    cycle, one bank per lane. Before that, the banks read the sample rows
    (``sample_rows``). Each bank has its own read row register, moved by
    its own copies of the control states (load the sample rows, restart at
    row 0, next row at each issue): the L, M and R banks of a column sit
    apart, and one row register or state flag in front of every bank's
    address is a long path.

    Parameters
    ----------
    geometry : TopKGeometry

    Members
    -------
    start : In(1)
        Round 1 of a request of ``n`` elements (``n_lmask``: the lanes of
        its last beat, ``n_single`` / ``n_double``: ``n <= P`` / ``<= 2P``).
    taken, in_beat : In(2), In(ArrayLayout(score, P))
        An input beat was taken in the previous cycle (two copies), and it.
    before_sample, drain_last, run : In(1)
        The control states: the cycle before the sample rows' load, the
        load (the last DRAIN cycle; the next, GAP, is the sample read), and
        RUN (issue a beat of a later round).
    sample_rows : In(ArrayLayout(row, S))
    side_m, side_r, round_n, round_lmask, round_last, round_last2 : In
        The later round: the part it reads (M / R, neither: L), its
        candidates, the lanes of its last beat, ``n <= P`` and ``n <= 2P``.
    read_L, read_M, read_R : Out(:func:`hw.topk.lane_buffer.buffer_read`)
    rem_last : Out(1)
        The next beat issued is the round's last.
    beat : Out(:func:`round_beat`)
        The beat, :attr:`latency` cycles after its issue.
    """

    def __init__(self, *, geometry):
        self._geometry = g = check_geometry(geometry)
        P, cb = g.lanes, g.count_bits
        super().__init__({
            "start": In(1), "n": In(cb), "n_lmask": In(P), "n_single": In(1), "n_double": In(1),
            "taken": In(2), "in_beat": In(data.ArrayLayout(g.shape, P)),
            "before_sample": In(1), "drain_last": In(1), "run": In(1),
            "sample_rows": In(data.ArrayLayout(unsigned(g.row_bits), g.sample)),
            "side_m": In(1), "side_r": In(1), "round_n": In(cb), "round_lmask": In(P),
            "round_last": In(1), "round_last2": In(1),
            **{f"read_{side}": Out(buffer_read(g)) for side in SIDES},
            "rem_last": Out(1), "beat": Out(round_beat(g)),
        })

    @property
    def latency(self):
        """Cycles from a beat's issue to :attr:`beat`: its issue and read registers, the block RAM
        landing register if any, and the wait for the pivots."""
        return BEAT_ISSUE + BANK_READ + self._geometry.read_delay + PIVOT_WAIT

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        P, S, GS, shape = g.lanes, g.sample, g.select_copies, g.shape
        reads = {side: getattr(self, f"read_{side}") for side in SIDES}
        # The states after HOLD in copies: one per bank (its read row), and
        # the last for the issue counters; each loads from the one before,
        # register to register, beside its bank.
        samp_ld_c = kept_copies(1, len(SIDES) * P, name="samp_ld")
        gap_c = kept_copies(1, len(SIDES) * P + 1, name="gap")
        run_c = kept_copies(1, len(SIDES) * P + 1, name="run")
        m.d.sync += [*[c.eq(self.before_sample) for c in samp_ld_c],
                     *[c.eq(s) for c, s in zip(gap_c, [*samp_ld_c, self.drain_last], strict=True)]]

        iss_row = Signal(g.row_bits)
        rem = Signal(g.count_bits)   # elements not yet issued in this round
        # The lanes of the round's last beat (not a thermometer of rem,
        # updated as rem counts down: a long path).
        rem_lmask = Signal(P, name="rem_lmask")
        # rem <= P, a registered view loaded beside rem: [0] for the beat
        # and the control, the others each end RUN in a group of banks.
        rem_last_c = kept_copies(1, 1 + -(-len(SIDES) * P // 8), name="rem_last")
        # rem <= 2P: each issue moves it into rem_last (a register, not a compare of rem).
        rem_last2 = Signal()
        m.d.comb += self.rem_last.eq(rem_last_c[0])
        taken = [self.taken[0], self.taken[1]]
        issue, issue_cnt = Signal(), Signal()
        m.d.comb += [issue.eq(taken[0] | self.run), issue_cnt.eq(taken[1] | run_c[-1])]

        # The issue stage: the issued beat's flags, lanes and source selects (in one copy
        # per SELECT_LANES lanes; the side is constant from HOLD until the
        # round's last issue, so they load every cycle).
        iss_valid, iss_first, iss_last = Signal(), Signal(), Signal()
        iss_from_in = kept_copies(1, GS, name="iss_from_in")
        iss_m = kept_copies(1, GS, name="iss_m")
        iss_r = kept_copies(1, GS, name="iss_r")
        iss_mask = Signal(P, reset_less=True)
        iss_in = Signal(data.ArrayLayout(shape, P), reset_less=True)
        m.d.sync += [iss_valid.eq(issue), iss_in.eq(self.in_beat),
                     *[c.eq(self.side_m) for c in iss_m], *[c.eq(self.side_r) for c in iss_r]]
        with m.If(issue_cnt):
            m.d.sync += [
                iss_first.eq(iss_row == 0), iss_last.eq(rem_last_c[0]),
                iss_mask.eq(~rem_last_c[0].replicate(P) | rem_lmask),
                iss_row.eq(iss_row + 1), rem.eq(rem - P),
                *[c.eq(rem_last2) for c in rem_last_c], rem_last2.eq(~greater_than_const(rem, 3 * P)),
            ]
        with m.If(self.start):
            m.d.sync += [iss_row.eq(0), rem.eq(self.n), rem_lmask.eq(self.n_lmask),
                         *[c.eq(self.n_single) for c in rem_last_c], rem_last2.eq(self.n_double),
                         *[c.eq(1) for c in iss_from_in]]
        with m.If(gap_c[-1]):
            m.d.sync += [*[c.eq(0) for c in iss_from_in], rem.eq(self.round_n),
                         rem_lmask.eq(self.round_lmask),
                         *[c.eq(self.round_last) for c in rem_last_c], rem_last2.eq(self.round_last2),
                         iss_row.eq(0)]
        # Each copy of RUN ends under its own copy of rem_last.
        for i, c in enumerate(run_c):
            with m.If(c & rem_last_c[1 + i // 8 if i < len(run_c) - 1 else 0]):
                m.d.sync += c.eq(0)
            with m.If(gap_c[i]):
                m.d.sync += c.eq(1)

        # The banks' read rows, one register per bank and slice, loaded a
        # cycle ahead: the sample rows, row 0 before a round, the next row at
        # each issue. (Round 1 reads no bank.)
        for j in range(P):
            for si, side in enumerate(SIDES):
                c = si * P + j
                rows = kept_copies(unsigned(g.row_bits), g.slices, name=f"raddr{side}{j}", reset_less=True)
                with m.If(samp_ld_c[c]):
                    m.d.sync += [r.eq(self.sample_rows[j] if j < S else 0) for r in rows]
                with m.Elif(gap_c[c]):
                    m.d.sync += [r.eq(0) for r in rows]
                with m.Elif(run_c[c]):
                    m.d.sync += [r.eq(r + 1) for r in rows]
                m.d.comb += [reads[side].rows[j][s].eq(r) for s, r in enumerate(rows)]

        # Q: the banks' read data registered as read, beside the source
        # selects; the source multiplexer follows the register.
        q_rd = {side: [Signal(shape, name=f"q_rd{side}{lane}", reset_less=True) for lane in range(P)]
                for side in SIDES}
        m.d.sync += [q_rd[side][lane].eq(reads[side].data[lane]) for side in SIDES for lane in range(P)]
        # The landing stage, with block RAM: the beat's flags, selects and input data wait
        # a cycle more, beside the banks' landing registers.
        land_flags, land_mask, land_in = (iss_valid, iss_first, iss_last), iss_mask, iss_in
        land_from_in, land_m, land_r = iss_from_in, iss_m, iss_r
        if g.read_delay:
            land_flags = [replicas(m, f, 1, name=f"land_{n}")[0]
                       for f, n in zip(land_flags, ("valid", "first", "last"), strict=True)]
            land_mask = Signal(P, reset_less=True)
            land_in = Signal(data.ArrayLayout(shape, P), reset_less=True)
            m.d.sync += [land_mask.eq(iss_mask), land_in.eq(iss_in)]
            land_from_in, land_m, land_r = (
                [replicas(m, c, 1, name=f"land_{n}{i}")[0] for i, c in enumerate(copies)]
                for copies, n in ((iss_from_in, "from_in"), (iss_m, "m"), (iss_r, "r")))
        q_valid, q_first, q_last, q_mask = Signal(), Signal(), Signal(), Signal(P, reset_less=True)
        q_in = Signal(data.ArrayLayout(shape, P), reset_less=True)
        q_from_in = [replicas(m, c, 1, name=f"q_from_in{i}")[0] for i, c in enumerate(land_from_in)]
        q_m = [replicas(m, c, 1, name=f"q_m{i}")[0] for i, c in enumerate(land_m)]
        q_r = [replicas(m, c, 1, name=f"q_r{i}")[0] for i, c in enumerate(land_r)]
        m.d.sync += [q_valid.eq(land_flags[0]), q_first.eq(land_flags[1]), q_last.eq(land_flags[2]),
                     q_mask.eq(land_mask),
                     q_in.eq(land_in)]
        q_data = [Signal(shape, name=f"q_data{lane}") for lane in range(P)]
        for lane in range(P):
            sel = lane * GS // P
            m.d.comb += q_data[lane].eq(Mux(q_from_in[sel], q_in[lane],
                                            Mux(q_r[sel], q_rd["R"][lane],
                                                Mux(q_m[sel], q_rd["M"][lane], q_rd["L"][lane]))))

        # The delay line to the pivots. Its last stage holds the data twice:
        # one copy for the compares with hi, one for those with lo (one
        # register feeding four carry chains is a long route).
        prev = (q_valid, q_first, q_last, q_mask, q_data)
        for i in range(PIVOT_WAIT):
            cur = (Signal(name=f"d{i}_valid"), Signal(name=f"d{i}_first"), Signal(name=f"d{i}_last"),
                   Signal(P, name=f"d{i}_mask", reset_less=True),
                   [Signal(shape, name=f"d{i}_data{lane}", reset_less=True) for lane in range(P)])
            m.d.sync += [cur[0].eq(prev[0]), cur[1].eq(prev[1]), cur[2].eq(prev[2]), cur[3].eq(prev[3])]
            m.d.sync += [cur[4][lane].eq(prev[4][lane]) for lane in range(P)]
            if i == PIVOT_WAIT - 1:
                data_lo = [replicas(m, prev[4][lane], 1, name=f"d{i}_lo{lane}", reset_less=True)[0]
                           for lane in range(P)]
            prev = cur
        valid, first, last, mask, lanes = prev
        m.d.comb += [self.beat.valid.eq(valid), self.beat.first.eq(first), self.beat.last.eq(last),
                     self.beat.mask.eq(mask), *[self.beat.data[lane].eq(lanes[lane]) for lane in range(P)],
                     *[self.beat.data_lo[lane].eq(data_lo[lane]) for lane in range(P)]]
        return m
