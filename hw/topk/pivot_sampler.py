"""The top-k engine's pivot sampler: a round's sample, ranked into its two pivots."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.topk_cycles import lfsr_seeds
from golden.topk_timing import SAMPLE_REGISTER

from ..lfsr import Lfsr
from ..rank_select import RankSelect
from ..rank_target import RankTarget
from ..replicate import kept_copies, replicas
from .geometry import check_geometry

__all__ = ["PivotSampler", "SIDES"]

# The bank sets of a round's three parts: L (> hi), M (between the pivots), R (< lo).
SIDES = "LMR"


class PivotSampler(wiring.Component):
    """Takes a round's sample of ``S`` candidates and ranks it into the pivots ``hi >= lo``.

    Round 1 samples the request's first input beat; a later round first
    reads one candidate per bank ``j < S`` from a row chosen by bank ``j``'s
    LFSR, masked to the rows below the largest power of two <= the part's
    full rows (a sample spread over the whole part: sorted inputs do not
    always offer the extreme values of the first beat). The LFSRs restart
    from seeds derived from ``lfsr_seed`` at every request and step at each
    sample read (``golden.topk_cycles.sample_rows``). The ranks wanted come
    from the round's ``n`` and ``k`` (:class:`hw.rank_target.RankTarget`).

    Parameters
    ----------
    geometry : TopKGeometry
    lfsr_seed : int
        Seed of the sample LFSRs (validated by the engine).

    Members
    -------
    reload : In(1)
        A request is accepted: the LFSRs restart a cycle later.
    sample_read : In(1)
        The banks read the sample rows (``sample_rows``) in this cycle.
    first_taken, first_lanes : In(1), In(S)
        Round 1's sample: the request's first beat is taken, and its lanes.
    scores : In(ArrayLayout(score, P))
        The score beat offered (round 1's sample is its first ``S`` lanes).
    side_m, side_r, round_lanes, n, k : In
        The round reads part M / R (neither: L), the lanes of its candidates
        among the sample's, its candidates and the rank wanted.
    bank_data_L, bank_data_M, bank_data_R : In(ArrayLayout(score, P))
        The banks' read data (``read_delay`` + 1 cycles after their rows).
    rows_masks_L, rows_masks_M, rows_masks_R : In(ArrayLayout(mask, G))
        Each part's rows mask, per lane group; ``above_hi`` / ``above_lo``:
        the next round reads L / M (the decision's sign bits).
    sample_rows : Out(ArrayLayout(row, S))
        The next sample read's rows, registered (final a cycle after the
        decision: the LFSRs step only at a sample read).
    pivot_hi, pivot_lo : Out(ArrayLayout(score, copies))
        The pivots, in one copy per ``PIVOT_LANES`` lanes, :attr:`latency`
        cycles after the sample is taken; held until the next sample.

    Latency: :attr:`latency` = the sample register, the block RAM landing
    register if any, and :attr:`hw.rank_select.RankSelect.latency`.
    """

    def __init__(self, *, geometry, lfsr_seed):
        self._geometry = g = check_geometry(geometry)
        self._lfsr_seed = lfsr_seed
        P, S, G = g.lanes, g.sample, g.broadcast_copies
        lanes = data.ArrayLayout(g.shape, P)
        masks = data.ArrayLayout(unsigned(g.mask_bits), G)
        pivots = data.ArrayLayout(g.shape, g.pivot_copies)
        super().__init__({
            "reload": In(1), "sample_read": In(1), "first_taken": In(1), "first_lanes": In(S),
            "scores": In(lanes), "side_m": In(1), "side_r": In(1), "round_lanes": In(S),
            "n": In(g.count_bits), "k": In(g.count_bits),
            **{f"bank_data_{side}": In(lanes) for side in SIDES},
            **{f"rows_masks_{side}": In(masks) for side in SIDES},
            "above_hi": In(1), "above_lo": In(1),
            "sample_rows": Out(data.ArrayLayout(unsigned(g.row_bits), S)),
            "pivot_hi": Out(pivots), "pivot_lo": Out(pivots),
        })

    @staticmethod
    def rank_select_of(geometry):
        """The pivot picker: two ranks, each in one copy per ``PIVOT_LANES`` lanes."""
        return RankSelect(sample=geometry.sample, shape=geometry.shape, ranks=2, copies=geometry.pivot_copies)

    @property
    def latency(self):
        return SAMPLE_REGISTER + self._geometry.read_delay + RankSelect.LATENCY

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        S, G, shape = g.sample, g.broadcast_copies, g.shape

        m.submodules.target = target = RankTarget(sample=S, count_bits=g.count_bits)
        m.d.comb += [target.n.eq(self.n), target.k.eq(self.k)]
        # The targets must have settled when the rank select reads them,
        # TARGET_DELAY cycles after the sample enters it. The sample enters
        # two cycles (RS, RQ) after the first input beat, which comes at the
        # earliest two cycles after ACCEPT loads n and k (PREP between): at
        # most 3 + TARGET_DELAY cycles for the target. (Later rounds load
        # them in HOLD, drain_cycles + 1 before the sample read.)
        assert target.latency <= 3 + RankSelect.TARGET_DELAY, "the rank target settles too late"

        # The next round's rows mask per lane group: the part it reads (L if
        # n(> hi) >= k, else M if n(> lo) >= k, else R), selected after the
        # masks' registers, by copies of the sign bits of its own.
        next_masks = []
        for copy in range(G):
            sel_u = replicas(m, self.above_hi, 1, name=f"mask_u{copy}", reset_less=False)[0]
            sel_m = replicas(m, self.above_lo, 1, name=f"mask_m{copy}", reset_less=False)[0]
            next_masks.append(Mux(sel_u, self.rows_masks_L[copy],
                                  Mux(sel_m, self.rows_masks_M[copy], self.rows_masks_R[copy])))
        # The LFSRs restart one cycle after the request is accepted: a
        # register, not the handshake, drives their reset.
        reload = replicas(m, self.reload, S, name="reload", reset_less=False)
        for j, seed in enumerate(lfsr_seeds(self._lfsr_seed, S)):
            lfsr = Lfsr(seed=seed)
            m.submodules[f"lfsr{j}"] = lfsr
            m.d.comb += [lfsr.reload.eq(reload[j]), lfsr.step.eq(self.sample_read)]
            # The masked row, registered every cycle, so that no select and
            # AND sit in front of the banks' read rows.
            row = Signal(g.row_bits, name=f"samp_row{j}", reset_less=True)
            m.d.sync += row.eq(lfsr.value & next_masks[g.group(j, G)])
            m.d.comb += self.sample_rows[j].eq(row)

        # RS: the sample's source, valid and lanes. The source's selects are
        # in one copy per sample lane (a copy per two lanes drives 32
        # multiplexer bits), loaded every cycle: they matter under rs_valid.
        rs_valid = Signal()
        rs_m = kept_copies(1, S, name="rs_m")
        rs_r = kept_copies(1, S, name="rs_r")
        rs_mask = Signal(S, reset_less=True)
        m.d.sync += [*[c.eq(self.side_m) for c in rs_m], *[c.eq(self.side_r) for c in rs_r],
                     rs_valid.eq(self.sample_read | self.first_taken),
                     rs_mask.eq(Mux(self.sample_read, self.round_lanes, self.first_lanes))]
        # Round 1's sample, the input beat (alt), registered a cycle ahead
        # with its select (use_alt): a four-input multiplexer into RQ.
        use_alt = [Signal(name=f"use_alt{j}", reset_less=True) for j in range(S)]
        alt = [Signal(shape, name=f"alt{j}", reset_less=True) for j in range(S)]
        m.d.sync += [*[u.eq(~self.sample_read) for u in use_alt],
                     *[a.eq(self.scores[j]) for j, a in enumerate(alt)]]
        # RT, with block RAM: the sample waits a cycle for the banks' read
        # data to leave their landing registers (no logic after a block RAM).
        if g.read_delay:
            rt_valid, rt_mask = Signal(), Signal(S, reset_less=True)
            use_src = [Signal(name=f"use_alt_d{j}", reset_less=True) for j in range(S)]
            alt_src = [Signal(shape, name=f"alt_d{j}", reset_less=True) for j in range(S)]
            m.d.sync += [rt_valid.eq(rs_valid), rt_mask.eq(rs_mask),
                         *[d.eq(a) for d, a in zip(alt_src, alt, strict=True)],
                         *[d.eq(u) for d, u in zip(use_src, use_alt, strict=True)]]
        else:
            rt_valid, rt_mask, use_src, alt_src = rs_valid, rs_mask, use_alt, alt
        # RQ: the sample registered after its source multiplexer, so that
        # the rank select's comparators start from registers.
        rq_valid, rq_mask = Signal(), Signal(S, reset_less=True)
        rq_data = Signal(data.ArrayLayout(shape, S), reset_less=True)
        m.d.sync += [rq_valid.eq(rt_valid), rq_mask.eq(rt_mask)]
        for lane in range(S):
            bank = Mux(rs_r[lane], self.bank_data_R[lane],
                       Mux(rs_m[lane], self.bank_data_M[lane], self.bank_data_L[lane]))
            m.d.sync += rq_data[lane].eq(Mux(use_src[lane], alt_src[lane], bank))

        m.submodules.rank = rank = self.rank_select_of(g)
        m.d.comb += [rank.i_valid.eq(rq_valid), rank.i_mask.eq(rq_mask), rank.i_data.eq(rq_data),
                     rank.target[0].eq(target.target_hi), rank.target[1].eq(target.target_lo),
                     self.pivot_hi.eq(rank.o_value[0]), self.pivot_lo.eq(rank.o_value[1])]
        return m
