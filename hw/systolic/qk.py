"""The Q x K unit: a query row held in the mesh, key rows streaming through it."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.formats import SCALE_MANT_BITS, SCORE
from golden.qk import qk_acc_bits

from ..credit_fifo import CreditFifo
from ..params import check_int
from .counters import COUNTER_BITS, count_utilization, times
from .delay import delayed
from .mesh import Mesh
from .pe import product_bits
from .score_scale import SHIFT_BITS, ScoreScale
from .sequencer import RequestSequencer, next_pow2
from .unit import ArrayUnit

__all__ = ["QkUnit", "qk_from_config"]


class QkUnit(ArrayUnit):
    """Scores of one query row against a stream of key rows, in ``golden.qk``'s format.

    A request is one ``query`` beat: the query row ``q`` (``head_dim``
    codes, of which the first ``d`` count), the number ``n`` of keys and the
    folded score scale (``mantissa``, ``shift``). Its keys follow on
    ``keys``, ``lanes`` key rows per beat with their token indices,
    ``ceil(n / lanes)`` beats, the lanes of the last beat past ``n`` ignored.
    For each key beat one ``scores`` beat leaves: ``count`` scores
    ``sat(round_half_up(q.k * mantissa >> shift))`` in ``SCORE`` (S10.8) with
    the keys' indices, ``last`` on the request's last beat (lanes past
    ``count`` are don't care).

    Mapping onto the mesh: each lane is a column of ``head_dim`` processing
    elements (a :class:`Mesh` of ``head_dim x 1``); element ``i`` holds
    ``q[i]`` (weight-stationary), key element ``k[i]`` enters its row, and
    the partial sum runs down the column, one register every ``tile_rows``
    elements, so key element ``i`` is delayed ``i // tile_rows`` cycles on
    its way in (the skew). All lanes hold the same query row and take
    different keys: ``lanes = multipliers / head_dim`` scores per cycle
    (1 at the ulx3s preset, 8 at the paper's), in generation and in
    summarisation alike (one query row at a time).

    The query row is double-buffered: two banks of registers, and every key
    carries its bank's number down the column, so the next request loads
    while the current one streams, and its keys follow the current one's
    with no gap. A bank is free again when its request's last score has
    left the mesh and the scale stage. Elements past ``d`` hold zero, so
    shorter rows need no other masking. Scores go into a FIFO of
    ``fifo_depth`` beats whose credits the unit holds, so backpressure on
    ``scores`` stops the keys, never data in the pipeline.

    Bad requests: ``d`` outside ``1..head_dim`` or ``n`` outside
    ``1..max_context``: the unit takes and drops the request's
    ``ceil(n / lanes)`` key beats and answers one ``scores`` beat with
    ``count = 0``, ``last`` and ``error``.

    Parameters
    ----------
    head_dim : int
        Largest D, 1..256.
    max_context : int
        Largest n, 1..65536.
    value_bits : int
        Bits of the signed, symmetric Q and K codes, 2..18.
    multipliers : int
        Multipliers of the array: a multiple of ``head_dim``, at most 64 lanes.
    tile_rows : int
        Elements per tile down a column (the combinational adder chain between
        pipeline registers), a divisor of ``head_dim``; default 4 or ``head_dim``.

    Members
    -------
    query : In(stream.Signature(query_layout))
    keys : In(stream.Signature(keys_layout))
    scores : Out(stream.Signature(scores_layout))
    busy_mac_count : Out(48)
        Multiplies that did useful work (``d`` per key) since reset.
    active_cycle_count : Out(48)
        Cycles with a request under way (loaded, streaming or draining) since
        reset; ``busy_mac_count / (active_cycle_count * multipliers)`` is the
        utilization.

    Latency :attr:`latency` cycles from a key beat accepted to its scores beat
    (empty FIFO), which is also the fill and the drain of the array
    (:attr:`fill_latency`, :attr:`drain_latency`); :attr:`load_latency` = 1
    cycle from a query beat to the first key beat when idle. Throughput one key
    beat (``lanes`` scores) per cycle, back to back across requests.
    """

    LOAD_LATENCY = 1
    IN_LATENCY = 1

    def __init__(self, *, head_dim, max_context, value_bits, multipliers, tile_rows=None):
        self._lanes = self._check_array(head_dim, max_context, value_bits, multipliers)
        if tile_rows is None:
            tile_rows = 4 if self._head_dim % 4 == 0 else self._head_dim
        self._tile_rows = check_int("tile_rows", tile_rows, 1, self._head_dim)
        if self._head_dim % self._tile_rows:
            raise ValueError(f"tile_rows must divide head_dim ({self._head_dim}), not {self._tile_rows!r}")
        code = signed(self._value_bits)
        # The exact sum's width, and at least a product's (the first PE's sum is one product):
        # at head_dim = 1 the sum of symmetric codes is narrower than a product of any codes.
        self._acc_bits = max(qk_acc_bits(self._head_dim, self._value_bits), product_bits(code, code))
        index_bits = self.index_bits
        super().__init__({
            "query": In(stream.Signature(data.StructLayout({
                "q": data.ArrayLayout(code, self._head_dim),
                "d": range(self._head_dim + 1),
                "n": unsigned(self._max_context.bit_length()),
                "mantissa": unsigned(SCALE_MANT_BITS),
                "shift": unsigned(SHIFT_BITS),
            }))),
            "keys": In(stream.Signature(data.StructLayout({
                "k": data.ArrayLayout(data.ArrayLayout(code, self._head_dim), self._lanes),
                "index": data.ArrayLayout(unsigned(index_bits), self._lanes),
            }))),
            "scores": Out(stream.Signature(data.StructLayout({
                "score": data.ArrayLayout(signed(SCORE.bits), self._lanes),
                "index": data.ArrayLayout(unsigned(index_bits), self._lanes),
                "count": range(self._lanes + 1),
                "last": 1,
                "error": 1,
            }))),
            "busy_mac_count": Out(COUNTER_BITS),
            "active_cycle_count": Out(COUNTER_BITS),
        })

    tile_rows = property(lambda self: self._tile_rows)
    lanes = property(lambda self: self._lanes)
    acc_bits = property(lambda self: self._acc_bits)

    def _mesh(self):
        code = signed(self._value_bits)
        return Mesh(rows=self._head_dim, cols=1, tile_rows=self._tile_rows,
                    a_shape=code, b_shape=code, acc_bits=self._acc_bits)

    @property
    def mesh_latency(self):
        """Cycles from a key entering the mesh to its dot product."""
        return Mesh.out_latency_of(rows=self._head_dim, tile_rows=self._tile_rows)

    @property
    def latency(self):
        """Cycles from a key beat accepted to its scores beat (empty FIFO)."""
        return self.IN_LATENCY + self.mesh_latency + ScoreScale.LATENCY + CreditFifo.LATENCY

    fill_latency = latency

    @property
    def bank_turnaround(self):
        """Cycles from a request's last key beat to the first key beat of the request after next.

        Its bank is released when the last score leaves the scale stage
        (``IN_LATENCY + mesh_latency + ScoreScale.LATENCY`` cycles on), the
        release and the next query's load are registered (2 cycles): a
        request of fewer key beats than this leaves a gap before the one after it.
        """
        return self.IN_LATENCY + self.mesh_latency + ScoreScale.LATENCY + 2
    drain_latency = latency

    @property
    def load_latency(self):
        return self.LOAD_LATENCY

    @property
    def fifo_depth(self):
        """Score beats the FIFO holds: enough for the pipeline and the credit round trip."""
        return next_pow2(self.latency + 4)

    def elaborate(self, platform):
        m = Module()
        D, L = self._head_dim, self._lanes
        code = signed(self._value_bits)
        scores_layout = self.scores.payload.shape()
        fifo = m.submodules.fifo = CreditFifo(width=scores_layout.size, depth=self.fifo_depth)
        scale = m.submodules.scale = ScoreScale(lanes=L, dot_bits=self._acc_bits)

        seq = m.submodules.sequencer = RequestSequencer(
            per_beat=L, head_dim=D, max_context=self._max_context, credits=self.fifo_depth,
            credit_per_beat=True, hold_until_release=True)
        query = self.query.payload
        m.d.comb += [
            seq.request_valid.eq(self.query.valid), self.query.ready.eq(seq.request_ready),
            seq.request_n.eq(query.n), seq.request_d.eq(query.d),
            seq.data_valid.eq(self.keys.valid), self.keys.ready.eq(seq.data_ready),
            seq.credit_return.eq(self.scores.valid & self.scores.ready),
        ]
        # Two banks of the request's query row (zero past d) and scale, one per sequencer slot.
        q_bank = [Signal(data.ArrayLayout(code, D), name=f"q_bank{b}", reset_less=True) for b in (0, 1)]
        mant_bank = [Signal(unsigned(SCALE_MANT_BITS), name=f"mant_bank{b}", reset_less=True) for b in (0, 1)]
        shift_bank = [Signal(unsigned(SHIFT_BITS), name=f"shift_bank{b}", reset_less=True) for b in (0, 1)]
        for b in (0, 1):
            with m.If(seq.load & (seq.load_slot == b)):
                m.d.sync += [mant_bank[b].eq(query.mantissa), shift_bank[b].eq(query.shift)]
                m.d.sync += [q_bank[b][i].eq(Mux(query.d > i, query.q[i], 0)) for i in range(D)]

        # The item of each cycle (a key beat or an error beat) and its control, registered.
        ctrl_layout = data.StructLayout({
            "valid": 1, "bank": 1, "last": 1, "error": 1, "count": range(L + 1),
            "index": self.keys.payload.index.shape(),
        })
        ctrl_in = Signal(ctrl_layout, name="ctrl_in")
        k_in = Signal.like(self.keys.payload.k, name="k_in", reset_less=True)
        item = seq.item
        m.d.sync += [
            k_in.eq(self.keys.payload.k),
            ctrl_in.valid.eq(item.valid), ctrl_in.bank.eq(item.slot), ctrl_in.error.eq(item.error),
            ctrl_in.last.eq(item.last), ctrl_in.count.eq(item.count),
            ctrl_in.index.eq(self.keys.payload.index),
        ]

        # The mesh: key element i and its bank bit reach tile row i // tile_rows.
        meshes = [self._mesh() for _ in range(L)]
        bank_at = [delayed(m, ctrl_in.bank, t, name=f"bank_t{t}") for t in range(meshes[0].grid_rows)]
        q_at = [Mux(bank_at[meshes[0].a_skew(i)], q_bank[1][i], q_bank[0][i]) for i in range(D)]
        for lane, mesh in enumerate(meshes):
            m.submodules[f"mesh{lane}"] = mesh
            for i in range(D):
                m.d.comb += [
                    mesh.a[i].eq(delayed(m, k_in[lane][i], mesh.a_skew(i), name=f"k{lane}_{i}")),
                    mesh.b[i][0].eq(q_at[i]),
                ]
            m.d.comb += scale.dot[lane].eq(mesh.sum[0])

        # The score stage, with the item's scale, then the FIFO.
        ctrl_dot = delayed(m, ctrl_in, self.mesh_latency, name="ctrl_dot", reset_less=False)
        m.d.comb += [
            scale.mantissa.eq(Mux(ctrl_dot.bank, mant_bank[1], mant_bank[0])),
            scale.shift.eq(Mux(ctrl_dot.bank, shift_bank[1], shift_bank[0])),
        ]
        ctrl_out = delayed(m, ctrl_dot, scale.latency, name="ctrl_out", reset_less=False)
        beat = Signal(scores_layout)
        m.d.comb += [
            beat.score.eq(scale.score), beat.index.eq(ctrl_out.index), beat.count.eq(ctrl_out.count),
            beat.last.eq(ctrl_out.last), beat.error.eq(ctrl_out.error),
            fifo.w_en.eq(ctrl_out.valid), fifo.w_data.eq(beat),
            seq.release.eq(ctrl_out.valid & ctrl_out.last), seq.release_slot.eq(ctrl_out.bank),
            self.scores.valid.eq(fifo.r_valid), self.scores.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.scores.ready),
        ]

        kept = item.valid & ~item.error
        count_utilization(m, self, macs=Mux(kept, times(item.count, item.d), 0), active=seq.occupied)
        return m


def qk_from_config(cfg):
    """The Q x K unit of one :class:`gen.config.SpattenConfig`."""
    return QkUnit(head_dim=cfg.head_dim, max_context=cfg.max_context, value_bits=cfg.value_bits,
                  multipliers=cfg.qk_multipliers)
