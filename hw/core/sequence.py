"""The sequence state between layers: token and head importances, alive lists, cascade pruning."""

from functools import reduce
from operator import or_

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.command import MAX_HEADS, MAX_LAYERS, SURVIVOR_HEADER_BITS, out_row_bytes
from golden.formats import TOKEN_IMPORTANCE

from ..fetcher.layouts import index_layout
from ..params import check_int, check_pow2
from .alive_list import AliveList
from .candidate_feed import CandidateFeed
from .head_pruning import HEAD_COUNT_BITS, HeadPruning, head_importance_layout
from .layouts import importance_layout
from .ranker import Ranker
from .token_importance import TokenImportance

__all__ = ["SequenceState", "sequence_state_from_config", "layer_layout", "pruned_layout",
           "head_importance_layout"]

def _keys_shape(max_context):
    return unsigned(max_context.bit_length())


def _heads_shape():
    return unsigned(HEAD_COUNT_BITS)


def layer_layout(*, max_context):
    """What the core tells the sequence state of one (already checked) layer command."""
    keys = _keys_shape(max_context)
    return data.StructLayout({"fresh": 1, "causal": 1, "layer": range(MAX_LAYERS), "keys": keys,
                              "heads": _heads_shape(), "token_keep": keys, "head_keep": _heads_shape()})


def pruned_layout(*, max_context):
    """A command's outcome: error (``KEYS_SHRINK``), the layer's heads, tokens alive and pruned."""
    keys = _keys_shape(max_context)
    return data.StructLayout({"error": 1, "head_alive": MAX_HEADS, "tokens_alive": keys,
                              "tokens_pruned": keys, "heads_pruned": _heads_shape()})


class SequenceState(wiring.Component):
    """Tokens, importances and head lists of one sequence; cascade pruning of each layer command.

    Bit-exact with ``golden.spatten.SpattenAttention`` (``_grow``, ``_prune`` with
    ``golden.pruning.protect_mask`` and ``prune_step``, the saturating
    importance sums), with the keep counts of the command instead of the
    schedule. Per ``layer`` beat, in order: ``fresh`` forgets the sequence
    (no tokens, importances 0, every head alive in every layer, head scores
    0); ``keys`` below the sequence's tokens without ``fresh`` is the error
    ``KEYS_SHRINK`` (nothing changes, no survivor rows); tokens ``n..keys-1``
    become alive with importance 0; if more than ``token_keep`` are alive, the
    protected ones (causal: the first ``protect_sinks`` and the newest
    ``protect_recent``) stay and the others are ranked by importance (a
    :class:`.ranker.Ranker` of ``P = topk_parallelism``) for the rest of the
    quota; the layer's head candidates (alive at this layer and at the one
    before) beyond ``head_keep`` are ranked by score
    (:class:`.head_pruning.HeadPruning`, a head's rank in four cycles) and
    the result is stored as the layer's heads. Then the
    survivor record (``golden.command.pack_survivors``) goes out on
    ``survivors`` and the outcome on ``pruned``.

    Parameters
    ----------
    max_context : int
        Tokens of a sequence at most, 1..65536.
    topk_parallelism : int
        ``P`` of the token ranker (:attr:`token_lanes`), power of two in 2..64.
    protect_sinks, protect_recent : int
        0..max_context: tokens of a causal command never pruned
        (``cfg.token_protect_sinks``, ``cfg.token_protect_recent``).
    row_bits : int
        Bits of one survivor record row, a multiple of 8 in 8..65536
        (``8 * golden.command.out_row_bytes(cfg.head_dim, cfg.value_bits)``).

    Members
    -------
    layer : In(stream of :func:`layer_layout`)
        One beat per layer command, taken when idle and no importance, head
        importance or alive request is offered (those go first).
    survivors : Out(stream of ``{data: row_bits, last}``)
        :attr:`survivor_rows` beats per good command: row ``r``'s bytes as a
        little-endian integer. Registered.
    pruned : Out(stream of :func:`pruned_layout`)
        One beat per command, after its rows; ``tokens_pruned`` and
        ``heads_pruned``: pruned by this command. Registered.
    alive_request : In(stream.Signature(1))
    alive : Out(stream of :func:`hw.fetcher.layouts.index_layout`)
        Per request, the alive tokens below the last good command's ``keys``
        ascending (:class:`.alive_list.AliveList`), for
        ``hw.core.head.HeadDatapath.alive``.
    importance : In(stream of :func:`hw.core.layouts.importance_layout`)
        ``HeadDatapath.importance``: saturating add into the token's
        importance; ``none`` beats add nothing.
    head_importance : In(stream of :func:`head_importance_layout`)
        Saturating add into the head's score.
    busy : Out(1)
        A command is under way or a list is being streamed.

    Latency (no backpressure) of a command with ``n`` tokens before and
    ``L = keys``, from the cycle its beat is taken: ``L - n + 1`` cycles to
    grow; if tokens are pruned, ``L`` to find the ``c`` candidates, one for
    the request, about ``c + 2`` to feed the token ranker, its ranking
    (``golden.topk_cycles``) and one cycle per kept candidate; 4 for the
    heads (:attr:`HEADS_LATENCY`; :attr:`HEADS_LATENCY_PRUNED` if heads are
    pruned); ``L`` to write the alive list; then :attr:`survivor_rows` rows,
    one per cycle, and the ``pruned`` beat. Without pruning that is
    :meth:`latency_unpruned` in all. An error answers on ``pruned`` in the
    next cycle. Throughput: one importance, one head importance and one
    alive index per cycle while idle.
    """

    def __init__(self, *, max_context, topk_parallelism, protect_sinks=0, protect_recent=0, row_bits):
        self._max_context = check_int("max_context", max_context, 1, 65536)
        self._parallelism = check_pow2("topk_parallelism", topk_parallelism, 2, 64)
        self._sinks = check_int("protect_sinks", protect_sinks, 0, self._max_context)
        self._recent = check_int("protect_recent", protect_recent, 0, self._max_context)
        self._row_bits = check_int("row_bits", row_bits, 8, 65536)
        if self._row_bits % 8:
            raise ValueError(f"row_bits must be a multiple of 8 in 8..65536, not {row_bits!r}")
        index = index_layout(index_bits=self.index_bits)
        super().__init__({
            "layer": In(stream.Signature(layer_layout(max_context=self._max_context))),
            "survivors": Out(stream.Signature(data.StructLayout({"data": self._row_bits, "last": 1}))),
            "pruned": Out(stream.Signature(pruned_layout(max_context=self._max_context))),
            "alive_request": In(stream.Signature(1)),
            "alive": Out(stream.Signature(index)),
            "importance": In(stream.Signature(importance_layout(max_context=self._max_context))),
            "head_importance": In(stream.Signature(head_importance_layout())),
            "busy": Out(1),
        })

    max_context = property(lambda self: self._max_context)
    topk_parallelism = property(lambda self: self._parallelism)
    protect_sinks = property(lambda self: self._sinks)
    protect_recent = property(lambda self: self._recent)
    row_bits = property(lambda self: self._row_bits)

    @property
    def index_bits(self):
        return max(1, (self._max_context - 1).bit_length())

    @property
    def token_lanes(self):
        """Lanes of the token ranker: ``P``, but no more than the power of two at or above
        ``max_context`` (at least 2): wider beats would hold nothing, and the engine needs
        ``n_max`` above half its lanes."""
        return min(self._parallelism, max(2, 1 << (self._max_context - 1).bit_length()))

    @property
    def survivor_rows(self):
        """Rows of the survivor record (``golden.command.survivor_rows``)."""
        return -(-(SURVIVOR_HEADER_BITS + self._max_context) // self._row_bits)

    def latency_unpruned(self, keys, tokens=0):
        """Cycles from a good command's beat taken to its ``pruned`` beat valid, when it prunes
        nothing and its outputs are ready: ``tokens`` before (0 if fresh), ``keys`` after."""
        return (keys - tokens + 1) + self.HEADS_LATENCY + keys + self.survivor_rows + 2

    #: Cycles of the head step (``HeadPruning``): start, read, decide, store; with heads pruned,
    #: the head ranking between decide and store.
    HEADS_LATENCY = HeadPruning.LATENCY_UNPRUNED
    HEADS_LATENCY_PRUNED = HeadPruning.LATENCY_PRUNED

    def _protected(self, cmd, i):
        terms = ([i < self._sinks] if self._sinks else []) + ([i + self._recent >= cmd.keys] if self._recent else [])
        return cmd.causal & reduce(or_, terms) if terms else Const(0)

    def elaborate(self, platform):  # noqa: C901 (one sequencer: its states read top to bottom)
        m = Module()
        MC, KB = self._max_context, self._max_context.bit_length()
        m.submodules.importance = imp = TokenImportance(max_context=MC)
        m.submodules.rank = rank = Ranker(n_max=MC, parallelism=self.token_lanes,
                                          score_bits=TOKEN_IMPORTANCE.bits)
        m.submodules.heads = heads = HeadPruning()
        m.submodules.alive_list = al = AliveList(max_context=MC)
        wiring.connect(m, wiring.flipped(self.importance), imp.add)
        wiring.connect(m, wiring.flipped(self.head_importance), heads.head_importance)
        wiring.connect(m, wiring.flipped(self.alive_request), al.request)
        wiring.connect(m, al.alive, wiring.flipped(self.alive))
        m.submodules.candidates = cands = CandidateFeed(max_context=MC, score_bits=TOKEN_IMPORTANCE.bits)
        wiring.connect(m, cands.scores, rank.scores)
        m.d.comb += [imp.rd_token.eq(cands.score_token), imp.rd_en.eq(cands.score_en),
                     cands.score.eq(imp.rd_score), cands.look_pos.eq(rank.kept.p.value)]

        cmd = Signal(self.layer.p.shape(), reset_less=True)
        m.d.comb += [heads.layer.eq(cmd.layer), heads.heads.eq(cmd.heads), heads.head_keep.eq(cmd.head_keep)]
        n_tok, alive_cnt, alive_before = Signal(KB), Signal(KB), Signal(KB)
        alive = Signal(MC)                  # token j alive (j < n_tok)
        i, npro = Signal(KB), Signal(KB)
        nc = cands.count
        idle = Signal()
        m.d.comb += self.busy.eq(~idle | al.busy)

        # The survivor record: head mask | alive count (32 bits) | token bitmap, in rows.
        R, RB = self.survivor_rows, self._row_bits
        record = Cat(heads.keep, alive_cnt, Const(0, 32 - KB), alive,
                     Const(0, R * RB - SURVIVOR_HEADER_BITS - MC))
        row = Signal(range(R + 1))
        s, pr = self.survivors, self.pruned

        def outcome(error):
            m.d.sync += [pr.valid.eq(1), pr.p.error.eq(error), pr.p.head_alive.eq(Mux(error, 0, heads.keep)),
                         pr.p.tokens_alive.eq(alive_cnt),
                         pr.p.tokens_pruned.eq(Mux(error, 0, alive_before - alive_cnt)),
                         pr.p.heads_pruned.eq(Mux(error, 0, heads.pruned))]
            m.next = "PRUNED"

        # A kept position's token comes back to life a cycle later (the candidate list's read).
        revive = Signal()
        m.d.sync += revive.eq(0)
        with m.If(revive):
            m.d.sync += [alive.bit_select(cands.look_token, 1).eq(1), alive_cnt.eq(alive_cnt + 1)]
        m.d.comb += [cands.push_token.eq(i), imp.zero_token.eq(i)]

        here = alive.bit_select(i, 1)
        protect = self._protected(cmd, i)
        # The candidates' quota: token_keep less the protected alive tokens. It is below the
        # candidates' count, for the alive ones (candidates and protected) exceed token_keep.
        k_rest = Signal(KB)
        m.d.comb += k_rest.eq(Mux(cmd.token_keep > npro, cmd.token_keep - npro, 0))

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [idle.eq(1), imp.allow.eq(1), heads.allow.eq(1), al.allow.eq(1),
                             self.layer.ready.eq(~self.importance.valid
                                                 & ~self.head_importance.valid & ~self.alive_request.valid
                                                 & ~al.busy)]
                lp = self.layer.p
                with m.If(self.layer.valid & self.layer.ready):
                    m.d.sync += cmd.eq(lp)
                    with m.If(~lp.fresh & (lp.keys < n_tok)):
                        outcome(1)
                    with m.Else():
                        m.d.comb += heads.forget.eq(lp.fresh)
                        m.d.sync += i.eq(Mux(lp.fresh, 0, n_tok))
                        with m.If(lp.fresh):
                            m.d.sync += [alive.eq(0), alive_cnt.eq(0)]
                        m.next = "GROW"

            with m.State("GROW"):
                with m.If(i < cmd.keys):
                    m.d.comb += imp.zero.eq(1)
                    m.d.sync += [alive.bit_select(i, 1).eq(1), alive_cnt.eq(alive_cnt + 1), i.eq(i + 1)]
                with m.Else():
                    m.d.comb += cands.clear.eq(1)
                    m.d.sync += [n_tok.eq(cmd.keys), alive_before.eq(alive_cnt), i.eq(0), npro.eq(0)]
                    with m.If(alive_cnt > cmd.token_keep):
                        m.next = "CANDIDATES"
                    with m.Else():
                        m.next = "HEADS"

            # The unprotected alive tokens become candidates (and provisionally dead).
            with m.State("CANDIDATES"):
                with m.If(here & ~protect):
                    m.d.comb += cands.push.eq(1)
                    m.d.sync += alive.bit_select(i, 1).eq(0)
                with m.If(here & protect):
                    m.d.sync += npro.eq(npro + 1)
                m.d.sync += i.eq(i + 1)
                with m.If(i == cmd.keys - 1):
                    m.next = "TOKEN_REQUEST"

            with m.State("TOKEN_REQUEST"):
                m.d.sync += alive_cnt.eq(npro)
                m.d.comb += [rank.request.p.n.eq(nc), rank.request.p.k.eq(k_rest)]
                with m.If(k_rest == 0):
                    m.next = "HEADS"
                with m.Else():
                    m.d.comb += rank.request.valid.eq(1)
                    with m.If(rank.request.ready):
                        m.d.comb += cands.start.eq(1)
                        m.next = "TOKEN_KEPT"

            # The kept positions come after the last score (the ranker's final pass).
            with m.State("TOKEN_KEPT"):
                k = rank.kept
                m.d.comb += k.ready.eq(1)
                m.d.sync += revive.eq(k.valid & ~k.p.none)
                with m.If(k.valid & k.p.last):
                    m.next = "HEADS"

            with m.State("HEADS"):
                m.d.comb += heads.start.eq(1)
                m.next = "HEADS_WAIT"

            with m.State("HEADS_WAIT"):
                with m.If(heads.done):
                    m.d.comb += al.clear.eq(1)
                    m.d.sync += [i.eq(0), row.eq(0)]
                    m.next = "LIST"

            with m.State("LIST"):
                m.d.comb += [al.push.eq(here), al.push_index.eq(i)]
                m.d.sync += i.eq(i + 1)
                with m.If(i == cmd.keys - 1):
                    m.next = "ROWS"

            with m.State("ROWS"):
                with m.If(~s.valid | s.ready):
                    with m.If(row < R):
                        m.d.sync += [s.valid.eq(1), s.p.data.eq(record.word_select(row, RB)),
                                     s.p.last.eq(row == R - 1), row.eq(row + 1)]
                    with m.Else():
                        m.d.sync += s.valid.eq(0)
                        outcome(0)

            with m.State("PRUNED"):
                with m.If(pr.ready):
                    m.d.sync += pr.valid.eq(0)
                    m.next = "IDLE"
        return m


def sequence_state_from_config(cfg):
    """The sequence state of one :class:`gen.config.SpattenConfig`."""
    return SequenceState(max_context=cfg.max_context, topk_parallelism=cfg.topk_parallelism,
                         protect_sinks=cfg.token_protect_sinks, protect_recent=cfg.token_protect_recent,
                         row_bits=8 * out_row_bytes(cfg.head_dim, cfg.value_bits))
