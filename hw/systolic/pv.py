"""The prob x V unit: kept V rows weighted by their probabilities, summed per column."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.formats import PROB, signed_bits_for
from golden.pv import out_format
from golden.quant import max_code

from ..credit_fifo import CreditFifo
from ..params import check_int
from .accumulate import ColumnAccumulators
from .counters import COUNTER_BITS, count_utilization, times
from .delay import delayed
from .mesh import Mesh
from .pe import product_bits
from .sequencer import RequestSequencer, next_pow2
from .unit import ArrayUnit

__all__ = ["PvUnit", "pv_from_config"]


def _largest_divisor(value, limit):
    return max(t for t in range(1, min(value, limit) + 1) if value % t == 0)


class PvUnit(ArrayUnit):
    """One attention output row per request, ``golden.pv.pv``'s format.

    A request is one ``request`` beat ``{n, d}``: ``n`` kept V rows of which
    the first ``d`` elements count. The rows follow on ``values``, ``rows``
    of them per beat with their probabilities (U1.15 codes) and token
    indices, ``ceil(n / rows)`` beats, lanes of the last beat past ``n``
    ignored. One ``output`` beat answers: the ``d`` elements of
    ``sat(round_half_up(sum_j p_j v_j >> (PROB.frac - OUT_FRAC)))`` in
    ``B + OUT_FRAC`` bits (elements past ``d`` are 0) and ``error``.

    Mapping onto the mesh (``rows x head_dim`` elements): mesh row ``r``
    takes lane ``r`` of a beat, its probability entering at the left and
    moving right one tile per cycle, element ``(r, c)`` multiplying it by
    ``v[r][c]``; column ``c`` sums the ``rows`` products down (registered
    every ``tile_rows``) and :class:`ColumnAccumulators` add the column sums
    of a request's beats (output-stationary). ``rows = multipliers /
    head_dim`` V rows per cycle: 1 at the ulx3s preset, 8 at the paper's.
    V elements are skewed on their way in by their tile's row and column,
    and the outputs of tile column ``t`` are held ``grid_cols - 1 - t``
    cycles so that a row leaves whole.

    The accumulators are exact for any probability code (16 bits) over
    ``max_context`` rows, so they never wrap. The token indices are carried
    for a per-token V scale that would multiply each probability before the
    mesh (not built); they do not enter the sums.

    Bad requests: ``d`` outside ``1..head_dim`` or ``n`` outside
    ``1..max_context``: the ``ceil(n / rows)`` value beats are dropped and
    the output is a row of zeros with ``error``. A probability above
    ``2**PROB.frac`` (1.0) sets ``error`` on its row's output.

    Parameters
    ----------
    head_dim : int
        Largest D, 1..256.
    max_context : int
        Largest n, 1..65536.
    value_bits : int
        Bits of the signed, symmetric V codes, 2..18.
    multipliers : int
        A multiple of ``head_dim``, at most 64 rows.
    tile_rows, tile_cols : int or None
        Tile size (the mesh's pipeline depth): divisors of ``rows`` and
        ``head_dim``; by default the largest divisors up to 4 and 16.

    Members
    -------
    request : In(stream.Signature({n, d}))
    values : In(stream.Signature({prob, v, index}))
    output : Out(stream.Signature({out, error}))
    busy_mac_count, active_cycle_count : Out(48)
        Multiplies that did useful work (``d`` per V row) and cycles with a
        request under way (loaded, streaming, or a row in the pipeline).

    Latency :attr:`latency` cycles from the last values beat of a request
    accepted to its output beat (empty FIFO): the drain of the array
    (:attr:`drain_latency`). Throughput one values beat per cycle, requests
    back to back with no gap.
    """

    IN_LATENCY = 1

    def __init__(self, *, head_dim, max_context, value_bits, multipliers, tile_rows=None, tile_cols=None):
        self._rows = self._check_array(head_dim, max_context, value_bits, multipliers)
        if tile_rows is None:
            tile_rows = _largest_divisor(self._rows, 4)
        if tile_cols is None:
            tile_cols = _largest_divisor(self._head_dim, 16)
        self._tile_rows = check_int("tile_rows", tile_rows, 1, self._rows)
        self._tile_cols = check_int("tile_cols", tile_cols, 1, self._head_dim)
        if self._rows % self._tile_rows:
            raise ValueError(f"tile_rows must divide multipliers / head_dim ({self._rows}), "
                             f"not {self._tile_rows!r}")
        if self._head_dim % self._tile_cols:
            raise ValueError(f"tile_cols must divide head_dim ({self._head_dim}), not {self._tile_cols!r}")
        prob, code = unsigned(PROB.bits), signed(self._value_bits)
        largest = ((1 << PROB.bits) - 1) * (max_code(self._value_bits) + 1)
        self._sum_bits = max(product_bits(prob, code), signed_bits_for(self._rows * largest))
        # At least the mesh's sum: with max_context = 1 the exact bound is below it.
        self._acc_bits = max(self._sum_bits, signed_bits_for(self._max_context * largest))
        index_bits = self.index_bits
        super().__init__({
            "request": In(stream.Signature(data.StructLayout({
                "n": unsigned(self._max_context.bit_length()),
                "d": range(self._head_dim + 1),
            }))),
            "values": In(stream.Signature(data.StructLayout({
                "prob": data.ArrayLayout(prob, self._rows),
                "v": data.ArrayLayout(data.ArrayLayout(code, self._head_dim), self._rows),
                "index": data.ArrayLayout(unsigned(index_bits), self._rows),
            }))),
            "output": Out(stream.Signature(data.StructLayout({
                "out": data.ArrayLayout(signed(out_format(self._value_bits).bits), self._head_dim),
                "error": 1,
            }))),
            "busy_mac_count": Out(COUNTER_BITS),
            "active_cycle_count": Out(COUNTER_BITS),
        })

    rows = property(lambda self: self._rows)
    tile_rows = property(lambda self: self._tile_rows)
    tile_cols = property(lambda self: self._tile_cols)
    acc_bits = property(lambda self: self._acc_bits)

    def _mesh(self):
        return Mesh(rows=self._rows, cols=self._head_dim, tile_rows=self._tile_rows,
                    tile_cols=self._tile_cols,
                    a_shape=unsigned(PROB.bits), b_shape=signed(self._value_bits), acc_bits=self._sum_bits)

    @property
    def mesh_latency(self):
        """Cycles from a beat entering the mesh to its last column sum (the mesh's fill)."""
        return Mesh.out_latency_of(rows=self._rows, tile_rows=self._tile_rows, col=self._head_dim - 1,
                                   tile_cols=self._tile_cols)

    @property
    def latency(self):
        """Cycles from a request's last values beat accepted to its output beat (empty FIFO)."""
        return self.IN_LATENCY + self.mesh_latency + ColumnAccumulators.LATENCY + CreditFifo.LATENCY

    drain_latency = latency

    @property
    def fifo_depth(self):
        """Output rows the FIFO holds: every row that can be in the pipeline, and the credit round trip."""
        return next_pow2(self.latency + 4)

    def elaborate(self, platform):
        m = Module()
        D, R = self._head_dim, self._rows
        out_layout = self.output.payload.shape()
        fifo = m.submodules.fifo = CreditFifo(width=out_layout.size, depth=self.fifo_depth)

        seq = m.submodules.sequencer = RequestSequencer(
            per_beat=R, head_dim=D, max_context=self._max_context, credits=self.fifo_depth,
            credit_per_beat=False, hold_until_release=False)
        values = self.values.payload
        m.d.comb += [
            seq.request_valid.eq(self.request.valid), self.request.ready.eq(seq.request_ready),
            seq.request_n.eq(self.request.payload.n), seq.request_d.eq(self.request.payload.d),
            seq.data_valid.eq(self.values.valid), self.values.ready.eq(seq.data_ready),
            seq.credit_return.eq(self.output.valid & self.output.ready),
        ]
        item = seq.item
        kept = item.valid & ~item.error
        # A probability above 1.0 flags its row: sticky per slot until the row's last beat.
        prob_error = [Signal(name=f"prob_error{s}", reset_less=True) for s in (0, 1)]
        beat_prob_error = Cat((values.prob[r] > (1 << PROB.frac)) & (item.count > r) for r in range(R)).any()
        row_prob_error = Mux(seq.slot, prob_error[1], prob_error[0]) | beat_prob_error
        for s in (0, 1):
            with m.If(seq.load & (seq.load_slot == s)):
                m.d.sync += prob_error[s].eq(0)
            with m.If(seq.take & (seq.slot == s)):
                m.d.sync += prob_error[s].eq(row_prob_error)

        # The beat and its control, registered; probabilities of unused lanes are zero.
        ctrl_layout = data.StructLayout({"valid": 1, "first": 1, "last": 1, "error": 1, "d": range(D + 1)})
        ctrl_in = Signal(ctrl_layout, name="ctrl_in")
        p_in = [Signal(unsigned(PROB.bits), name=f"p_in{r}", reset_less=True) for r in range(R)]
        v_in = Signal.like(values.v, name="v_in", reset_less=True)
        m.d.sync += [
            v_in.eq(values.v),
            ctrl_in.valid.eq(item.valid), ctrl_in.first.eq(item.first), ctrl_in.last.eq(item.last),
            ctrl_in.d.eq(item.d), ctrl_in.error.eq(item.error | row_prob_error),
        ]
        m.d.sync += [p_in[r].eq(Mux(kept & (item.count > r), values.prob[r], 0)) for r in range(R)]

        mesh = m.submodules.mesh = self._mesh()
        for r in range(R):
            m.d.comb += mesh.a[r].eq(delayed(m, p_in[r], mesh.a_skew(r), name=f"p{r}"))
            for c in range(D):
                m.d.comb += mesh.b[r][c].eq(delayed(m, v_in[r][c], mesh.b_skew(r, c), name=f"v{r}_{c}"))

        # One set of accumulators per tile column, each with the control of its column's timing.
        tw, out_cols = self._tile_cols, []
        ctrl_at = delayed(m, ctrl_in, mesh.out_latency(0), name="ctrl_t0", reset_less=False)
        for t in range(mesh.grid_cols):
            if t:
                ctrl_at = delayed(m, ctrl_at, 1, name=f"ctrl_t{t}", reset_less=False)
            acc = m.submodules[f"acc{t}"] = ColumnAccumulators(
                cols=tw, sum_bits=self._sum_bits, acc_bits=self._acc_bits, value_bits=self._value_bits)
            m.d.comb += [acc.valid.eq(ctrl_at.valid), acc.first.eq(ctrl_at.first), acc.last.eq(ctrl_at.last)]
            for c in range(tw):
                m.d.comb += acc.sum[c].eq(mesh.sum[t * tw + c])
                out_cols.append(delayed(m, acc.out[c], mesh.grid_cols - 1 - t, name=f"out{t * tw + c}"))
        ctrl_out = delayed(m, ctrl_at, ColumnAccumulators.LATENCY, name="ctrl_out", reset_less=False)
        beat = Signal(out_layout)
        m.d.comb += [beat.out[c].eq(Mux(ctrl_out.d > c, out_cols[c], 0)) for c in range(D)]
        written = ctrl_out.valid & ctrl_out.last
        m.d.comb += [
            beat.error.eq(ctrl_out.error),
            fifo.w_en.eq(written), fifo.w_data.eq(beat),
            self.output.valid.eq(fifo.r_valid), self.output.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.output.ready),
        ]

        # Rows between their first item and their output: the array is busy with them.
        in_flight = Signal(range(self.fifo_depth + 1))
        m.d.sync += in_flight.eq(in_flight + (item.valid & item.first) - written)
        count_utilization(m, self, macs=Mux(kept, times(item.count, item.d), 0),
                          active=seq.occupied | (in_flight != 0))
        return m


def pv_from_config(cfg):
    """The prob x V unit of one :class:`gen.config.SpattenConfig`."""
    return PvUnit(head_dim=cfg.head_dim, max_context=cfg.max_context, value_bits=cfg.value_bits,
                  multipliers=cfg.pv_multipliers)
