"""Cascade head pruning: head scores, the head list of every layer, the ranking of a layer's heads."""

from amaranth.hdl import Array, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.command import MAX_HEADS, MAX_LAYERS
from golden.formats import HEAD_IMPORTANCE

from .head_ranker import HeadRanker

__all__ = ["HeadPruning", "head_importance_layout", "HEAD_BITS", "HEAD_COUNT_BITS"]

#: Bits of a head's number (0..MAX_HEADS - 1) and of a count of heads (0..MAX_HEADS).
HEAD_BITS = (MAX_HEADS - 1).bit_length()
HEAD_COUNT_BITS = MAX_HEADS.bit_length()


def head_importance_layout():
    """One head's importance (``HEAD_IMPORTANCE`` codes) to add to its score."""
    return data.StructLayout({"head": unsigned(HEAD_BITS), "importance": unsigned(HEAD_IMPORTANCE.bits)})


class HeadPruning(wiring.Component):
    """Head scores and the head lists of ``MAX_LAYERS`` layers; one layer's head pruning per ``start``.

    As ``golden.spatten.SpattenAttention._prune``: the candidates of layer
    ``l`` are its heads ``0..heads-1`` alive at ``l`` and at ``l - 1`` (layer 0:
    at 0); a layer with no stored list has all heads alive. If more than
    ``head_keep`` are candidates, the ``head_keep`` largest scores stay
    (``golden.pruning.prune``: ties to the lower head), ranked by a
    :class:`.head_ranker.HeadRanker`; the result becomes layer ``l``'s list.

    Members
    -------
    head_importance : In(stream of :func:`head_importance_layout`)
        Saturating add into the head's score, one per cycle while ``allow``.
    allow : In(1)
    forget : In(1)
        A new sequence: scores 0, every layer's heads alive (not with ``start``).
    start : In(1)
        Prune ``layer`` with ``heads`` and ``head_keep`` (held until ``done``).
    layer, heads, head_keep : In
    done : Out(1)
        A cycle long: ``keep`` and ``pruned`` hold the result (until the next ``start``).
    keep : Out(MAX_HEADS)
        The layer's heads (bit ``h``: head ``h``).
    pruned : Out(HEAD_COUNT_BITS)
        Candidates less heads kept.

    Latency: ``done`` :attr:`LATENCY_UNPRUNED` - 1 cycles after ``start``
    when nothing is pruned, :attr:`LATENCY_PRUNED` - 1 when heads are pruned.
    """

    #: Cycles of a layer's head step, ``start`` to ``done`` inclusive: start, read, decide, store;
    #: with pruning, the head ranker's :attr:`.head_ranker.HeadRanker.LATENCY` between decide and store.
    LATENCY_UNPRUNED = 4
    LATENCY_PRUNED = LATENCY_UNPRUNED + HeadRanker.LATENCY

    def __init__(self):
        super().__init__({
            "head_importance": In(stream.Signature(head_importance_layout())), "allow": In(1),
            "forget": In(1), "start": In(1), "layer": In(range(MAX_LAYERS)),
            "heads": In(HEAD_COUNT_BITS), "head_keep": In(HEAD_COUNT_BITS),
            "done": Out(1), "keep": Out(MAX_HEADS), "pruned": Out(HEAD_COUNT_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.rank = rank = HeadRanker(score_bits=HEAD_IMPORTANCE.bits)
        m.submodules.lists = lists = Memory(shape=unsigned(MAX_HEADS), depth=MAX_LAYERS, init=[])
        wr, rd, prev_rd = lists.write_port(), lists.read_port(transparent_for=()), lists.read_port(transparent_for=())
        stored = Signal(MAX_LAYERS)         # the layer's list is stored (else: all heads alive)
        score = Array(Signal(HEAD_IMPORTANCE.bits, name=f"score_{h}") for h in range(MAX_HEADS))

        hb = self.head_importance
        m.d.comb += hb.ready.eq(self.allow)
        total = score[hb.p.head] + hb.p.importance
        with m.If(hb.valid & hb.ready):
            m.d.sync += score[hb.p.head].eq(Mux(total > HEAD_IMPORTANCE.max_int, HEAD_IMPORTANCE.max_int, total))
        with m.If(self.forget):
            m.d.sync += [stored.eq(0), *[s.eq(0) for s in score]]

        prev_layer = Signal(range(MAX_LAYERS))
        ones = Const((1 << MAX_HEADS) - 1, MAX_HEADS)
        m.d.comb += [prev_layer.eq(self.layer - 1), rd.addr.eq(self.layer), prev_rd.addr.eq(prev_layer),
                     wr.addr.eq(self.layer), wr.data.eq(self.keep)]
        cur = Mux(stored.bit_select(self.layer, 1), rd.data, ones)
        prev = Mux((self.layer == 0) | ~stored.bit_select(prev_layer, 1), ones, prev_rd.data)
        heads_mask = (Const(1, MAX_HEADS + 1) << self.heads) - 1

        cand, count = Signal(MAX_HEADS), Signal(HEAD_COUNT_BITS)
        m.d.comb += [count.eq(sum(cand[h] for h in range(MAX_HEADS))), rank.cand.eq(cand),
                     rank.keep.eq(self.head_keep), *[rank.scores[h].eq(score[h]) for h in range(MAX_HEADS)]]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.next = "READ"
            with m.State("READ"):
                m.d.sync += cand.eq(cur & prev & heads_mask)
                m.next = "DECIDE"
            with m.State("DECIDE"):
                with m.If(count > self.head_keep):
                    m.d.comb += rank.start.eq(1)
                    m.d.sync += self.pruned.eq(count - self.head_keep)
                    m.next = "RANK"
                with m.Else():
                    m.d.sync += [self.keep.eq(cand), self.pruned.eq(0)]
                    m.next = "STORE"
            with m.State("RANK"):
                with m.If(rank.done):
                    m.d.sync += self.keep.eq(rank.kept)
                    m.next = "STORE"
            with m.State("STORE"):
                m.d.comb += [wr.en.eq(1), self.done.eq(1)]
                m.d.sync += stored.bit_select(self.layer, 1).eq(1)
                m.next = "IDLE"
        return m
