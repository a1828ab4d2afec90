"""Request sequencing of the array units: two request slots, data beats counted, credits."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_bool, check_int

__all__ = ["RequestSequencer", "next_pow2"]


def next_pow2(value):
    """The smallest power of two >= ``value`` (at least 2)."""
    return 1 << max(1, (value - 1).bit_length())


class RequestSequencer(wiring.Component):
    """Takes requests ``{n, d}`` into two slots and turns their data beats into items.

    A request is loaded into the free slot while the other one streams, so
    the data beats of consecutive requests follow with no gap. The streaming
    slot takes ``ceil(n / per_beat)`` data beats; each becomes an ``item``
    (``count`` rows, ``first`` and ``last`` of its request). A bad request
    (``d`` outside ``1..head_dim`` or ``n`` outside ``1..max_context``) has
    its data beats taken and dropped, then one item with ``error``, ``first``
    and ``last`` and ``count = 0``. Every item that makes an output takes a
    credit (one per item with ``credit_per_beat``, else one per request, on
    its first item); ``credit_return`` gives one back.

    A slot is free again after its last item, or with ``hold_until_release``
    once ``release`` names it (a unit whose slots hold data the pipeline
    still reads).

    Parameters
    ----------
    per_beat : int
        Rows per data beat, 1..64.
    head_dim, max_context : int
        Largest ``d`` and ``n``.
    credits : int
        Credits (the output FIFO's depth), 2..1024.
    credit_per_beat, hold_until_release : bool

    Members
    -------
    request_valid, request_ready, request_n, request_d
        The request handshake and fields.
    load, load_slot : Out(1)
        A request is taken into slot ``load_slot`` in this cycle.
    data_valid, data_ready : In(1), Out(1)
        The data handshake.
    item : Out(StructLayout({valid, slot, first, last, error, count, d}))
        The item of this cycle (combinational, from registers and ``data_valid``).
    take : Out(1)
        A data beat is taken (kept or dropped) in this cycle.
    slot : Out(1)
        The streaming slot.
    occupied : Out(1)
        A slot holds a request (not yet free).
    credit_return : In(1)
        An output left (its credit comes back).
    release, release_slot : In(1)
        With ``hold_until_release``: the last output of slot ``release_slot`` left the pipeline.

    Latency: a request loaded into an empty sequencer streams from the next
    cycle; a data beat per cycle while credits last.
    """

    def __init__(self, *, per_beat, head_dim, max_context, credits, credit_per_beat, hold_until_release):
        self._per_beat = check_int("per_beat", per_beat, 1, 64)
        self._head_dim = check_int("head_dim", head_dim, 1, 256)
        self._max_context = check_int("max_context", max_context, 1, 65536)
        self._credits = check_int("credits", credits, 2, 1024)
        self._credit_per_beat = check_bool("credit_per_beat", credit_per_beat)
        self._hold = check_bool("hold_until_release", hold_until_release)
        n_shape = unsigned(self._max_context.bit_length())
        super().__init__({
            "request_valid": In(1), "request_ready": Out(1),
            "request_n": In(n_shape), "request_d": In(range(self._head_dim + 1)),
            "load": Out(1), "load_slot": Out(1),
            "data_valid": In(1), "data_ready": Out(1),
            "item": Out(data.StructLayout({"valid": 1, "slot": 1, "first": 1, "last": 1, "error": 1,
                                           "count": range(self._per_beat + 1),
                                           "d": range(self._head_dim + 1)})),
            "take": Out(1), "slot": Out(1), "occupied": Out(1),
            "credit_return": In(1), "release": In(1), "release_slot": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        R = self._per_beat
        left = [Signal.like(self.request_n, name=f"left{s}", reset_less=True) for s in (0, 1)]
        d = [Signal.like(self.request_d, name=f"d{s}", reset_less=True) for s in (0, 1)]
        bad = [Signal(name=f"bad{s}", reset_less=True) for s in (0, 1)]
        first = [Signal(name=f"first{s}", reset_less=True) for s in (0, 1)]
        loaded = Signal(2)          # the slot's data beats are not all taken
        held = Signal(2)            # ... or, with hold_until_release, its outputs have not all left
        load_ptr, cur = Signal(), Signal()

        m.d.comb += [self.request_ready.eq(~held.bit_select(load_ptr, 1)), self.load_slot.eq(load_ptr),
                     self.slot.eq(cur)]
        load = self.request_valid & self.request_ready
        m.d.comb += self.load.eq(load)
        with m.If(load):
            m.d.sync += load_ptr.eq(~load_ptr)
        n_in, d_in = self.request_n, self.request_d
        for s in (0, 1):
            with m.If(load & (load_ptr == s)):
                m.d.sync += [left[s].eq(n_in), d[s].eq(d_in), first[s].eq(1),
                             bad[s].eq((d_in == 0) | (d_in > self._head_dim) | (n_in == 0)
                                       | (n_in > self._max_context))]

        credits = Signal(range(self._credits + 1), init=self._credits)
        have_credit = credits != 0
        cur_loaded = loaded.bit_select(cur, 1)
        cur_left = Mux(cur, left[1], left[0])
        cur_bad, cur_first = Mux(cur, bad[1], bad[0]), Mux(cur, first[1], first[0])
        cur_d = Mux(cur, d[1], d[0])
        last_beat = cur_left <= R
        good = cur_loaded & ~cur_bad
        # An item needs a credit if it makes an output: every one, or a request's first.
        need_credit = Signal()
        m.d.comb += need_credit.eq(1 if self._credit_per_beat else cur_first)
        drop = cur_loaded & cur_bad & (cur_left != 0)
        m.d.comb += self.data_ready.eq((good & (have_credit | ~need_credit)) | drop)
        take = self.data_valid & self.data_ready
        error_item = cur_loaded & cur_bad & (cur_left == 0) & have_credit
        kept = take & good
        finish = (kept & last_beat) | error_item
        m.d.comb += [
            self.take.eq(take),
            self.item.valid.eq(kept | error_item), self.item.slot.eq(cur),
            self.item.first.eq(cur_first | cur_bad), self.item.last.eq(last_beat | cur_bad),
            self.item.error.eq(cur_bad), self.item.count.eq(Mux(cur_bad, 0, Mux(last_beat, cur_left, R))),
            self.item.d.eq(cur_d),
        ]
        for s in (0, 1):
            with m.If(take & (cur == s)):
                m.d.sync += [left[s].eq(Mux(last_beat, 0, cur_left - R)), first[s].eq(0)]
            taken = load & (load_ptr == s)
            m.d.sync += loaded[s].eq(taken | (loaded[s] & ~(finish & (cur == s))))
            if self._hold:
                m.d.sync += held[s].eq(taken | (held[s] & ~(self.release & (self.release_slot == s))))
            else:
                m.d.comb += held[s].eq(loaded[s])
        with m.If(finish):
            m.d.sync += cur.eq(~cur)
        m.d.comb += self.occupied.eq(held.any())
        spent = (kept & need_credit) | error_item
        m.d.sync += credits.eq(credits - spent + self.credit_return)
        return m
