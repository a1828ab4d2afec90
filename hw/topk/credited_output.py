"""The top-k engine's credited output: the final pass's packed beats through a FIFO to ``result``."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.topk_timing import FINAL_LATENCY

from ..credit_fifo import CreditFifo
from ..replicate import kept_copies
from ..zero_eliminator import ZeroEliminator
from .final_pass import packed_beat
from .geometry import check_geometry

__all__ = ["CreditedOutput", "result_layout"]


def result_layout(geometry):
    """A result beat: the kept elements in lanes ``0..count-1``, ``last``, ``error``."""
    P = geometry.lanes
    return data.StructLayout({"index": data.ArrayLayout(geometry.index_bits, P),
                              "score": data.ArrayLayout(geometry.shape, P),
                              "count": range(P + 1), "last": 1, "error": 1})


class CreditedOutput(wiring.Component):
    """Queues the final pass's non-empty beats in a FIFO and hands back a credit per beat out.

    The final pass never stalls: it issues a row only while a credit is
    left (``credit_ok``). A credit returns when a beat leaves the FIFO (a
    cycle later, from a register: the consumer's ready arrives late) or is
    dropped for being empty. The beats are counted against the request's
    ``k``: the beat that fills it is the last, the later ones are dropped
    and the pass stops reading (``stop``). Push, drop and last are decided
    from the early count and carried in registers to the packed beat, so
    that the FIFO's write enable and the credit count start from
    flip-flops. Outside the final pass the output answers the empty beat of
    a bad request or ``k = 0`` (``empty``).

    Parameters
    ----------
    geometry : TopKGeometry

    Members
    -------
    packed : In(:func:`hw.topk.final_pass.packed_beat`)
    issue : In(1)
        The pass reads a row (takes a credit).
    start, quota_m1 : In(1), In(count_bits)
        A request starts: ``k - 1`` elements after the first are to be kept.
    final, empty, clamped, empty_error : In(1)
        The control's states FINAL and EMPTY; the request's flags
        (``k > n``: ``error`` on the last beat; a bad ``n``: on the empty beat).
    result : Out(stream of :func:`result_layout`)
    stop : Out(1)
        The last beat is pushed: the pass stops reading rows.
    credit_ok : Out(G + 1)
        A row may be issued, registered (one copy per lane group, one for the counters).
    done : Out(1)
        The last beat left, a cycle ago (the FIFO is empty).

    Latency: :attr:`latency` = the FIFO's, from the packed beat to ``result``.
    """

    def __init__(self, *, geometry):
        self._geometry = g = check_geometry(geometry)
        super().__init__({
            "packed": In(packed_beat(g)), "issue": In(1), "start": In(1), "quota_m1": In(g.count_bits),
            "final": In(1), "empty": In(1), "clamped": In(1), "empty_error": In(1),
            "result": Out(stream.Signature(result_layout(g))),
            "stop": Out(1), "credit_ok": Out(g.broadcast_copies + 1), "done": Out(1),
        })

    @property
    def latency(self):
        return CreditFifo.LATENCY

    @property
    def fifo_depth(self):
        """The smallest power of two above a credit's round trip, ``final_latency + 2`` cycles from
        its row's issue (16 with LUT RAM, 32 with block RAM): an unstalled pass never waits."""
        return 1 << (FINAL_LATENCY + self._geometry.read_delay + 1).bit_length()

    def elaborate(self, platform):
        m = Module()
        g = self._geometry
        P, packed = g.lanes, self.packed
        out_layout = data.StructLayout({"index": data.ArrayLayout(g.index_bits, P),
                                        "score": data.ArrayLayout(g.shape, P),
                                        "count": range(P + 1), "last": 1})
        m.submodules.ofifo = ofifo = CreditFifo(width=out_layout.size, depth=self.fifo_depth)
        credits = Signal(range(self.fifo_depth + 1), init=self.fifo_depth)
        # Elements still to push in this request, minus one (signed): the
        # last beat is the one whose count makes it negative, the sign bit
        # of one subtraction from registers.
        to_push_m1 = Signal(signed(g.count_bits + 1))
        pushed_last = Signal()       # the last beat is decided: drop what follows
        e_push, e_last = Signal(), Signal()
        after = to_push_m1 - packed.early_count
        m.d.comb += [e_push.eq(packed.early_valid & (packed.early_count != 0) & ~pushed_last),
                     e_last.eq(after[-1])]
        # Subtracting an empty beat's zero, or any beat's count once the last
        # one is pushed, changes nothing that is read: no enable but the valid.
        with m.If(packed.early_valid):
            m.d.sync += to_push_m1.eq(after)
        with m.If(e_push & e_last):
            m.d.sync += pushed_last.eq(1)
        with m.If(self.start):
            m.d.sync += [to_push_m1.eq(self.quota_m1), pushed_last.eq(0)]
        # Stop reading rows a cycle later, from a register; a row read in
        # that cycle is dropped like any beat after the last one.
        m.d.sync += self.stop.eq(e_push & e_last)
        push, drop, last = e_push, packed.early_valid & ~e_push, e_last
        for i in range(ZeroEliminator.latency_of(split=True) - ZeroEliminator.EARLY_LATENCY):
            n_push, n_drop, n_last = Signal(name=f"push{i}"), Signal(name=f"drop{i}"), Signal(name=f"last{i}")
            m.d.sync += [n_push.eq(push), n_drop.eq(drop), n_last.eq(last)]
            push, drop, last = n_push, n_drop, n_last
        w_beat, r_beat = Signal(out_layout), Signal(out_layout)
        m.d.comb += [w_beat.count.eq(packed.count), w_beat.last.eq(last),
                     ofifo.w_data.eq(w_beat), ofifo.w_en.eq(push), r_beat.eq(ofifo.r_data)]
        for lane in range(P):
            m.d.comb += [w_beat.score[lane].eq(packed.data[lane].score),
                         w_beat.index[lane].eq(packed.data[lane].index)]
        # The FIFO holds beats only in FINAL (its read side is not gated by the state).
        pop = Signal()
        m.d.comb += [ofifo.r_en.eq(self.result.ready), pop.eq(ofifo.r_valid & self.result.ready)]
        # The credits move by (pop_q + drop) - issue: the two returns are
        # registers, so the change is one small signed value and one adder.
        pop_q, back = Signal(), Signal(range(3))
        m.d.comb += back.eq(pop_q + drop)
        m.d.sync += [pop_q.eq(pop), credits.eq(credits + Mux(self.issue, back - 1, back))]
        # A row may be issued if a credit is left after this cycle's issue
        # (credits >= 2 now implies >= 1 next cycle; without backpressure the
        # credits never fall below 2, so the pass runs at full rate).
        credit_ok = kept_copies(1, g.broadcast_copies + 1, name="credit_ok", init=1)
        m.d.sync += [c.eq(credits >= 2) for c in credit_ok]
        m.d.comb += [self.credit_ok[i].eq(c) for i, c in enumerate(credit_ok)]

        payload = self.result.payload
        # Lanes are don't-care beyond count: they come straight from the FIFO
        # (no gate on the wide lanes); only the small fields are multiplexed.
        for lane in range(P):
            m.d.comb += [payload.score[lane].eq(r_beat.score[lane]),
                         payload.index[lane].eq(r_beat.index[lane])]
        with m.If(self.final):
            m.d.comb += [payload.count.eq(r_beat.count), payload.last.eq(r_beat.last),
                         payload.error.eq(r_beat.last & self.clamped)]
        with m.Else():
            m.d.comb += [payload.count.eq(0), payload.last.eq(1), payload.error.eq(self.empty_error)]
        m.d.comb += self.result.valid.eq(Mux(self.final, ofifo.r_valid, self.empty))
        # The pass ends a cycle after its last beat leaves, from a register
        # (the consumer's ready into the state flags is a long path).
        m.d.sync += self.done.eq(self.final & ofifo.r_valid & self.result.ready & r_beat.last)
        return m
