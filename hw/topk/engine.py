"""SpAtten top-k engine: quick-select of the k-th largest score, then one
pass over the input that keeps the top k in input order."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.topk_cycles import LUT_RAM_ROWS, START_DELAY, lfsr_seeds

from ..compare import greater_equal, greater_than, greater_than_const, thermometer
from ..credit_fifo import CreditFifo
from ..lane_ram import LaneRam
from ..lfsr import Lfsr
from ..params import check_bool, check_int, check_pow2
from ..prefix_sum import popcount, prefix_counts, prefix_levels, staged_block_counts
from ..rank_select import RankSelect
from ..rank_target import RankTarget
from ..replicate import kept_copies, replicas
from ..zero_eliminator import ZeroEliminator
from .rotate import rotate, rotate_layers

__all__ = ["TopKEngine"]

# Bank sets of the three parts of a round: U (> hi), M (lo < x < hi), D (< lo).
SIDES = "LMR"
# The counted classes of a round, in the order of the decision's tests.
CLASSES = ("gt_hi", "ge_hi", "gt_lo", "ge_lo")


def _last_mask(n, P):
    """Lanes of the last beat of ``n >= 1`` elements, ``P`` per beat: lane ``l`` if ``l <= (n - 1) mod P``.

    A function of the low ``log2(P)`` bits of ``n`` only (one LUT per lane).
    """
    low = n[:P.bit_length() - 1]
    return Cat(*[(low == 0) | greater_than_const(low, l) for l in range(P)])


def _early_count(m, bits, name):
    """``popcount(bits)`` three cycles later, as a zero eliminator's early count.

    The block totals of ``staged_block_counts`` (two stages; its unused
    prefix counts are removed by synthesis), then their sum: the stages of
    ``ZeroEliminator.early_count``, so that both arrive together.
    """
    assert ZeroEliminator.EARLY_LATENCY == 3
    P = len(bits)
    _, blocks = staged_block_counts(m, bits, bits, P, min(P, 8), name=name)
    total = Signal(range(P + 1), name=name)
    m.d.sync += total.eq(popcount(blocks))
    return total


def _greater_at_least(m, lanes, refs, mask, P, name):
    """Per lane ``mask & (lanes[l] > ref)`` and ``mask & (lanes[l] >= ref)``: two carry chains.

    ``refs`` are copies of the reference, one per group of ``P // len(refs)``
    lanes. The mask rides in the chains (``hw.compare``), so each result
    leaves its chain with no LUT after it; equality is then ``ge & ~gt``, one
    gate beside the register, instead of an XOR/AND tree three LUT levels deep.
    """
    per = P // len(refs)
    gt, ge = Signal(P, name=f"{name}_gt"), Signal(P, name=f"{name}_ge")
    m.d.comb += [gt.eq(Cat(*[greater_than(lanes[l], refs[l // per], mask=mask[l]) for l in range(P)])),
                 ge.eq(Cat(*[greater_equal(lanes[l], refs[l // per], mask=mask[l]) for l in range(P)]))]
    return gt, ge


class TopKEngine(wiring.Component):
    """Top-k of ``n`` scores with the SpAtten tie rule (``golden.topk``).

    Quick-select rounds run over ``P`` scores per cycle. The paper's round
    compares every candidate with one pivot and keeps the side holding rank
    ``k``; here each round compares with two pivots ``hi >= lo`` (``2P``
    comparators per pivot: greater and less) that bracket an estimate of the
    k-th value, counts the candidates ``> hi``, ``>= hi``, ``> lo`` and ``>=
    lo``, and three zero eliminators pack the three parts, U (``> hi``), M
    (``lo < x < hi``) and D (``< lo``), into the banked buffers L, M and R
    (``P`` one-element-wide memories each, written at a rotating fill offset).
    The next round reads the part that holds rank ``k``, usually M (about
    ``2 n_i / (S + 1)`` candidates); it rewrites its own buffer from row 0,
    never overtaking its reads. If ``hi`` or ``lo`` is the k-th value the
    selection ends. Against one pivot this cuts the rounds at P = 16, n = 1024
    from about 5.3 to 3.9 (``golden.topk_cycles``). The first round is fused
    with the input, which is also kept in an input buffer in input order. A
    final pass reads the input buffer, keeps ``x > T`` and the earliest
    ``x == T`` (``T`` the k-th value), packs and emits them with their indices.

    Pivot rule: a sample of ``m = min(n_i, S)`` candidates (``S = min(P,
    16)``) is ranked against itself, and the pivots are the elements of
    descending ranks ``k_i - 1`` (both, if ``n_i <= S``: exact, the round
    ends the selection) or ``max(0, t - 1)`` and ``min(S - 1, t + 1)`` with
    ``t = min(S - 1, k_i * S // n_i)``, the sample rank that estimates the
    k-th value. Round 1 samples the first input
    beat; a later round first reads one candidate per bank ``j < m`` from a
    row chosen by bank ``j``'s LFSR (a spread sample: sorted inputs stay near
    the random-input cost). The LFSRs restart from seeds derived from
    ``lfsr_seed`` at every request, so each request's cycles are reproducible
    (``golden.topk_cycles``).

    Parameters
    ----------
    n_max : int
        Largest ``n`` per request, 1..65536.
    parallelism : int
        ``P``, lanes per beat, power of two in 2..64.
    score_bits : int
        Score width, 2..64.
    signed : bool
        Scores are two's complement.
    lfsr_seed : int
        1..65535, seed of the sample LFSRs.
    ordered : bool
        Add the ``final_go`` input: one engine among several behind one
        interface (:class:`hw.topk.interleave.TopKInterleave`).

    Members
    -------
    request : In(stream) of ``{n, k}``
        One beat per request.
    scores : In(stream) of ``ArrayLayout(score, P)``
        ``ceil(n / P)`` beats per request, consumed after the request beat.
    result : Out(stream) of ``{index, score, count, last, error}``
        The kept elements in input order, packed into lanes ``0..count-1``,
        at most one beat per input beat; ``last`` on the final beat.
    final_go : In(1), with ``ordered`` only
        The final pass may start (the results of earlier requests, from
        other engines, are out). The final pass starts in the cycle after
        the later of the last decision's next cycle and the first cycle
        ``final_go`` is high; it stays high until this request's last
        result beat.

    Latency and throughput (no bubbles, no backpressure, ``nb_i =
    ceil(n_i / P)`` beats in round ``i``, cycle 0 = first score beat accepted):
    round 1 decides at cycle ``nb_1 - 1 + round_latency``; round ``i > 1``
    decides ``nb_i + round_gap + round_latency - 1`` cycles after round
    ``i-1``; the k-th value is known at the last decision, cycle ``D``
    ("select cycles" ``= D + 1``, counting cycle 0). The result beat holding
    input row ``j`` is transferred at cycle ``D + 1 + j + final_latency``
    (total cycles: that plus one). Throughput: ``P`` scores per cycle in every
    round and in the final pass. See
    ``golden/topk_cycles.py`` for the exact model. Requests are accepted only
    when idle (at the latest two cycles after the last result beat); scores are
    taken from the third cycle after the request.
    Bad requests never hang: ``k > n`` keeps all ``n`` and sets ``error`` on
    the last beat; ``n == 0`` or ``n > n_max`` consumes the ``ceil(n / P)``
    beats and answers one empty beat with ``error``; ``k == 0`` answers one
    empty beat.

    Reset: ``rst`` (synchronous, one cycle is enough) drops the request under
    way, whatever its phase, and returns to idle. Only the control registers
    (state, valids, counters, credits, enables) are reset; the data
    registers (scores, classes, masks, counts, rows, copies) are not: they
    are read only under a valid, and a reset net to every one of them (about
    17,000 flip-flops at P = 16) is routing the place and route must find.
    """

    def __init__(self, *, n_max, parallelism, score_bits, signed=False, lfsr_seed=1, ordered=False):
        n_max = check_int("n_max", n_max, 1, 65536)
        P = check_pow2("parallelism", parallelism, 2, 64)
        score_bits = check_int("score_bits", score_bits, 2, 64)
        check_bool("signed", signed)
        lfsr_seed = check_int("lfsr_seed", lfsr_seed, 1, 65535)
        check_bool("ordered", ordered)
        self._n_max, self._P, self._score_bits = n_max, P, score_bits
        self._signed, self._lfsr_seed, self._ordered = signed, lfsr_seed, ordered
        # An engine among several (hw.topk.interleave) starts its final pass
        # only once the results of the requests before its own are out.
        gate = {"final_go": In(1)} if ordered else {}
        super().__init__({
            **gate,
            "request": In(stream.Signature(data.StructLayout({
                "n": self.count_bits, "k": self.count_bits}))),
            "scores": In(stream.Signature(data.ArrayLayout(self.score_shape, P))),
            "result": Out(stream.Signature(data.StructLayout({
                "index": data.ArrayLayout(self.index_bits, P),
                "score": data.ArrayLayout(self.score_shape, P),
                "count": range(P + 1),
                "last": 1,
                "error": 1,
            }))),
        })

    n_max = property(lambda self: self._n_max)
    parallelism = property(lambda self: self._P)
    lanes = property(lambda self: self._P)
    score_bits = property(lambda self: self._score_bits)
    signed = property(lambda self: self._signed)
    lfsr_seed = property(lambda self: self._lfsr_seed)
    ordered = property(lambda self: self._ordered)

    @property
    def score_shape(self):
        return signed(self._score_bits) if self._signed else unsigned(self._score_bits)

    @property
    def count_bits(self):
        return self._n_max.bit_length()

    @property
    def index_bits(self):
        return max(1, (self._n_max - 1).bit_length())

    @property
    def sample(self):
        """``S``: candidates ranked to choose the pivots."""
        return self.sample_of(self._P)

    @staticmethod
    def sample_of(parallelism):
        """``S = min(P, 16)`` of an engine with ``parallelism`` lanes."""
        return min(parallelism, 16)

    @classmethod
    def rank_select_of(cls, parallelism, shape):
        """The pivot picker of an engine with ``parallelism`` lanes and scores of ``shape``.

        Two ranks (the pivots), each in one copy per :attr:`PIVOT_LANES` lanes.
        """
        return RankSelect(sample=cls.sample_of(parallelism), shape=shape, ranks=2,
                          copies=max(1, parallelism // cls.PIVOT_LANES))

    @property
    def rows(self):
        """Depth of the input buffer and of each bank of L, M and R."""
        return -(-self._n_max // self._P)

    @property
    def block_ram(self):
        """The buffers are block RAM (more than :attr:`LUT_RAM_ROWS` rows)."""
        return self.rows > self.LUT_RAM_ROWS

    @property
    def read_delay(self):
        """Cycles a buffer read takes beyond one (:attr:`hw.lane_ram.LaneRam.latency`): 0 or 1.

        The sample, the beats and the final pass wait that long for it.
        """
        return LaneRam.latency_of(block=self.block_ram) - 1

    @property
    def round_latency(self):
        """Cycles from issuing a round's last beat to its decision.

        The beat's issue and read (2), the pivots' wait (the sample's
        register after its read, one more with block RAM, and
        :attr:`RankSelect.latency <hw.rank_select.RankSelect.latency>`), the
        compare (1), the parts' register (1), the zero eliminator up to its
        early count, and the decision register (1).
        """
        return 5 + self.read_delay + RankSelect.LATENCY + ZeroEliminator.EARLY_LATENCY

    @property
    def round_gap(self):
        """Cycles from a decision to the next round's sample read (its rows follow).

        The sample read follows the write of the decided side's last row,
        which lands two cycles after the decision (the shifter's last stage,
        the registered rotation) plus the rotation's inner registers.
        """
        return 2 + self.drain_cycles

    @property
    def drain_cycles(self):
        """Cycles the FSM waits between HOLD and GAP.

        The rotation's inner registers and one more, so that the decided
        side's last row is written before the sample read (reading it in
        the cycle of its write would need a bypass from the three sides'
        write registers into the sample: long routes); at least one:
        the sample rows are registered in HOLD and loaded into the read rows
        in the last.
        """
        return max(1, rotate_layers(self._P))

    # Bits of a memory slice with its own read row (hw.lane_ram).
    RAM_SLICE_BITS = 8
    # Deepest buffer left to LUT RAM; deeper ones are block RAM, one memory
    # per lane, whose reads land in flip-flops of their own (hw.lane_ram: at
    # 128 rows the LUT RAM's row multiplexer is a slow path). The golden
    # cycle model owns the threshold.
    LUT_RAM_ROWS = LUT_RAM_ROWS
    # Columns whose rotation multiplexers share one copy of the fill offset.
    ROTATE_GROUP = 1
    # Lanes served by one copy of a broadcast register (the input buffer's
    # write row, the final pass's read rows, the rows masks): one copy per
    # group keeps each net short (hw.replicate).
    COPY_LANES = 4
    # Lanes whose data multiplexers share one copy of their select.
    SELECT_LANES = 2
    # Lanes compared with one copy of each pivot (four carry chains per
    # lane), and with one copy of the final pass's threshold.
    PIVOT_LANES = 2

    @property
    def final_latency(self):
        """Cycles from the last decision's next cycle plus the row index to that row's result beat.

        HOLD (1), read (1), the read's landing register with block RAM (1), compare
        (1), three prefix-count stages of the equal elements (3), keep (1),
        the packing zero eliminator, and the result FIFO.
        """
        return 7 + self.read_delay + ZeroEliminator.latency_of(split=True) + CreditFifo.LATENCY

    @property
    def out_fifo_depth(self):
        """Depth of the result FIFO (enough credits to never throttle an unstalled pass).

        A credit comes back ``final_latency + 2`` cycles after its row's
        issue: the smallest power of two that covers that (16 with LUT RAM,
        32 with block RAM).
        """
        return 1 << (self.final_latency + 1).bit_length()

    @property
    def start_delay(self):
        """Cycles from accepting a request to the first cycle scores are taken (ACCEPT, PREP).

        The state machine's request states; ``golden.topk_cycles`` holds
        the number with the other request-control delays.
        """
        return START_DELAY

    def elaborate(self, platform):
        m = Module()
        P, S, NB = self._P, self.sample, self.rows
        shape, cb = self.score_shape, self.count_bits
        lp = P.bit_length() - 1
        row_w = max(1, (NB - 1).bit_length())
        G = max(1, P // self.COPY_LANES)     # copies of a broadcast register
        GS = max(1, P // self.SELECT_LANES)  # copies of a data multiplexer's select
        GT = max(1, P // self.PIVOT_LANES)   # copies of the final pass's threshold

        # --- storage ------------------------------------------------------------
        # The input buffer as one memory per lane, each with its own read
        # row (one shared row register drove every LUT RAM of the buffer).
        # Each memory in slices of RAM_SLICE_BITS, each with its own copy of
        # the read row (hw.lane_ram), or one block RAM per lane. No read
        # that is used hits the row written in that cycle (block RAM leaves
        # it undefined): a round's writes into the part it reads trail its
        # reads by the pipeline, the sample read waits for the last write,
        # and the final pass reads the input buffer after the input.
        def lane_ram(name):
            ram = LaneRam(shape=shape, depth=NB, block=self.block_ram,
                          slice_bits=shape.width if self.block_ram else self.RAM_SLICE_BITS)
            m.submodules[name] = ram
            return ram

        in_rams = [lane_ram(f"inbuf{l}") for l in range(P)]
        # The parts of a round: U (> hi) in L, M (between the pivots) in M,
        # D (< lo) in R. A round reads one of them and rewrites it from row
        # 0 with its own part of that class (writes never overtake reads).
        banks = {side: [lane_ram(f"bank{side}{j}") for j in range(P)] for side in SIDES}

        # --- request state ------------------------------------------------------
        req_n, req_k = Signal(cb), Signal(cb)   # the request, registered as accepted
        discard = Signal()           # scores are being consumed and dropped
        clamped = Signal()
        empty_err = Signal()
        cur_n = Signal(cb)           # candidates of the current round
        cur_k = Signal(cb)           # rank wanted among them
        cur_km1 = Signal(cb)         # cur_k - 1
        # thermometer(cur_n) and cur_n <= P, registered every cycle: final in
        # GAP (cur_n is loaded in HOLD, DRAIN follows), where the sample read
        # and the issue counters take them (no compare in front of them).
        cur_th, cur_last, cur_last2 = Signal(P, name="cur_th"), Signal(), Signal()
        # This round's part sizes (U, M, D), counted as the beats pass.
        acc = {sd: Signal(cb, name=f"acc{sd}") for sd in SIDES}
        # The decision's compares as running differences whose sign bits are
        # registers: run[c] = (k - 1) - (candidates in class c so far), for
        # the classes > hi, >= hi, > lo, >= lo; k - (>= hi) and k - (>= lo)
        # also run, as the next round's k (no adder after the decision).
        run = {c: Signal(signed(cb + 2), name=f"run_{c}") for c in CLASSES}
        k_ge_hi, k_ge_lo = Signal(signed(cb + 2)), Signal(signed(cb + 2))
        decide = Signal()            # the counts are final: decide the next round
        # The registered outcome of the decision (see the control section).
        out_u, out_m, out_d, out_end = Signal(), Signal(), Signal(), Signal()
        # The k-th value is hi (if the selection ends): one copy per threshold
        # copy and one for the quota.
        out_t_hi = kept_copies(1, GT + 1, name="out_t_hi")
        side_m, side_r = Signal(), Signal()    # the round reads M / R (neither: L)
        iss_row = Signal(row_w)
        rem = Signal(cb)             # elements not yet issued in this round
        # The lanes of the round's last beat, lane l if l <= (n - 1) mod P
        # (a function of the low bits of n): a beat's mask is that if it is
        # the last, else every lane (not a thermometer of rem, updated as
        # rem counts down: a long path).
        rem_lmask = Signal(P, name="rem_lmask")
        # rem <= P (the next beat is the last), a registered view loaded
        # beside rem, so that no compare sits between rem and its users.
        # rem_last in copies: [0] for the beat and the FSM, the others each
        # end RUN in a group of the read rows' copies of the flag.
        rem_last_c = kept_copies(1, 1 + -(-len(SIDES) * P // 8), name="rem_last")
        rem_last = rem_last_c[0]
        # rem <= 2P (the beat after the next is the last): each issue moves it
        # into rem_last, so that the copies load a register, not a compare
        # of rem (with the loads' multiplexer after it: a long path).
        rem_last2 = Signal()
        disc = Signal(cb)            # beats still to discard
        # The threshold in one copy per lane group (kept apart: hw.replicate).
        thresholds = kept_copies(shape, GT, name="threshold", reset_less=True)
        # Elements equal to the threshold still to keep, and that minus P,
        # one copy per lane group (each group's quota from its own adders).
        rooms = kept_copies(signed(cb + 2), G, name="room")
        rooms_mp = kept_copies(signed(cb + 2), G, name="room_mp")

        in_first = Signal()          # the next input beat is the request's first (a register)
        in_row = Signal(row_w)       # input beats accepted
        in_rem = Signal(cb)          # input elements not yet accepted
        in_last = Signal()           # in_rem <= P (a register)
        in_th = Signal(S)            # thermometer(n, S): the sample lanes of the first beat
        run_issue = Signal()
        seeds = lfsr_seeds(self._lfsr_seed, S)
        # The banks' read rows, one register per bank (the L, M and R banks of a
        # column sit apart), loaded a cycle ahead: the LFSR-chosen sample row
        # before the sample read, row 0 before a round, the next row at each
        # issue. (The issue row and the sample-read flag in front of every
        # bank's address would be a long path.)
        raddrs = {sd: [kept_copies(row_w, banks[sd][j].slices, name=f"raddr{sd}{j}", reset_less=True)
                       for j in range(P)]
                  for sd in SIDES}

        m.submodules.target = target = RankTarget(sample=S, count_bits=cb)
        m.d.comb += [target.n.eq(cur_n), target.k.eq(cur_k)]
        # The targets must have settled when the rank select reads them,
        # TARGET_DELAY cycles after the sample enters it. The sample enters
        # two cycles (RS, RQ) after the first input beat, which comes at the
        # earliest two cycles after ACCEPT loads cur_n and cur_k (PREP
        # between): at most 3 + TARGET_DELAY cycles for the target. (Later
        # rounds load them in HOLD, drain_cycles + 1 before the sample read.)
        assert target.latency <= 3 + RankSelect.TARGET_DELAY, "the rank target settles too late"
        cur_lmask = Signal(P, name="cur_lmask")
        m.d.sync += [cur_th.eq(thermometer(cur_n, P)), cur_last.eq(~greater_than_const(cur_n, P)),
                     cur_last2.eq(~greater_than_const(cur_n, 2 * P)),
                     cur_lmask.eq(_last_mask(cur_n, P))]

        # --- sample stage: the pivots' sample (RS, RQ, then the rank select) ---
        # Round 1 ranks the first input beat; a later round first reads one
        # element per bank from an LFSR-chosen row (position row * P + bank),
        # a sample spread over the whole candidate set, so that sorted inputs
        # do not always offer the extreme values of the first beat.
        sample_read = Signal()       # the GAP cycle: the banks read the sample rows (a register)
        m.d.sync += sample_read.eq(0)
        rs_valid = Signal()
        # The sample source's selects, in one copy per sample lane (a copy
        # per two lanes drives 32 multiplexer bits: too many).
        rs_m = kept_copies(1, S, name="rs_m")
        rs_r = kept_copies(1, S, name="rs_r")
        rs_mask = Signal(S, reset_less=True)
        in_reg = Signal(data.ArrayLayout(shape, P), reset_less=True)
        # The input beat and its row, registered every cycle (no enable); the
        # input buffer is written from these registers a cycle after the
        # handshake (a write enable decoded from the handshake would fan out
        # to every LUT RAM of the buffer).
        m.d.sync += in_reg.eq(self.scores.payload)
        in_hs = self.scores.valid & self.scores.ready & ~discard
        in_row_c = replicas(m, in_row, G, name="in_row_d", reset_less=True)
        in_hs_c = replicas(m, in_hs, G, name="in_hs_d")
        # An input beat is accepted in the previous cycle, in two copies of
        # its own (the beat's issue and the issue counters): left unkept,
        # Yosys merged it into a write-enable copy of the input buffer.
        hs_d_c = replicas(m, in_hs, 2, name="hs_d")
        for l, ram in enumerate(in_rams):
            g = l * G // P
            m.d.comb += [ram.w_addr.eq(in_row_c[g]), ram.w_data.eq(in_reg[l]), ram.w_en.eq(in_hs_c[g])]
        # Rows below the largest power of two <= the full rows of the next
        # round (an AND mask, no modulo): bit b is set if the part has at
        # least 2 ** (b + 1) full rows, any(full[b + 1:]) of its size's row
        # count full = acc >> log2(P). A beat adds at most P elements, so
        # full grows by at most one per cycle from 0 at the round's first
        # beat: it reaches 2 ** (b + 1) with bit b + 1 set. The mask bit is
        # therefore a sticky copy of that bit, one cycle behind acc, cleared
        # in the cycle after acc restarts (acc_restart). (As an OR of the
        # bits above, ABC shares the ORs into a chain of LUTs, one per bit.)
        acc_restart = {sd: Signal(name=f"acc_restart{sd}") for sd in SIDES}

        def rows_mask(sd, name):
            full = acc[sd][lp:]
            mask = Signal(len(full), name=name, attrs={"keep": 1})
            m.d.sync += mask.eq(Mux(acc_restart[sd], 0, mask) | full[1:])
            return mask

        # The next round's mask: each part's mask and the part the next
        # round reads (U if n(> hi) >= k, else M if n(> lo) >= k, else D),
        # each in one copy per group of banks, final the cycle after the
        # decision (HOLD), when the sample rows are loaded into the banks'
        # read-row registers; the part is selected after the registers.
        # (Not the decision's sign bits in front of one mask register per
        # group: a long path.)
        next_masks = []
        for g in range(G):
            part_masks = {sd: rows_mask(sd, f"mask{sd}{g}") for sd in SIDES}
            sel_u = replicas(m, run["gt_hi"][-1], 1, name=f"mask_u{g}")[0]
            sel_m = replicas(m, run["gt_lo"][-1], 1, name=f"mask_m{g}")[0]
            next_masks.append(Mux(sel_u, part_masks["L"], Mux(sel_m, part_masks["M"], part_masks["R"])))
        samp_row = []
        # The LFSRs restart one cycle after the request is accepted (they
        # step only at a later round's sample read): a register, not the
        # handshake, drives their reset.
        reload = replicas(m, self.request.valid & self.request.ready, S, name="reload")   # one per LFSR
        for j in range(S):
            lfsr = Lfsr(seed=seeds[j])
            m.submodules[f"lfsr{j}"] = lfsr
            m.d.comb += [lfsr.reload.eq(reload[j]), lfsr.step.eq(sample_read)]
            # The masked row, registered every cycle (final in the first
            # DRAIN cycle: the LFSR steps only at the sample read), goes into
            # the bank's read-row registers in the last DRAIN cycle. (The
            # masks' select and AND in front of the read rows, which sit by
            # their banks, would be a long route after logic.)
            row = Signal(row_w, name=f"samp_row{j}", reset_less=True)
            m.d.sync += row.eq(lfsr.value & next_masks[j * G // P])
            samp_row.append(row)
        first_in = self.scores.valid & self.scores.ready & ~discard & in_first
        # Loaded every cycle (no clock enable from the handshake: a long
        # path); the values matter only when rs_valid is set.
        m.d.sync += [*[c.eq(side_m) for c in rs_m], *[c.eq(side_r) for c in rs_r]]
        m.d.sync += [rs_valid.eq(sample_read | first_in),
                     rs_mask.eq(Mux(sample_read, cur_th[:S], in_th))]
        # RQ: the sample beat registered after the source mux, so that the
        # rank comparators start from registers. The input beat comes from
        # a register (alt) loaded a cycle ahead, with its select (use_alt):
        # a four-input multiplexer, two LUT levels (five inputs took three).
        # With block RAM, RT: the sample one cycle later, when the banks'
        # read data leaves their landing registers (hw.lane_ram: a block
        # RAM's output comes 5.8 ns after the clock on ECP5, and a
        # multiplexer after it halved Fmax). A LUT RAM's read data already
        # leaves a flip-flop.
        rq_valid, rq_mask = Signal(), Signal(S, reset_less=True)
        use_alt = [Signal(name=f"use_alt{j}", reset_less=True) for j in range(S)]
        alt = [Signal(shape, name=f"alt{j}", reset_less=True) for j in range(S)]
        rq_data = Signal(data.ArrayLayout(shape, S), reset_less=True)
        q_rd = {sd: [Signal(shape, name=f"q_rd{sd}{l}", reset_less=True) for l in range(P)]
                for sd in SIDES}
        m.d.sync += [q_rd[sd][l].eq(banks[sd][l].r_data) for sd in SIDES for l in range(P)]
        if self.read_delay:
            rt_valid, rt_mask = Signal(), Signal(S, reset_less=True)
            use_src = [Signal(name=f"use_alt_d{j}", reset_less=True) for j in range(S)]
            alt_src = [Signal(shape, name=f"alt_d{j}", reset_less=True) for j in range(S)]
            m.d.sync += [rt_valid.eq(rs_valid), rt_mask.eq(rs_mask),
                         *[d.eq(a) for d, a in zip(alt_src, alt, strict=True)],
                         *[d.eq(u) for d, u in zip(use_src, use_alt, strict=True)]]
        else:
            rt_valid, rt_mask, use_src, alt_src = rs_valid, rs_mask, use_alt, alt
        read = {sd: [bank.r_data for bank in banks[sd]] for sd in SIDES}
        m.d.sync += [rq_valid.eq(rt_valid), rq_mask.eq(rt_mask)]
        for l in range(S):
            bank = Mux(rs_r[l], read["R"][l], Mux(rs_m[l], read["M"][l], read["L"][l]))
            m.d.sync += rq_data[l].eq(Mux(use_src[l], alt_src[l], bank))

        # The two pivots hi >= lo, each in one copy per lane group.
        m.submodules.rank = rank = self.rank_select_of(P, shape)
        m.d.comb += [rank.i_valid.eq(rq_valid), rank.i_mask.eq(rq_mask), rank.i_data.eq(rq_data),
                     rank.target[0].eq(target.target_hi), rank.target[1].eq(target.target_lo)]
        pivot_hi, pivot_lo = rank.o_value[0], rank.o_value[1]

        # --- data stage S: beat from the input (one cycle later) or from L, M or R
        # The state flags GAP and RUN (and the last DRAIN cycle) in copies:
        # one per bank (its read row, below), and the last for the issue
        # counters (the flags drove all of these; a copy per four banks
        # left a long route from its enable gate to banks placed apart).
        samp_ld_c = kept_copies(1, len(SIDES) * P, name="samp_ld")
        gap_c = kept_copies(1, len(SIDES) * P + 1, name="gap")
        run_c = kept_copies(1, len(SIDES) * P + 1, name="run")
        issue, issue_cnt = Signal(), Signal()
        m.d.comb += [issue.eq(hs_d_c[0] | run_issue), issue_cnt.eq(hs_d_c[1] | run_c[-1])]
        s_valid, s_first, s_last = Signal(), Signal(), Signal()
        # The beat source's selects, in one copy per SELECT_LANES lanes.
        s_from_in = kept_copies(1, GS, name="s_from_in")
        s_m = kept_copies(1, GS, name="s_m")
        s_r = kept_copies(1, GS, name="s_r")
        s_mask = Signal(P, reset_less=True)
        in_reg2 = Signal(data.ArrayLayout(shape, P), reset_less=True)
        m.d.sync += [s_valid.eq(issue), in_reg2.eq(in_reg)]
        # The side flags' copies load every cycle, with no issue enable: the
        # side is constant from HOLD until the round's last issue.
        m.d.sync += [*[c.eq(side_m) for c in s_m], *[c.eq(side_r) for c in s_r]]
        with m.If(issue_cnt):
            m.d.sync += [
                s_first.eq(iss_row == 0), s_last.eq(rem_last), s_mask.eq(~rem_last.replicate(P) | rem_lmask),
                iss_row.eq(iss_row + 1), rem.eq(rem - P),
                *[c.eq(rem_last2) for c in rem_last_c], rem_last2.eq(~greater_than_const(rem, 3 * P)),
            ]
        # The read rows move under their own copies of the state flags, one
        # per bank: load the sample rows (the last DRAIN cycle),
        # restart at row 0 (GAP), next row in each RUN cycle. (Round 1 reads
        # no bank: the rows need not follow the input beats.)
        for j in range(P):
            for si, rs in enumerate(raddrs.values()):
                c = si * P + j
                with m.If(samp_ld_c[c]):
                    m.d.sync += [r.eq(samp_row[j] if j < S else 0) for r in rs[j]]
                with m.Elif(gap_c[c]):
                    m.d.sync += [r.eq(0) for r in rs[j]]
                with m.Elif(run_c[c]):
                    m.d.sync += [r.eq(r + 1) for r in rs[j]]
        for side_name in SIDES:
            for j, ram in enumerate(banks[side_name]):
                m.d.comb += [ram.r_addr[i].eq(r) for i, r in enumerate(raddrs[side_name][j])]
        # Stage Q: the banks' read data registered as read (q_rd, above),
        # beside the source selects; the source multiplexer follows the
        # register (the read row, the LUT RAM, the multiplexer and the routes
        # between them in one cycle are too long a path). Q is the first stage
        # of the delay line below.
        # With block RAM the beat's flags, selects and input data wait a
        # cycle more (stage P), beside the banks' landing registers.
        p_flags, p_mask, p_in = (s_valid, s_first, s_last), s_mask, in_reg2
        p_from_in, p_m, p_r = s_from_in, s_m, s_r
        if self.read_delay:
            p_flags = [replicas(m, f, 1, name=f"p_{n}")[0]
                       for f, n in zip(p_flags, ("valid", "first", "last"), strict=True)]
            p_mask, p_in = Signal(P, reset_less=True), Signal(data.ArrayLayout(shape, P), reset_less=True)
            m.d.sync += [p_mask.eq(s_mask), p_in.eq(in_reg2)]
            p_from_in, p_m, p_r = ([replicas(m, c, 1, name=f"p_{n}{i}")[0] for i, c in enumerate(copies)]
                                   for copies, n in ((s_from_in, "from_in"), (s_m, "m"), (s_r, "r")))
        q_valid, q_first, q_last, q_mask = Signal(), Signal(), Signal(), Signal(P, reset_less=True)
        q_in = Signal(data.ArrayLayout(shape, P), reset_less=True)
        q_from_in = [replicas(m, c, 1, name=f"q_from_in{i}")[0] for i, c in enumerate(p_from_in)]
        q_m = [replicas(m, c, 1, name=f"q_m{i}")[0] for i, c in enumerate(p_m)]
        q_r = [replicas(m, c, 1, name=f"q_r{i}")[0] for i, c in enumerate(p_r)]
        m.d.sync += [q_valid.eq(p_flags[0]), q_first.eq(p_flags[1]), q_last.eq(p_flags[2]), q_mask.eq(p_mask),
                     q_in.eq(p_in)]
        q_data = [Signal(shape, name=f"q_data{l}") for l in range(P)]
        for l in range(P):
            sel = l * GS // P
            m.d.comb += q_data[l].eq(Mux(q_from_in[sel], q_in[l],
                                         Mux(q_r[sel], q_rd["R"][l],
                                             Mux(q_m[sel], q_rd["M"][l], q_rd["L"][l]))))

        # The beats wait in a delay line until the pivots are ready (RQ and
        # the rank select after the read; with block RAM both the sample and
        # the beat are a cycle later).
        # Its last stage holds the data twice: one copy for the compares
        # with hi, one for those with lo (one register drove four carry
        # chains through a long route).
        prev = (q_valid, q_first, q_last, q_mask, q_data)
        for i in range(rank.latency - 1):
            cur = (Signal(name=f"d{i}_valid"), Signal(name=f"d{i}_first"), Signal(name=f"d{i}_last"),
                   Signal(P, name=f"d{i}_mask", reset_less=True),
                   [Signal(shape, name=f"d{i}_data{l}", reset_less=True) for l in range(P)])
            m.d.sync += [cur[0].eq(prev[0]), cur[1].eq(prev[1]), cur[2].eq(prev[2]), cur[3].eq(prev[3])]
            m.d.sync += [cur[4][l].eq(prev[4][l]) for l in range(P)]
            if i == rank.latency - 2:
                d_data_lo = [replicas(m, prev[4][l], 1, name=f"d{i}_lo{l}", reset_less=True)[0]
                             for l in range(P)]
            prev = cur
        d_valid, d_first, d_last, d_mask, d_data = prev

        # --- compare stage C ---------------------------------------------------
        c_valid, c_first, c_last = Signal(), Signal(), Signal()
        c_data = Signal(data.ArrayLayout(shape, P), reset_less=True)
        # Each lane against both pivots; the classes to count, registered
        # straight from the carry chains (a comparator and the first levels
        # of the zero eliminators' prefix sums in one cycle are too long a
        # path).
        c_cls = {c: Signal(P, name=f"c_{c}", reset_less=True) for c in CLASSES}
        c_mask = Signal(P, reset_less=True)
        m.d.sync += [c_valid.eq(d_valid), c_first.eq(d_first), c_last.eq(d_last), c_mask.eq(d_mask)]
        m.d.sync += [c_data[l].eq(d_data[l]) for l in range(P)]
        copies = rank.copies
        # All four results masked in their chains.
        gt_hi, ge_hi = _greater_at_least(m, d_data, [pivot_hi[c] for c in range(copies)], d_mask, P, "chi")
        gt_lo, ge_lo = _greater_at_least(m, d_data_lo, [pivot_lo[c] for c in range(copies)], d_mask, P, "clo")
        m.d.sync += [c_cls["gt_hi"].eq(gt_hi), c_cls["ge_hi"].eq(ge_hi),
                     c_cls["gt_lo"].eq(gt_lo), c_cls["ge_lo"].eq(ge_lo)]

        # --- stage K: the parts to keep, registered beside the beat and the
        # classes: U (> hi) is a class, M and D one gate each. (From the
        # chains, that gate is a long route; after the class
        # registers, it and the route from them went in front of the zero
        # eliminators' first count level, three LUTs deep.)
        k_valid, k_first, k_last = Signal(name="k_valid"), Signal(name="k_first"), Signal(name="k_last")
        k_data = Signal(data.ArrayLayout(shape, P), name="k_data", reset_less=True)
        k_cls = {c: Signal(P, name=f"k_{c}", reset_less=True) for c in CLASSES}
        k_keep = {sd: Signal(P, name=f"k_keep{sd}", reset_less=True) for sd in SIDES}
        m.d.sync += [k_valid.eq(c_valid), k_first.eq(c_first), k_last.eq(c_last), k_data.eq(c_data),
                     *[k_cls[c].eq(c_cls[c]) for c in CLASSES],
                     k_keep["L"].eq(c_cls["gt_hi"]), k_keep["M"].eq(c_cls["gt_lo"] & ~c_cls["ge_hi"]),
                     k_keep["R"].eq(c_mask & ~c_cls["ge_lo"])]

        # --- Z1/Z2: zero eliminators; counts from their registered early counts
        # (a popcount and an accumulate in one cycle would be the slowest path).
        # first/last flags aligned with the zero eliminators' early counts.
        # Each early count in 1 + G copies: one for the part's size and fill,
        # one per COPY_LANES columns' fill offsets (one register drove all
        # of them, a long route into every column's accumulator).
        zes = {side_name: ZeroEliminator(lanes=P, shape=shape, split=True, early_copies=1 + G)
               for side_name in SIDES}
        z1_first, z1_last = k_first, k_valid & k_last
        for i in range(zes["L"].early_latency - 1):
            nf, nl = Signal(name=f"ze_first{i}"), Signal(name=f"ze_last{i}")
            m.d.sync += [nf.eq(z1_first), nl.eq(z1_last)]
            z1_first, z1_last = nf, nl
        # "First beat of the round" restarts every accumulator below: one
        # copy for the running differences, one per side and column group.
        first_c = replicas(m, z1_first, 1 + len(SIDES) * G, name="ze_first")
        nl = Signal(name="ze_last")
        m.d.sync += nl.eq(z1_last)
        z1_first, z1_last = first_c[0], nl
        m.d.sync += decide.eq(z1_last)
        # The classes' counts per beat, aligned with the zero eliminators'
        # early counts (U's count is the count of > hi).
        counts = {"gt_hi": zes["L"].early_count}
        for c in CLASSES[1:]:
            counts[c] = _early_count(m, k_cls[c], f"cnt_{c}")
        early_valid = zes["L"].early_valid
        with m.If(early_valid):
            m.d.sync += [run[c].eq(Mux(z1_first, cur_km1, run[c]) - counts[c]) for c in CLASSES]
            m.d.sync += [k_ge_hi.eq(Mux(z1_first, cur_k, k_ge_hi) - counts["ge_hi"]),
                         k_ge_lo.eq(Mux(z1_first, cur_k, k_ge_lo) - counts["ge_lo"])]
        for si, side_name in enumerate(SIDES):
            ze = zes[side_name]
            m.submodules[f"ze{side_name}"] = ze
            m.d.comb += [ze.i_valid.eq(k_valid), ze.i_data.eq(k_data), ze.i_keep.eq(k_keep[side_name])]
            side_first = first_c[1 + si * G: 1 + (si + 1) * G]
            m.d.sync += acc_restart[side_name].eq(ze.early_valid & side_first[0])
            with m.If(ze.early_valid):
                # The first-beat select after the adder, not before it.
                count = ze.early_count
                m.d.sync += acc[side_name].eq(Mux(side_first[0], count, acc[side_name] + count))

            # --- W: offset, rotate, write P banks --------------------------------
            # The fill offset of a beat is computed from the zero eliminator's
            # early count, in parallel with its two-stage shifter (the shifter
            # in one cycle is too long a path); the banks' enables and row
            # addresses are registered in the shifter's second stage, and the
            # packed beat is rotated by the offset into bank order in the next
            # stage, registered before the LUT RAM (round_gap waits for it).
            fill = Signal(cb + 1, name=f"fill{side_name}")
            # The beat's base, count and valid in one copy per group of
            # columns (one register drove the row adders and enables of
            # every column).
            m1_bases = kept_copies(cb + 1, G, name=f"m1_base{side_name}", reset_less=True)
            m1_cnts = kept_copies(range(P + 1), G, name=f"m1_cnt{side_name}", reset_less=True)
            m1_valids = kept_copies(1, G, name=f"m1_valid{side_name}")
            with m.If(ze.early_valid):
                m.d.sync += fill.eq(Mux(side_first[0], ze.early_count, fill + ze.early_count))
            for g in range(G):
                # The beat's base: 0 on the round's first beat (the group's
                # own copy of the flag), else the fill.
                m.d.sync += [m1_bases[g].eq(Mux(side_first[g], 0, fill)),
                             m1_cnts[g].eq(ze.early_counts[1 + g]), m1_valids[g].eq(ze.early_valids[1 + g])]
            # The fill offset mod P in one copy per column: each copy is its
            # own accumulator, so Yosys cannot merge the copies into one
            # register whose fanout (every rotate multiplexer of a layer) is
            # too wide. Each column's copy gives its write position;
            # one copy per ROTATE_GROUP columns drives the rotation.
            offs, bases_lo = [], []
            for j in range(P):
                # Restarted by each round's first beat: no reset.
                acc_lo = Signal(lp, name=f"fill_lo{side_name}{j}", reset_less=True)
                first = side_first[j * G // P]
                base_lo = Mux(first, 0, acc_lo)
                # The group's own copies of the count and its valid (one
                # valid register, shared by the three sides' eliminators,
                # drove every column's enables).
                with m.If(ze.early_valids[1 + j * G // P]):
                    # The first-beat select after the adder, not before it.
                    count = ze.early_counts[1 + j * G // P]
                    m.d.sync += acc_lo.eq(Mux(first, count, acc_lo + count))
                bases_lo.append(base_lo)
                if j % self.ROTATE_GROUP == 0:
                    # Delayed to the rotation stage, for this column's group.
                    off = base_lo
                    for i in range(ze.latency - ze.early_latency):
                        off_d = Signal(lp, name=f"off{side_name}{j}_{i}", reset_less=True)
                        m.d.sync += off_d.eq(off)
                        off = off_d
                    offs.append(off)
            # One copy of the offset per group of ROTATE_GROUP columns drives
            # their multiplexers (fanout 2 * width per column instead of every
            # lane; the layers' kept outputs stop the mapper from flattening
            # them into a 16:1 multiplexer per column, as a copy per column
            # once did; four columns per copy left a long route into them).
            lanes = rotate(m, [ze.o_data[l] for l in range(P)],
                            [offs[j // self.ROTATE_GROUP] for j in range(P)], f"rot{side_name}")
            for j, ram in enumerate(banks[side_name]):
                w2_data = Signal(shape, name=f"w2_data{side_name}{j}", reset_less=True)
                w2_en = Signal(name=f"w2_en{side_name}{j}")
                w2_addr = Signal(row_w, name=f"w2_addr{side_name}{j}", reset_less=True)
                # Bank j takes packed lane (j - offset) mod P, if that lane is kept.
                # Its position after the offset and whether it wraps into
                # the next row, registered a stage ahead of the compare.
                m1_rel = Signal(lp, name=f"m1_rel{side_name}{j}", reset_less=True)
                m1_wrap = Signal(name=f"m1_wrap{side_name}{j}", reset_less=True)
                m.d.sync += [m1_rel.eq(Const(j, lp) - bases_lo[j]), m1_wrap.eq(j < bases_lo[j])]
                m.d.sync += [w2_en.eq(m1_valids[j * G // P] & (m1_rel < m1_cnts[j * G // P])),
                             w2_addr.eq(m1_bases[j * G // P][lp:] + m1_wrap)]
                # The rotated lane is registered before the LUT RAM (with
                # its enable and row): the write lands a cycle after the
                # shifter, and the round gap waits for it.
                for i in range(rotate_layers(P) - 1):
                    # Beside the rotation's registers.
                    en_d = Signal(name=f"w2_en{side_name}{j}_{i}")
                    addr_d = Signal(row_w, name=f"w2_addr{side_name}{j}_{i}", reset_less=True)
                    m.d.sync += [en_d.eq(w2_en), addr_d.eq(w2_addr)]
                    w2_en, w2_addr = en_d, addr_d
                w3_en = Signal(name=f"w3_en{side_name}{j}")
                w3_addr = Signal(row_w, name=f"w3_addr{side_name}{j}", reset_less=True)
                m.d.sync += [w2_data.eq(lanes[j]), w3_en.eq(w2_en), w3_addr.eq(w2_addr)]
                m.d.comb += [ram.w_data.eq(w2_data), ram.w_en.eq(w3_en), ram.w_addr.eq(w3_addr)]

        # Round 1 samples the input beat (alt), every cycle but a sample read.
        m.d.sync += [*[u.eq(~sample_read) for u in use_alt],
                     *[a.eq(self.scores.payload[j]) for j, a in enumerate(alt)]]

        # --- final pass: input buffer -> compare with T -> keep -> pack --------
        # The pass never stalls: an enable from result.ready would fan out to
        # every register of it. Instead its beats go into an output FIFO, and
        # a row is read only while the FIFO has a credit for it (credits come
        # back when a beat leaves the FIFO or is dropped for being empty).
        fin_row = Signal(row_w)
        # The buffer's read rows, a copy per lane and slice.
        fin_rows = [kept_copies(row_w, ram.slices, name=f"fin_row{l}", reset_less=True)
                    for l, ram in enumerate(in_rams)]
        fin_rem = Signal(cb)
        # A row is issued while one is left to read in FINAL (fin_more, set
        # on entering FINAL) and the result FIFO has a credit: two registers,
        # each in one copy per lane group (for that group's read rows) and
        # one for the rest of the pass (a single issue signal drove every
        # read row and counter; a third register, the state, put one more
        # LUT in front of the credit count's adder).
        # PREP has one more copy, [G + 1], for the first round's issue counters.
        prep_c = kept_copies(1, G + 2, name="st_prep")
        fin_more_c = kept_copies(1, G + 1, name="fin_more")
        credit_ok_c = kept_copies(1, G + 1, name="credit_ok", init=1)
        fin_issue_c = [fin_more_c[g] & credit_ok_c[g] for g in range(G + 1)]
        fin_issue = fin_issue_c[G]
        # Registered views of fin_rem, loaded beside it (as rem_last):
        # the lanes of the next row and "a row follows the next one".
        fin_th, fin_gtp = Signal(P, name="fin_th"), Signal()
        req_th, req_gtp = Signal(P, name="req_th"), Signal()   # thermometer(n), n > P: the first values
        req_gt2p = Signal()                                     # n > 2P
        req_lmask = Signal(P, name="req_lmask")                 # the lanes of the request's last beat
        f0_valid, f0_mask, f0_row = Signal(), Signal(P), Signal(row_w, reset_less=True)
        m.d.comb += [ram.r_addr[i].eq(r) for l, ram in enumerate(in_rams) for i, r in enumerate(fin_rows[l])]
        in_rd_data = Signal(data.ArrayLayout(shape, P))
        m.d.comb += [in_rd_data[l].eq(ram.r_data) for l, ram in enumerate(in_rams)]
        # The lanes of the row read, or none: a cycle without a read
        # compares nothing, so that its equal count is 0 and the quota below
        # needs no valid gate.
        m.d.sync += [f0_valid.eq(fin_issue), f0_mask.eq(Mux(fin_issue, fin_th, 0))]
        with m.If(fin_issue):
            # fin_rem wraps below zero after the last row: fin_more is then
            # clear and nothing reads the other values.
            m.d.sync += [f0_row.eq(fin_row), fin_row.eq(fin_row + 1),
                         fin_rem.eq(fin_rem - P), fin_th.eq(thermometer(fin_rem, P, P)),
                         *[c.eq(fin_gtp) for c in fin_more_c], fin_gtp.eq(greater_than_const(fin_rem, 2 * P))]
        for l, rows in enumerate(fin_rows):
            with m.If(prep_c[l * G // P]):
                m.d.sync += [r.eq(0) for r in rows]
            with m.Elif(fin_issue_c[l * G // P]):
                m.d.sync += [r.eq(r + 1) for r in rows]
        # The pass's data, classes and rows have no reset: a cycle without a
        # read has a clear mask (f0_mask, reset), and a stale value left by a
        # reset is flushed long before HOLD loads the quota.
        f1_valid = Signal()
        f1_gt, f1_ge = Signal(P, reset_less=True), Signal(P, reset_less=True)
        f1_row = Signal(row_w, reset_less=True)
        f1_data = Signal(data.ArrayLayout(shape, P), reset_less=True)
        # With block RAM, FR: the row's lanes and row wait a cycle for its
        # data, which leaves the landing registers then (see RT).
        if self.read_delay:
            fr_valid, fr_mask, fr_row = Signal(), Signal(P), Signal(row_w, reset_less=True)
            m.d.sync += [fr_valid.eq(f0_valid), fr_mask.eq(f0_mask), fr_row.eq(f0_row)]
        else:
            fr_valid, fr_mask, fr_row = f0_valid, f0_mask, f0_row
        fin_gt, fin_ge = _greater_at_least(m, in_rd_data, thresholds, fr_mask, P, "f")
        m.d.sync += [f1_valid.eq(fr_valid), f1_row.eq(fr_row), f1_data.eq(in_rd_data),
                     f1_gt.eq(fin_gt), f1_ge.eq(fin_ge)]
        # Equality after the registers: the two chains' outputs into one
        # gate before them is a long route; the gate joins
        # the first level of the counts below.
        f1_eq = Signal(P)
        m.d.comb += f1_eq.eq(f1_ge & ~f1_gt)
        # Equal elements are kept while the running count is below the quota:
        # G registers each lane's count of equals before it (prefix sum) and
        # the beat's total; then lane l is kept if that count < min(room, P),
        # and room (equals still to keep) drops by the total: a subtraction
        # and a compare in parallel, from registers.
        # As in the zero eliminator: registers after the counts within blocks
        # of 4, then 8 lanes, and the beat's total is its own popcount of the
        # block counts (not the last prefix, which chains after the tree).
        half = min(3, prefix_levels(P))
        block = 1 << half
        h_part, h_blk = staged_block_counts(m, f1_eq, f1_eq, P, block, name="h", kept_pairs=True)
        # The beat beside the two stages of counts.
        beat = (f1_valid, f1_gt, f1_eq, f1_row, f1_data)
        for stage in ("e", "h"):
            nbeat = (Signal(name=f"{stage}_valid"), Signal(P, name=f"{stage}_gt", reset_less=True),
                     Signal(P, name=f"{stage}_eq", reset_less=True),
                     Signal(row_w, name=f"{stage}_row", reset_less=True),
                     Signal(data.ArrayLayout(shape, P), name=f"{stage}_data", reset_less=True))
            m.d.sync += [r.eq(v) for r, v in zip(nbeat, beat, strict=True)]
            beat = nbeat
        h_valid, h_gt, h_eq, h_row, h_data = beat
        eq_incl = prefix_counts(h_part, P, half)
        g_valid = Signal()
        g_gt, g_eq = Signal(P, reset_less=True), Signal(P, reset_less=True)
        g_row = Signal(row_w, reset_less=True)
        g_data = Signal(data.ArrayLayout(shape, P), reset_less=True)
        g_before = [Signal(range(P), name=f"g_before{l}", reset_less=True) for l in range(P)]
        g_totals = kept_copies(range(P + 1), G, name="g_total", reset_less=True)
        m.d.sync += [g_valid.eq(h_valid), g_gt.eq(h_gt), g_eq.eq(h_eq), g_row.eq(h_row),
                     g_data.eq(h_data), *[t.eq(popcount(h_blk)) for t in g_totals]]
        m.d.sync += [g_before[l].eq(eq_incl[l - 1] if l else 0) for l in range(P)]
        # room_sat = min(max(room, 0), P), with room and room - P kept as two
        # accumulators: each beat subtracts its total from both (two carry
        # chains side by side), and the signs pick 0, P or the difference.
        # room_sat in one copy per lane group, each from its own copies of
        # room, room - P and the total (one pair of adders drove every copy
        # through a long route after the sign bits' multiplexer).
        # Every cycle, with no valid gate: a cycle without a beat has a total
        # of 0 (its mask is clear), and HOLD's load of room reaches room_sat
        # a cycle later, long before the pass's first beat.
        room_sats = kept_copies(range(P + 1), G, name="room_sat", reset_less=True)
        keep = Cat(*[g_gt[l] | (g_eq[l] & (g_before[l] < room_sats[l * G // P])) for l in range(P)])
        rs_w = len(room_sats[0])
        for room, room_mp, total, sat in zip(rooms, rooms_mp, g_totals, room_sats, strict=True):
            left, left_p = room - total, room_mp - total
            m.d.sync += [room.eq(left), room_mp.eq(left_p),
                         sat.eq(Mux(left[-1], 0, Mux(~left_p[-1], P, left[:rs_w])))]
        fin_layout = data.StructLayout({"score": shape, "index": self.index_bits})
        f2_valid, f2_keep = Signal(), Signal(P, reset_less=True)
        f2_score = Signal(data.ArrayLayout(shape, P), reset_less=True)
        f2_row = Signal(row_w, reset_less=True)
        m.d.sync += [f2_valid.eq(g_valid), f2_keep.eq(keep), f2_score.eq(g_data), f2_row.eq(g_row)]
        # A lane's index is its row and its lane number: the constant bits
        # are not registered.
        f2_data = Signal(data.ArrayLayout(fin_layout, P))
        for l in range(P):
            m.d.comb += [f2_data[l].score.eq(f2_score[l]), f2_data[l].index.eq(Cat(Const(l, lp), f2_row))]
        m.submodules.zeF = zeF = ZeroEliminator(lanes=P, shape=fin_layout, split=True)
        m.d.comb += [zeF.i_valid.eq(f2_valid), zeF.i_data.eq(f2_data), zeF.i_keep.eq(f2_keep)]

        out_layout = data.StructLayout({"index": data.ArrayLayout(self.index_bits, P),
                                        "score": data.ArrayLayout(shape, P),
                                        "count": range(P + 1), "last": 1})
        m.submodules.ofifo = ofifo = CreditFifo(width=out_layout.size, depth=self.out_fifo_depth)
        credits = Signal(range(self.out_fifo_depth + 1), init=self.out_fifo_depth)
        # Elements still to push into the FIFO in this request, minus one
        # (signed): the last beat is the one whose count makes it negative,
        # the sign bit of one subtraction from registers.
        to_push_m1 = Signal(signed(cb + 1))
        pushed_last = Signal()       # the last beat is decided: drop what follows
        w_beat = Signal(out_layout)
        r_beat = Signal(out_layout)
        pop = Signal()
        # Push, drop and last are decided from zeF's early count and carried
        # in registers to its output: the FIFO's write enable and the credit
        # count start from flip-flops (deciding them from o_count is too
        # long a path).
        e_push = Signal()
        e_last = Signal()
        after = to_push_m1 - zeF.early_count
        m.d.comb += [e_push.eq(zeF.early_valid & (zeF.early_count != 0) & ~pushed_last),
                     e_last.eq(after[-1])]
        # Subtracting an empty beat's zero, or any beat's count once the last
        # one is pushed, changes nothing that is read: the enable is the
        # valid register alone.
        with m.If(zeF.early_valid):
            m.d.sync += to_push_m1.eq(after)
        with m.If(e_push & e_last):
            m.d.sync += pushed_last.eq(1)
        # Nothing is left to keep: stop reading rows, a cycle later (from a
        # register, not from the compare above). A row read in that cycle is
        # dropped like any beat after the last one.
        stop_pass = Signal()
        m.d.sync += stop_pass.eq(e_push & e_last)
        with m.If(stop_pass):
            m.d.sync += [c.eq(0) for c in fin_more_c]
        push, drop, last = e_push, zeF.early_valid & ~e_push, e_last
        for i in range(zeF.latency - zeF.early_latency):
            n_push, n_drop, n_last = Signal(name=f"push{i}"), Signal(name=f"drop{i}"), Signal(name=f"last{i}")
            m.d.sync += [n_push.eq(push), n_drop.eq(drop), n_last.eq(last)]
            push, drop, last = n_push, n_drop, n_last
        m.d.comb += [w_beat.count.eq(zeF.o_count), w_beat.last.eq(last),
                     ofifo.w_data.eq(w_beat), ofifo.w_en.eq(push), r_beat.eq(ofifo.r_data)]
        for l in range(P):
            m.d.comb += [w_beat.score[l].eq(zeF.o_data[l].score), w_beat.index[l].eq(zeF.o_data[l].index)]
        # The FIFO holds beats only in FINAL (its read side is not gated by
        # the state): a pop returns a credit.
        m.d.comb += [ofifo.r_en.eq(self.result.ready), pop.eq(ofifo.r_valid & self.result.ready)]
        # A pop returns its credit a cycle later, from a register (the
        # consumer's ready arrives late).
        pop_q = Signal()
        # The credits move by (pop_q + drop) - fin_issue: the two returns are
        # registers, so the change is one small signed value and one adder.
        back = Signal(range(3))
        m.d.comb += back.eq(pop_q + drop)
        m.d.sync += [pop_q.eq(pop), credits.eq(credits + Mux(fin_issue, back - 1, back))]
        # A row may be issued if a credit is left after this cycle's issue
        # (registered: credits >= 2 now implies credits >= 1 next cycle, and
        # without backpressure credits never fall below 2, so the pass runs
        # at full rate).
        m.d.sync += [c.eq(credits >= 2) for c in credit_ok_c]

        fin_out = Signal()
        drains = [f"DRAIN{i}" for i in range(self.drain_cycles)]
        st = {name: Signal(name=f"st_{name.lower()}", init=name == "IDLE")
              for name in ("IDLE", "ACCEPT", "PREP", "IN", "WAIT", "HOLD", *drains, "GAP", "RUN", "FINAL",
                           "DISCARD", "EMPTY", *(["FWAIT"] if self._ordered else []))}
        payload = self.result.payload
        # Lanes are don't-care beyond count: they come straight from the FIFO
        # (no gate on ~400 output bits); only the small fields are muxed.
        for l in range(P):
            m.d.comb += [payload.score[l].eq(r_beat.score[l]), payload.index[l].eq(r_beat.index[l])]
        with m.If(fin_out):
            m.d.comb += [payload.count.eq(r_beat.count), payload.last.eq(r_beat.last),
                         payload.error.eq(r_beat.last & clamped)]
        with m.Else():
            m.d.comb += [payload.count.eq(0), payload.last.eq(1), payload.error.eq(empty_err)]

        # --- control ---------------------------------------------------------------
        # One flip-flop per state (one-hot): every enable and select that
        # depends on the state starts at a register, with no state decoder in
        # front of its fanout. Exactly one flag is set; goto() moves it.
        req = self.request.payload
        nbeats = (req_n + (P - 1)) >> lp

        # Copies of a state flag that drives wide loads, moved with it.
        st_copies = {"PREP": prep_c}

        def goto(frm, to):
            m.d.sync += [st[frm].eq(0), st[to].eq(1)]
            m.d.sync += [c.eq(0) for c in st_copies.get(frm, [])]
            m.d.sync += [c.eq(1) for c in st_copies.get(to, [])]

        m.d.comb += [self.request.ready.eq(st["IDLE"]),
                     self.scores.ready.eq(st["IN"] | st["DISCARD"]), discard.eq(st["DISCARD"]),
                     run_issue.eq(st["RUN"]), fin_out.eq(st["FINAL"]),
                     self.result.valid.eq(Mux(st["FINAL"], ofifo.r_valid, st["EMPTY"]))]
        # The request is set up in three steps, each from the registers of
        # the one before (compares, thermometers and the branch on the
        # request's payload are long paths): IDLE registers the request,
        # its flags and n - 1, k - 1 as it is accepted; ACCEPT branches and
        # registers what they give (k clamped to n, the thermometer of n);
        # PREP loads the round's counters from those.
        req_n_m1, req_k_m1 = Signal(cb), Signal(cb)
        n_zero, n_over, k_zero, k_over = Signal(), Signal(), Signal(), Signal()
        with m.If(st["IDLE"] & self.request.valid):
            m.d.sync += [req_n.eq(req.n), req_k.eq(req.k), req_n_m1.eq(req.n - 1), req_k_m1.eq(req.k - 1),
                         n_zero.eq(req.n == 0), n_over.eq(greater_than_const(req.n, self._n_max)),
                         k_zero.eq(req.k == 0), k_over.eq(greater_than(req.k, req.n))]
            goto("IDLE", "ACCEPT")
        with m.If(st["ACCEPT"]):
            # Round 1's n, k and k - 1 too: the rank target starts from them
            # a cycle before the first input beat can be taken.
            m.d.sync += [cur_k.eq(Mux(k_over, req_n, req_k)), cur_km1.eq(Mux(k_over, req_n_m1, req_k_m1)),
                         clamped.eq(k_over), cur_n.eq(req_n), req_th.eq(thermometer(req_n, P)),
                         req_lmask.eq(_last_mask(req_n, P)),
                         req_gtp.eq(greater_than_const(req_n, P)), disc.eq(nbeats),
                         req_gt2p.eq(greater_than_const(req_n, 2 * P)),
                         empty_err.eq(n_zero | n_over)]
            with m.If(n_zero):
                goto("ACCEPT", "EMPTY")
            with m.Elif(n_over | k_zero):
                goto("ACCEPT", "DISCARD")
            with m.Else():
                goto("ACCEPT", "PREP")
        with m.If(prep_c[G + 1]):
            m.d.sync += [iss_row.eq(0), rem.eq(req_n), rem_lmask.eq(req_lmask),
                         *[c.eq(~req_gtp) for c in rem_last_c], rem_last2.eq(~req_gt2p),
                         *[c.eq(1) for c in s_from_in],
                         in_row.eq(0), in_rem.eq(req_n), in_last.eq(~req_gtp),
                         in_th.eq(req_th[:S]), in_first.eq(1)]
        with m.If(prep_c[G]):
            # The final pass's counters start from the request: loaded here,
            # under a copy of the state flag alone, not under the decision
            # (cur_km1 still holds round 1's k - 1, k clamped to n: it
            # changes first in HOLD).
            m.d.sync += [fin_row.eq(0), fin_rem.eq(req_n), fin_th.eq(req_th), fin_gtp.eq(req_gtp),
                         to_push_m1.eq(cur_km1), pushed_last.eq(0)]
        with m.If(st["PREP"]):
            goto("PREP", "IN")
        with m.If(st["IN"] & self.scores.valid):
            m.d.sync += [in_row.eq(in_row + 1), in_rem.eq(in_rem - P), in_first.eq(0),
                         in_last.eq(~greater_than_const(in_rem, 2 * P))]
            with m.If(in_last):
                goto("IN", "WAIT")
        # The outcome, registered every cycle from the running differences
        # (final in the decision's cycle, so these are in HOLD): the first
        # class with at least k candidates decides: > hi (read U), >= hi (hi
        # is the k-th value), > lo (read M), >= lo (lo is the k-th value),
        # else read D. HOLD then loads the next round's state from them (the
        # sign bits fanned out to every such register and to the state flags).
        neg = {c: run[c][-1] for c in CLASSES}
        ends = ~neg["gt_hi"] & (neg["ge_hi"] | ~neg["gt_lo"] & neg["ge_lo"])     # out_end's next value
        # The quota's candidates, room and room - P, for T = hi and T = lo
        # (not an adder after the outcome's select: a long path into HOLD).
        room_of = {c: (Signal(signed(cb + 2), name=f"room_{c}"), Signal(signed(cb + 2), name=f"room_mp_{c}"))
                   for c in ("gt_hi", "gt_lo")}
        m.d.sync += [r.eq(run[c] + d) for c, pair in room_of.items()
                     for r, d in zip(pair, (1, -(P - 1)), strict=True)]
        m.d.sync += [out_u.eq(neg["gt_hi"]), *[c.eq(neg["ge_hi"]) for c in out_t_hi],
                     out_m.eq(~neg["gt_hi"] & ~neg["ge_hi"] & neg["gt_lo"]),
                     out_d.eq(~neg["gt_hi"] & ~neg["ge_hi"] & ~neg["gt_lo"] & ~neg["ge_lo"]),
                     out_end.eq(ends)]
        # HOLD, going on to another round: a register computed beside the
        # outcome. The per-bank copies of the states after HOLD (the last
        # DRAIN cycle, GAP, RUN) load from it and then from each other,
        # register to register, each beside its bank (HOLD's flag and the
        # outcome in front of every copy's enable, and GAP's flag in front of
        # every RUN copy, are long paths).
        hold_go = Signal()
        m.d.sync += hold_go.eq(st["WAIT"] & decide & ~ends)
        before_samp = hold_go if len(drains) == 1 else st[drains[-2]]
        m.d.sync += [*[c.eq(before_samp) for c in samp_ld_c],
                     *[c.eq(s) for c, s in zip(gap_c, [*samp_ld_c, st[drains[-1]]], strict=True)]]
        with m.If(st["HOLD"]):
            # The threshold and the equal quota follow the round's pivots and
            # counts in HOLD (loaded whatever the outcome: an enable from the
            # outcome would fan out to all of them). The k-th value is hi if
            # n(>= hi) >= k, else lo (when the selection ends); room = k -
            # n(> T), from both candidates registered beside the outcome.
            pivot_of = [g * rank.copies // GT for g in range(GT)]
            m.d.sync += [*[t.eq(Mux(out_t_hi[g], pivot_hi[pivot_of[g]], pivot_lo[pivot_of[g]]))
                           for g, t in enumerate(thresholds)],
                         *[r.eq(Mux(out_t_hi[GT], room_of["gt_hi"][0], room_of["gt_lo"][0])) for r in rooms],
                         *[r.eq(Mux(out_t_hi[GT], room_of["gt_hi"][1], room_of["gt_lo"][1]))
                           for r in rooms_mp]]
        with m.If(st["WAIT"] & decide):
            goto("WAIT", "HOLD")
        with m.If(st["HOLD"]):
            # The decided side's rows are still being written. The next
            # round's k - 1 and k are running values too: (k - 1) - n(>= c)
            # and k - n(>= c).
            m.d.sync += [cur_n.eq(Mux(out_u, acc["L"], Mux(out_m, acc["M"], acc["R"]))),
                         side_m.eq(out_m), side_r.eq(out_d)]
            with m.If(out_m):
                m.d.sync += [cur_k.eq(k_ge_hi), cur_km1.eq(run["ge_hi"])]
            with m.Elif(out_d):
                m.d.sync += [cur_k.eq(k_ge_lo), cur_km1.eq(run["ge_lo"])]
        before_gap = ["HOLD", *drains]
        if self._ordered:
            # FWAIT: the k-th value is known, the results before this
            # request's are not all out yet (final_go low).
            with m.If(st["HOLD"] & out_end):
                with m.If(self.final_go):
                    goto("HOLD", "FINAL")
                    m.d.sync += [c.eq(1) for c in fin_more_c]
                with m.Else():
                    goto("HOLD", "FWAIT")
            with m.If(st["FWAIT"] & self.final_go):
                goto("FWAIT", "FINAL")
                m.d.sync += [c.eq(1) for c in fin_more_c]
        else:
            with m.If(st["HOLD"] & out_end):
                goto("HOLD", "FINAL")
                m.d.sync += [c.eq(1) for c in fin_more_c]
        for i, name in enumerate(before_gap):
            # The DRAIN cycles wait for the rotation's inner registers.
            with m.If(st[name] & (~out_end if name == "HOLD" else 1)):
                if i + 1 < len(before_gap):
                    goto(name, before_gap[i + 1])
                else:
                    m.d.sync += sample_read.eq(1)
                    goto(name, "GAP")
        with m.If(st["GAP"]):
            # The sample read (sample_read is set on entry), a cycle after
            # the decided side's last row was written. The issue counters
            # restart from registers here rather than from the decision's
            # multiplexers.
            goto("GAP", "RUN")
        with m.If(gap_c[-1]):
            m.d.sync += [*[c.eq(0) for c in s_from_in], rem.eq(cur_n), rem_lmask.eq(cur_lmask),
                         *[c.eq(cur_last) for c in rem_last_c], rem_last2.eq(cur_last2), iss_row.eq(0)]
        with m.If(st["RUN"] & rem_last):
            goto("RUN", "WAIT")
        # Each copy of RUN ends under its own state and copy of rem_last.
        for i, c in enumerate(run_c):
            with m.If(c & rem_last_c[1 + i // 8 if i < len(run_c) - 1 else 0]):
                m.d.sync += c.eq(0)
            with m.If(gap_c[i]):
                m.d.sync += c.eq(1)
        # The pass ends a cycle after its last beat leaves, from a register
        # (the consumer's ready through the FIFO's head into the state flags
        # is a long path); the FIFO is empty in that cycle.
        fin_done = Signal()
        m.d.sync += fin_done.eq(st["FINAL"] & ofifo.r_valid & self.result.ready & r_beat.last)
        with m.If(fin_done):
            goto("FINAL", "IDLE")
        with m.If(st["DISCARD"] & self.scores.valid):
            m.d.sync += disc.eq(disc - 1)
            with m.If(disc == 1):
                goto("DISCARD", "EMPTY")
        with m.If(st["EMPTY"] & self.result.ready):
            goto("EMPTY", "IDLE")
        return m


