"""The tokens' accumulated importances: one memory word per token, saturating adds, zeroing, reads."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.formats import TOKEN_IMPORTANCE

from ..params import check_int
from .layouts import importance_layout

__all__ = ["TokenImportance"]


class TokenImportance(wiring.Component):
    """``max_context`` ``TOKEN_IMPORTANCE`` accumulators (``golden.pruning.sat_add``) in one memory.

    Parameters
    ----------
    max_context : int
        Tokens, 1..65536.

    Members
    -------
    add : In(stream of :func:`hw.core.layouts.importance_layout`)
        While ``allow``: one beat per cycle, ``importance`` added to
        ``token``'s word, saturating (``none`` adds nothing). Read-modify-write:
        the read is a cycle ahead of the write, and a beat naming the token of
        the beat just before takes that beat's sum (forwarded), so any order of
        tokens is exact.
    allow : In(1)
    pending : Out(1)
        An add's write is under way (the cycle after it is taken).
    zero, zero_token : In(1), In(index_bits)
        Write 0 to ``zero_token``'s word (not while ``pending``).
    rd_token, rd_en : In(index_bits), In(1)
        Without ``allow``: read ``rd_token``'s word; ``rd_score`` has it in the
        next cycle, and holds while ``rd_en`` is low.
    rd_score : Out(TOKEN_IMPORTANCE.bits)
    """

    def __init__(self, *, max_context):
        self._max_context = check_int("max_context", max_context, 1, 65536)
        IB = self.index_bits
        super().__init__({
            "add": In(stream.Signature(importance_layout(max_context=self._max_context))), "allow": In(1),
            "pending": Out(1), "zero": In(1), "zero_token": In(IB),
            "rd_token": In(IB), "rd_en": In(1), "rd_score": Out(TOKEN_IMPORTANCE.bits),
        })

    max_context = property(lambda self: self._max_context)

    @property
    def index_bits(self):
        return max(1, (self._max_context - 1).bit_length())

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=unsigned(TOKEN_IMPORTANCE.bits), depth=self._max_context, init=[])
        wr, rd = mem.write_port(), mem.read_port(transparent_for=())
        a = self.add
        take = a.valid & a.ready & ~a.p.none
        token = Signal(self.index_bits, reset_less=True)
        addend, last_sum = (Signal(TOKEN_IMPORTANCE.bits, reset_less=True) for _ in range(2))
        fwd = Signal()
        top = TOKEN_IMPORTANCE.max_int
        total = Mux(fwd, last_sum, rd.data) + addend
        m.d.sync += [self.pending.eq(take), fwd.eq(take & self.pending & (a.p.token == token)),
                     token.eq(a.p.token), addend.eq(a.p.importance), last_sum.eq(wr.data)]
        m.d.comb += [a.ready.eq(self.allow), self.rd_score.eq(rd.data),
                     rd.addr.eq(Mux(self.allow, a.p.token, self.rd_token)), rd.en.eq(self.allow | self.rd_en),
                     wr.addr.eq(Mux(self.pending, token, self.zero_token)), wr.en.eq(self.pending | self.zero),
                     wr.data.eq(Mux(self.pending, Mux(total > top, top, total), 0))]
        return m
