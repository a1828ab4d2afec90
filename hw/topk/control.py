"""The top-k engine's control: the request's registers and the one-hot state machine."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.topk_timing import DISCARD_DELAY, EMPTY_DELAY, START_DELAY, drain_cycles

from ..compare import greater_than, greater_than_const, thermometer
from ..replicate import kept_copies
from .decision import last_lanes
from .geometry import check_geometry

__all__ = ["TopKControl"]


class TopKControl(wiring.Component):
    """Accepts a request, and steps it through input, rounds and final pass (or its error answer).

    States: IDLE, ACCEPT, PREP, IN (the input, round 1), WAIT (a round's
    decision), HOLD (the cycle after it), DRAIN... (the decided part's last
    rows are written), GAP (the sample read), RUN (a later round's beats),
    FWAIT (with ``ordered``: the k-th value is known, earlier results are
    not all out), FINAL (the final pass), DISCARD (a bad request's beats are
    dropped), EMPTY (one empty answer). One flip-flop per state (one-hot):
    every enable and select that depends on the state starts at a register,
    with no decoder in front of its fanout.

    The request is set up in three steps, each from the registers of the
    one before (compares, thermometers and the branch on the request's
    payload are long paths): IDLE registers the request, its flags and
    ``n - 1``, ``k - 1`` as it is accepted; ACCEPT branches and registers
    what they give (the thermometer of ``n``, the lanes of its last beat);
    PREP loads the counters from those (``prep``, in copies). Hence
    :attr:`start_delay` cycles from the request to its first score beat
    (``golden.topk_timing`` holds these delays for the cycle model).

    Parameters
    ----------
    geometry : TopKGeometry
    ordered : bool
        Add ``final_go``: the final pass waits for it (FWAIT).

    Members
    -------
    request : In(stream of ``{n, k}``)
    scores_valid, scores_ready, take, advance : In(1), Out(1), Out(1), Out(1)
        The score stream's handshake: ``take`` a beat for the selection,
        ``advance`` a beat offered in IN.
    input_last, rem_last, decide, ends, end, done, result_ready : In(1)
        Events from the stages: the input's last beat, a later round's last
        issue, a decision (and whether it ends the selection, before and
        after its register), the last result beat out, the consumer's ready.
    final_go : In(1), with ``ordered`` only
    prep : Out(G + 2)
        PREP in copies: the final pass's read rows (one per lane group), its
        counters, round 1's counters.
    accept, hold, hold_go, before_sample, drain_last, run, final, empty, discard : Out(1)
        States (and ``hold_go``: HOLD going on to another round; the
        states before the sample read, for the read rows' copies).
    sample_read, begin : Out(1)
        GAP, registered on entry; the final pass starts (combinational).
    accepted : Out(1)
        The request handshake.
    n, k, n_m1, k_m1, k_over, n_lanes, n_lmask, n_multi, n_multi2, clamped, empty_error : Out
        The request's registers.
    """

    def __init__(self, *, geometry, ordered=False):
        self._geometry = g = check_geometry(geometry)
        self._ordered = ordered
        P, cb = g.lanes, g.count_bits
        gate = {"final_go": In(1)} if ordered else {}
        super().__init__({
            **gate,
            "request": In(stream.Signature(data.StructLayout({"n": cb, "k": cb}))),
            "scores_valid": In(1), "scores_ready": Out(1), "take": Out(1), "advance": Out(1),
            "input_last": In(1), "rem_last": In(1), "decide": In(1), "ends": In(1), "end": In(1),
            "done": In(1), "result_ready": In(1),
            "prep": Out(g.broadcast_copies + 2),
            **{name: Out(1) for name in ("accept", "hold", "hold_go", "before_sample", "drain_last", "run",
                                         "final", "empty", "discard", "sample_read", "begin", "accepted")},
            "n": Out(cb), "k": Out(cb), "n_m1": Out(cb), "k_m1": Out(cb), "k_over": Out(1),
            "n_lanes": Out(P), "n_lmask": Out(P), "n_multi": Out(1), "n_multi2": Out(1),
            "clamped": Out(1), "empty_error": Out(1),
        })

    @property
    def start_delay(self):
        """Cycles from accepting a request to the first cycle scores are taken (ACCEPT, PREP)."""
        return START_DELAY

    @property
    def discard_delay(self):
        return DISCARD_DELAY

    @property
    def empty_delay(self):
        return EMPTY_DELAY

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        P, G = g.lanes, g.broadcast_copies
        drains = [f"DRAIN{i}" for i in range(drain_cycles(P))]
        st = {name: Signal(name=f"st_{name.lower()}", init=name == "IDLE")
              for name in ("IDLE", "ACCEPT", "PREP", "IN", "WAIT", "HOLD", *drains, "GAP", "RUN", "FINAL",
                           "DISCARD", "EMPTY", *(["FWAIT"] if self._ordered else []))}
        # The request's path: IDLE, then ACCEPT and PREP (or DISCARD, EMPTY).
        assert START_DELAY == 3 and DISCARD_DELAY == EMPTY_DELAY == 2, "ACCEPT, PREP / ACCEPT"
        # Copies of a state flag that drives wide loads, moved with it.
        prep_c = kept_copies(1, G + 2, name="st_prep")
        st_copies = {"PREP": prep_c}
        m.d.comb += self.prep.eq(Cat(*prep_c))

        def goto(frm, to):
            m.d.sync += [st[frm].eq(0), st[to].eq(1)]
            m.d.sync += [c.eq(0) for c in st_copies.get(frm, [])]
            m.d.sync += [c.eq(1) for c in st_copies.get(to, [])]

        req = self.request.payload
        discard = st["DISCARD"]
        m.d.comb += [self.request.ready.eq(st["IDLE"]),
                     self.accepted.eq(self.request.valid & self.request.ready),
                     self.scores_ready.eq(st["IN"] | st["DISCARD"]), self.discard.eq(discard),
                     self.take.eq(self.scores_valid & self.scores_ready & ~discard),
                     self.advance.eq(st["IN"] & self.scores_valid),
                     self.accept.eq(st["ACCEPT"]), self.hold.eq(st["HOLD"]), self.run.eq(st["RUN"]),
                     self.final.eq(st["FINAL"]), self.empty.eq(st["EMPTY"]),
                     self.drain_last.eq(st[drains[-1]])]
        n_zero, n_over, k_zero = Signal(), Signal(), Signal()
        disc = Signal(g.count_bits)  # beats still to discard
        with m.If(st["IDLE"] & self.request.valid):
            m.d.sync += [self.n.eq(req.n), self.k.eq(req.k), self.n_m1.eq(req.n - 1), self.k_m1.eq(req.k - 1),
                         n_zero.eq(req.n == 0), n_over.eq(greater_than_const(req.n, g.n_max)),
                         k_zero.eq(req.k == 0), self.k_over.eq(greater_than(req.k, req.n))]
            goto("IDLE", "ACCEPT")
        with m.If(st["ACCEPT"]):
            m.d.sync += [self.clamped.eq(self.k_over), self.n_lanes.eq(thermometer(self.n, P)),
                         self.n_lmask.eq(last_lanes(self.n, P)),
                         self.n_multi.eq(greater_than_const(self.n, P)),
                         disc.eq((self.n + (P - 1)) >> g.lane_bits),
                         self.n_multi2.eq(greater_than_const(self.n, 2 * P)),
                         self.empty_error.eq(n_zero | n_over)]
            with m.If(n_zero):
                goto("ACCEPT", "EMPTY")
            with m.Elif(n_over | k_zero):
                goto("ACCEPT", "DISCARD")
            with m.Else():
                goto("ACCEPT", "PREP")
        with m.If(st["PREP"]):
            goto("PREP", "IN")
        with m.If(self.advance & self.input_last):
            goto("IN", "WAIT")
        # HOLD going on to another round, a register beside the outcome: the
        # read rows' copies of the states after HOLD load from it.
        m.d.sync += self.hold_go.eq(st["WAIT"] & self.decide & ~self.ends)
        m.d.comb += self.before_sample.eq(self.hold_go if len(drains) == 1 else st[drains[-2]])
        with m.If(st["WAIT"] & self.decide):
            goto("WAIT", "HOLD")
        begin = self.begin
        if self._ordered:
            with m.If(st["HOLD"] & self.end):
                with m.If(self.final_go):
                    goto("HOLD", "FINAL")
                    m.d.comb += begin.eq(1)
                with m.Else():
                    goto("HOLD", "FWAIT")
            with m.If(st["FWAIT"] & self.final_go):
                goto("FWAIT", "FINAL")
                m.d.comb += begin.eq(1)
        else:
            with m.If(st["HOLD"] & self.end):
                goto("HOLD", "FINAL")
                m.d.comb += begin.eq(1)
        # The sample read is set on entering GAP (and cleared after it).
        m.d.sync += self.sample_read.eq(0)
        before_gap = ["HOLD", *drains]
        for i, name in enumerate(before_gap):
            with m.If(st[name] & (~self.end if name == "HOLD" else 1)):
                if i + 1 < len(before_gap):
                    goto(name, before_gap[i + 1])
                else:
                    m.d.sync += self.sample_read.eq(1)
                    goto(name, "GAP")
        with m.If(st["GAP"]):
            goto("GAP", "RUN")
        with m.If(st["RUN"] & self.rem_last):
            goto("RUN", "WAIT")
        with m.If(self.done):
            goto("FINAL", "IDLE")
        with m.If(st["DISCARD"] & self.scores_valid):
            m.d.sync += disc.eq(disc - 1)
            with m.If(disc == 1):
                goto("DISCARD", "EMPTY")
        with m.If(st["EMPTY"] & self.result_ready):
            goto("EMPTY", "IDLE")
        return m
