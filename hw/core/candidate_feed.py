"""The candidates of token pruning: their list, and their scores streamed to the ranker in list order."""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..params import check_int

__all__ = ["CandidateFeed"]


class CandidateFeed(wiring.Component):
    """A list of candidate tokens; per ``start``, their scores, read from a memory by token, as a stream.

    Two chained reads per candidate (list position -> token -> score), both
    from memory read ports that hold their data while ``scores`` is stalled,
    so a stall costs nothing and loses nothing.

    Parameters
    ----------
    max_context : int
        Candidates at most, 1..65536.
    score_bits : int
        Bits of a score, 1..64.

    Members
    -------
    clear : In(1)
        Empty the list (takes effect in the next cycle).
    push, push_token : In(1), In(index_bits)
        Append ``push_token`` (not with ``clear``).
    count : Out(range(max_context + 1))
        Candidates in the list.
    start : In(1)
        Stream the scores of the whole list (``count >= 1``; not while a feed is under way).
    score_token, score_en : Out(index_bits), Out(1)
        The score memory's read port: ``score`` holds ``score_token``'s score
        in the cycle after ``score_en``, and holds it while ``score_en`` is low.
    score : In(score_bits)
    scores : Out(stream of ``{value, last}``)
        The list's scores in list order, ``last`` on the last. One per cycle,
        the first valid three cycles after ``start``.
    look_pos : In(index_bits)
        While no feed is under way (its last score has gone): the token at
        ``look_pos`` is on ``look_token`` in the next cycle.
    look_token : Out(index_bits)
    """

    def __init__(self, *, max_context, score_bits):
        self._max_context = check_int("max_context", max_context, 1, 65536)
        self._score_bits = check_int("score_bits", score_bits, 1, 64)
        IB = self.index_bits
        super().__init__({
            "clear": In(1), "push": In(1), "push_token": In(IB), "count": Out(range(self._max_context + 1)),
            "start": In(1), "score_token": Out(IB), "score_en": Out(1), "score": In(self._score_bits),
            "scores": Out(stream.Signature(data.StructLayout({"value": unsigned(self._score_bits), "last": 1}))),
            "look_pos": In(IB), "look_token": Out(IB),
        })

    max_context = property(lambda self: self._max_context)
    score_bits = property(lambda self: self._score_bits)

    @property
    def index_bits(self):
        return max(1, (self._max_context - 1).bit_length())

    def elaborate(self, platform):
        m = Module()
        MC = self._max_context
        m.submodules.mem = mem = Memory(shape=unsigned(self.index_bits), depth=MC, init=[])
        wr, rd = mem.write_port(), mem.read_port(transparent_for=())
        count = self.count
        with m.If(self.clear):
            m.d.sync += count.eq(0)
        with m.Elif(self.push):
            m.d.sync += count.eq(count + 1)
        m.d.comb += [wr.addr.eq(count), wr.data.eq(self.push_token), wr.en.eq(self.push & ~self.clear)]

        # Stage a: the token at rd.data; stage b: its score at the score port.
        active, pos = Signal(), Signal(range(MC + 1))
        va, la, vb, lb = Signal(), Signal(), Signal(), Signal()
        o = self.scores
        advance = ~vb | o.ready
        issue = active & (pos < count)
        m.d.comb += [rd.addr.eq(pos), rd.en.eq(advance), self.score_token.eq(rd.data), self.score_en.eq(advance),
                     o.valid.eq(vb), o.p.value.eq(self.score), o.p.last.eq(lb), self.look_token.eq(rd.data)]
        with m.If(~(active | va | vb)):
            m.d.comb += [rd.addr.eq(self.look_pos), rd.en.eq(1)]
        with m.If(advance):
            m.d.sync += [va.eq(issue), la.eq(pos == count - 1), vb.eq(va), lb.eq(la), pos.eq(pos + issue)]
            with m.If(issue & (pos == count - 1)):
                m.d.sync += active.eq(0)
        with m.If(self.start):
            m.d.sync += [active.eq(1), pos.eq(0)]
        return m
