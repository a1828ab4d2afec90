"""The datapath of one attention head: a job and its alive tokens in, output rows and importances out."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.formats import HEAD_IMPORTANCE, PROB, TOKEN_IMPORTANCE, VALUE_KEEP
from golden.quant import row_bytes

from ..fetcher import Fetcher
from ..fetcher.axi import AxiReadSignature
from ..fetcher.layouts import Plane, Status, index_layout
from ..softmax.softmax import Softmax
from ..systolic.pv import PvUnit
from ..systolic.qk import QkUnit
from ..topk import TopKInterleave
from .column_sums import ColumnSums
from .key_buffer import KeyBuffer
from .lanes import Packer, Serializer
from .layouts import (
    COUNTER_BITS,
    COUNTERS,
    HeadError,
    importance_layout,
    job_layout,
    out_row_layout,
    result_layout,
)

__all__ = ["HeadDatapath", "FetchKind"]


class FetchKind(enum.Enum, shape=3):
    """What a fetch reads: the tensor and plane (its base, its length, where its rows go)."""
    K_MSB = 0
    K_LSB = 1
    Q_MSB = 2
    Q_LSB = 3
    V_MSB = 4
    V_LSB = 5


class ListSource(enum.Enum, shape=2):
    """Where a fetch's index list comes from."""
    ALIVE = 0       # alive-list positions start..end-1 (K rows)
    MISS_MSB = 1    # kept tokens whose V MSB row is not on chip yet
    MISS_LSB = 2    # kept tokens of a re-fetched row whose V LSB row is not on chip yet
    COUNT = 3       # start..end-1 themselves (Q rows)


def _check_config(config):
    for name in ("head_dim", "max_context", "value_bits", "msb_bits", "lsb_bits", "qk_multipliers",
                 "pv_multipliers", "topk_parallelism", "topk_engines", "axi_data_bits", "axi_addr_bits",
                 "axi_id_bits", "axi_outstanding"):
        if not hasattr(config, name):
            raise TypeError(f"config must be a SpattenConfig, not {config!r}")
    lanes = config.qk_multipliers // config.head_dim
    if lanes & (lanes - 1):
        raise ValueError(f"config.qk_multipliers / config.head_dim must be a power of two, not {lanes}")
    if config.lsb_bits < 1:
        raise ValueError(f"config.lsb_bits must be at least 1 (progressive quantization), "
                         f"not {config.lsb_bits}")
    return config


class HeadDatapath(wiring.Component):
    """``golden.head.head_job`` for one head: every query row through all stages, one row at a time.

    Stages (blocks verified on their own, joined here): one
    :class:`~hw.fetcher.Fetcher` reads every row over the one AXI4 read port
    (Q rows too, stored as planes like K: one master, no arbiter, and Q's
    full codes from the same bit-width converter); the K buffer
    (:class:`.key_buffer.KeyBuffer`) feeds :class:`~hw.systolic.QkUnit`,
    whose scores go to :class:`~hw.softmax.Softmax` (as many lanes as Q x K
    makes scores per cycle: the softmax takes a beat per cycle, wider lanes
    would wait); the row's summary decides the re-fetch; the final
    probabilities go one per cycle into the column sums
    (:class:`.column_sums.ColumnSums`) and, packed ``P`` per beat, into
    :class:`~hw.topk.TopKInterleave`; the kept positions are looked up in the
    alive list and stored with their probabilities; the V rows not on chip
    are fetched; the kept V rows stream into :class:`~hw.systolic.PvUnit`.

    On-chip reuse (what ``golden.spatten.head_counters`` counts): the alive
    keys' MSB rows are fetched once per job into the K buffer; LSB rows once,
    when a re-fetched row first needs them (visible keys are a prefix of the
    alive list, so the LSB rows on chip are a prefix too); V rows (by token,
    each plane with a valid bit) when a row first keeps them. The buffers
    hold ``max_context`` rows of ``head_dim`` elements; DRAM rows are
    ``head_dim`` wide (a head with ``d < head_dim`` stored zero-padded).

    Schedule: sequential, one query row through every stage before the next
    (a correct base; the stages themselves overlap rows already).

    Parameters
    ----------
    config : SpattenConfig
        ``qk_multipliers / head_dim`` a power of two, ``lsb_bits >= 1``.

    Members
    -------
    job : In(stream of job_layout)
        One beat per head; its alive list follows on ``alive``.
    alive : In(stream of index_layout)
        Ascending token indices below ``lk``, ``last`` on the last; an empty
        list is one beat with ``none`` and ``last``.
    m_axi : Out(AxiReadSignature)
    out_rows : Out(stream of out_row_layout)
        ``lq`` rows in order, ``last`` on the job's last.
    importance : Out(stream of importance_layout)
        After the rows: per alive token, the sum of its final probabilities.
    result : Out(stream of result_layout)
        The job's last beat: error (then no rows and no importances), the
        fetch status, ``sum |out|`` and the counters (:data:`.layouts.COUNTERS`).
    """

    def __init__(self, *, config):
        self._cfg = _check_config(config)
        cfg = self._cfg
        super().__init__({
            "job": In(stream.Signature(job_layout(addr_bits=cfg.axi_addr_bits, head_dim=cfg.head_dim,
                                                  max_context=cfg.max_context))),
            "alive": In(stream.Signature(index_layout(index_bits=self.index_bits))),
            "m_axi": Out(AxiReadSignature(addr_bits=cfg.axi_addr_bits, data_bits=cfg.axi_data_bits,
                                          id_bits=cfg.axi_id_bits)),
            "out_rows": Out(stream.Signature(out_row_layout(head_dim=cfg.head_dim, value_bits=cfg.value_bits,
                                                            max_context=cfg.max_context))),
            "importance": Out(stream.Signature(importance_layout(max_context=cfg.max_context))),
            "result": Out(stream.Signature(result_layout())),
        })

    config = property(lambda self: self._cfg)

    @property
    def index_bits(self):
        return max(1, (self._cfg.max_context - 1).bit_length())

    @property
    def qk_lanes(self):
        """Keys per Q x K beat (and softmax lanes)."""
        return self._cfg.qk_multipliers // self._cfg.head_dim

    @property
    def pv_rows(self):
        """V rows per prob x V beat."""
        return self._cfg.pv_multipliers // self._cfg.head_dim

    def _blocks(self, m):
        cfg = self._cfg
        m.submodules.fetcher = fetcher = Fetcher(
            head_dim=cfg.head_dim, msb_bits=cfg.msb_bits, lsb_bits=cfg.lsb_bits, max_context=cfg.max_context,
            data_bits=cfg.axi_data_bits, addr_bits=cfg.axi_addr_bits, id_bits=cfg.axi_id_bits,
            outstanding=cfg.axi_outstanding, threshold_code=0)
        m.submodules.qk = qk = QkUnit(head_dim=cfg.head_dim, max_context=cfg.max_context,
                                      value_bits=cfg.value_bits, multipliers=cfg.qk_multipliers)
        m.submodules.softmax = softmax = Softmax(lanes=self.qk_lanes, n_max=cfg.max_context,
                                                 index_bits=self.index_bits)
        m.submodules.topk = topk = TopKInterleave(engines=cfg.topk_engines, n_max=cfg.max_context,
                                                  parallelism=cfg.topk_parallelism, score_bits=PROB.bits)
        m.submodules.pv = pv = PvUnit(head_dim=cfg.head_dim, max_context=cfg.max_context,
                                      value_bits=cfg.value_bits, multipliers=cfg.pv_multipliers)
        m.submodules.keys = keys = KeyBuffer(head_dim=cfg.head_dim, max_context=cfg.max_context,
                                             msb_bits=cfg.msb_bits, lsb_bits=cfg.lsb_bits,
                                             lanes=self.qk_lanes)
        m.submodules.colsum = colsum = ColumnSums(depth=cfg.max_context, sum_bits=TOKEN_IMPORTANCE.bits)
        return fetcher, qk, softmax, topk, pv, keys, colsum

    def elaborate(self, platform):  # noqa: C901 (one sequencer: its states read top to bottom)
        m = Module()
        cfg = self._cfg
        D, MC, B, lsb = cfg.head_dim, cfg.max_context, cfg.value_bits, cfg.lsb_bits
        L, R, P, IB = self.qk_lanes, self.pv_rows, cfg.topk_parallelism, self.index_bits
        CB = MC.bit_length()
        fetcher, qk, softmax, topk, pv, keys, colsum = self._blocks(m)
        wiring.connect(m, fetcher.m_axi, wiring.flipped(self.m_axi))
        m.d.comb += [fetcher.summary.valid.eq(0), fetcher.decision.ready.eq(1)]

        def memory(name, shape, *, reads=1):
            mem = m.submodules[name] = Memory(shape=shape, depth=MC, init=[])
            return (mem.write_port(), *[mem.read_port(transparent_for=()) for _ in range(reads)])

        alive_wr, alive_list_rd, alive_rd = memory("alive_mem", unsigned(IB), reads=2)
        miss = [memory(f"miss_{p}_mem", unsigned(IB)) for p in ("msb", "lsb")]
        kept_shape = data.StructLayout({"token": IB, "prob": PROB.bits})
        kept_wr, kept_rd = memory("kept_mem", kept_shape)
        v_msb_wr, v_msb_rd = memory("v_msb_mem", unsigned(D * cfg.msb_bits))
        v_lsb_wr, v_lsb_rd = memory("v_lsb_mem", unsigned(D * lsb))
        q_msb_wr, q_msb_rd = memory("q_msb_mem", unsigned(D * cfg.msb_bits))
        q_lsb_wr, q_lsb_rd = memory("q_lsb_mem", unsigned(D * lsb))
        v_valid = [Signal(MC, name=f"v_{p}_valid") for p in ("msb", "lsb")]

        job = Signal(self.job.p.shape(), reset_less=True)
        n_alive = Signal(CB + 1)
        row = Signal(CB)
        pos = Signal(CB + 1)
        nvis = Signal(CB)
        lsb_have = Signal(CB)
        keep_product = Signal(VALUE_KEEP.bits + CB, reset_less=True)
        keep = Signal(CB)
        full = Signal()                 # this pass uses full K codes (a re-fetched row's second pass)
        refetch = Signal()
        kcount = Signal(CB)
        mcount = [Signal(CB, name=f"miss_{p}_count") for p in ("msb", "lsb")]
        error = Signal(HeadError)
        q_row = Signal(data.ArrayLayout(signed(B), D), reset_less=True)
        out_row = Signal(self.out_rows.p.out.shape(), reset_less=True)
        out_error = Signal()
        head_imp = Signal(HEAD_IMPORTANCE.bits)
        counts = Signal(data.StructLayout({name: COUNTER_BITS for name in COUNTERS}))
        snap = {"macs_qk": Signal(48), "macs_pv": Signal(48), "cycles_memory_stall": Signal(32)}
        live = {"macs_qk": qk.busy_mac_count, "macs_pv": pv.busy_mac_count,
                "cycles_memory_stall": fetcher.counts.stall_cycles}
        top = (1 << COUNTER_BITS) - 1

        def bump(name, amount=1):
            c = counts[name]
            m.d.sync += c.eq(Mux(c > top - amount, top, c + amount))

        # ---- fetches: a request, its index list from a memory (or the row number), its rows --------
        f_kind = Signal(FetchKind)
        f_src = Signal(ListSource)
        f_done = Signal()
        f_status = Signal(Status)
        l_next, l_end = Signal(CB + 1), Signal(CB + 1)
        l_last = Signal()
        l_cur = Signal(CB, reset_less=True)
        w_pos = Signal(CB)
        idx = fetcher.index
        advance = ~idx.valid | idx.ready
        list_reads = [alive_list_rd, miss[0][1], miss[1][1]]
        for rd in list_reads:
            m.d.comb += [rd.addr.eq(l_next), rd.en.eq(advance)]
        with m.If(advance):
            m.d.sync += idx.valid.eq(l_next < l_end)
            with m.If(l_next < l_end):
                m.d.sync += [l_next.eq(l_next + 1), l_last.eq(l_next + 1 == l_end), l_cur.eq(l_next)]
        with m.Switch(f_src):
            for src, rd in zip((ListSource.ALIVE, ListSource.MISS_MSB, ListSource.MISS_LSB), list_reads,
                               strict=True):
                with m.Case(src):
                    m.d.comb += idx.p.index.eq(rd.data)
            with m.Case(ListSource.COUNT):
                m.d.comb += idx.p.index.eq(l_cur)
        m.d.comb += [idx.p.last.eq(l_last), idx.p.none.eq(0)]

        req = fetcher.request.p
        bases = {FetchKind.K_MSB: (job.k_msb, job.lk), FetchKind.K_LSB: (job.k_lsb, job.lk),
                 FetchKind.Q_MSB: (job.q_msb, job.lq), FetchKind.Q_LSB: (job.q_lsb, job.lq),
                 FetchKind.V_MSB: (job.v_msb, job.lk), FetchKind.V_LSB: (job.v_lsb, job.lk)}
        with m.Switch(f_kind):
            for kind, (base, rows) in bases.items():
                with m.Case(kind):
                    m.d.comb += [req.base.eq(base), req.rows.eq(rows),
                                 req.plane.eq(Plane.LSB if kind.name.endswith("LSB") else Plane.MSB)]

        rows = fetcher.rows
        r = rows.p
        rb_msb, rb_lsb = row_bytes(D, cfg.msb_bits), row_bytes(D, lsb)
        m.d.comb += [rows.ready.eq(1), keys.w_pos.eq(w_pos), keys.w_codes.eq(r.codes),
                     keys.w_lsb.eq(f_kind == FetchKind.K_LSB),
                     v_msb_wr.addr.eq(r.index), v_lsb_wr.addr.eq(r.index),
                     v_msb_wr.data.eq(Cat(r.codes[i][lsb:] for i in range(D))),
                     v_lsb_wr.data.eq(Cat(r.codes[i][:lsb] for i in range(D))),
                     q_msb_wr.addr.eq(r.index), q_lsb_wr.addr.eq(r.index),
                     q_msb_wr.data.eq(v_msb_wr.data), q_lsb_wr.data.eq(v_lsb_wr.data)]
        with m.If(rows.valid & r.has_row):
            with m.Switch(f_kind):
                with m.Case(FetchKind.K_MSB, FetchKind.K_LSB):
                    m.d.comb += keys.w_en.eq(1)
                    m.d.sync += w_pos.eq(w_pos + 1)
                with m.Case(FetchKind.Q_MSB):
                    m.d.comb += q_msb_wr.en.eq(1)
                with m.Case(FetchKind.Q_LSB):
                    m.d.comb += q_lsb_wr.en.eq(1)
                with m.Case(FetchKind.V_MSB):
                    m.d.comb += v_msb_wr.en.eq(1)
                with m.Case(FetchKind.V_LSB):
                    m.d.comb += v_lsb_wr.en.eq(1)
            with m.Switch(f_kind):
                with m.Case(FetchKind.K_MSB):
                    bump("dram_bytes_k_msb", rb_msb)
                    bump("keys_fetched")
                with m.Case(FetchKind.K_LSB):
                    bump("dram_bytes_k_lsb", rb_lsb)
                with m.Case(FetchKind.Q_MSB):
                    bump("dram_bytes_q", rb_msb)
                with m.Case(FetchKind.Q_LSB):
                    bump("dram_bytes_q", rb_lsb)
                with m.Case(FetchKind.V_MSB):
                    bump("dram_bytes_v_msb", rb_msb)
                    bump("values_fetched")
                with m.Case(FetchKind.V_LSB):
                    bump("dram_bytes_v_lsb", rb_lsb)
        with m.If(rows.valid & r.last):
            m.d.sync += [f_done.eq(1), f_status.eq(r.status)]

        fetch_end = Signal(CB + 1)

        def fetch(kind, src, start, end):
            m.d.sync += [f_kind.eq(kind), f_src.eq(src), l_next.eq(start), l_end.eq(start), w_pos.eq(start),
                         f_done.eq(0), fetch_end.eq(end)]
            m.next = "FETCH_REQ"

        # ---- Q x K -> softmax; probabilities -> column sums and the top-k; kept -> the kept list ---
        wiring.connect(m, keys.keys, qk.keys)
        sc = qk.scores.p
        m.d.comb += [softmax.scores.valid.eq(qk.scores.valid), qk.scores.ready.eq(softmax.scores.ready),
                     softmax.scores.p.score.eq(sc.score), softmax.scores.p.index.eq(sc.index),
                     softmax.scores.p.count.eq(sc.count), softmax.scores.p.last.eq(sc.last)]
        qq = qk.query.p
        m.d.comb += [qq.q.eq(q_row), qq.d.eq(job.d), qq.n.eq(nvis), qq.mantissa.eq(job.mantissa),
                     qq.shift.eq(job.shift), keys.count.eq(nvis), keys.full.eq(full)]

        pos_prob = data.StructLayout({"prob": PROB.bits, "pos": IB})
        m.submodules.prob_ser = prob_ser = Serializer(shape=pos_prob, lanes=L)
        m.submodules.prob_pack = prob_pack = Packer(shape=unsigned(PROB.bits), lanes=P)
        m.submodules.kept_ser = kept_ser = Serializer(shape=pos_prob, lanes=P)
        sp = softmax.probs.p
        m.d.comb += [prob_ser.i.p.count.eq(sp.count), prob_ser.i.p.last.eq(sp.last)]
        m.d.comb += [prob_ser.i.p.lanes[i].eq(Cat(sp.prob[i], sp.index[i])) for i in range(L)]
        po = prob_ser.o
        m.d.comb += [prob_pack.i.valid.eq(po.valid & ~po.p.none), prob_pack.i.p.value.eq(po.p.value.prob),
                     prob_pack.i.p.last.eq(po.p.last), po.ready.eq(prob_pack.i.ready | po.p.none),
                     colsum.add_en.eq(po.valid & po.ready & ~po.p.none), colsum.add_pos.eq(po.p.value.pos),
                     colsum.add_prob.eq(po.p.value.prob),
                     topk.scores.valid.eq(prob_pack.o.valid), prob_pack.o.ready.eq(topk.scores.ready),
                     topk.scores.p.eq(prob_pack.o.p.lanes),
                     topk.request.p.n.eq(nvis), topk.request.p.k.eq(keep)]
        tr = topk.result.p
        m.d.comb += [kept_ser.i.valid.eq(topk.result.valid), topk.result.ready.eq(kept_ser.i.ready),
                     kept_ser.i.p.count.eq(tr.count), kept_ser.i.p.last.eq(tr.last)]
        m.d.comb += [kept_ser.i.p.lanes[i].eq(Cat(tr.score[i], tr.index[i])) for i in range(P)]

        # The kept lookup: position -> token (alive list), then the kept list and the missing V rows.
        ko = kept_ser.o
        look = Signal()
        look_last = Signal()
        look_prob = Signal(PROB.bits, reset_less=True)
        kept_done = Signal()
        # The token read is registered before the valid-bit lookups (a max_context-way multiplexer).
        token, got, got_last = Signal(IB, reset_less=True), Signal(), Signal()
        got_prob = Signal(PROB.bits, reset_less=True)
        m.d.sync += [token.eq(alive_rd.data), got.eq(look), got_last.eq(look_last), got_prob.eq(look_prob)]
        m.d.comb += [q_msb_rd.addr.eq(row), q_lsb_rd.addr.eq(row)]
        m.d.comb += [kept_wr.addr.eq(kcount), kept_wr.data.token.eq(token), kept_wr.data.prob.eq(got_prob)]
        with m.If(got):
            m.d.comb += kept_wr.en.eq(1)
            m.d.sync += kcount.eq(kcount + 1)
            for p, (wr, _) in enumerate(miss):
                missing = ~v_valid[p].bit_select(token, 1)
                if p:
                    missing = missing & refetch
                m.d.comb += [wr.addr.eq(mcount[p]), wr.data.eq(token)]
                with m.If(missing):
                    m.d.comb += wr.en.eq(1)
                    m.d.sync += [mcount[p].eq(mcount[p] + 1), v_valid[p].bit_select(token, 1).eq(1)]
        with m.If(got_last):
            m.d.sync += kept_done.eq(1)

        # ---- kept V rows -> prob x V -------------------------------------------------------------
        m.submodules.v_pack = v_pack = Packer(
            shape=data.StructLayout({"prob": PROB.bits, "v": data.ArrayLayout(signed(B), D), "token": IB}),
            lanes=R)
        v_next, v_end = Signal(CB), Signal(CB)
        v_s1, v_s1_last, v_s2, v_s2_last = Signal(), Signal(), Signal(), Signal()
        v_s2_prob = Signal(PROB.bits, reset_less=True)
        v_s2_token = Signal(IB, reset_less=True)
        v_adv = ~v_s2 | v_pack.i.ready
        m.d.comb += [kept_rd.addr.eq(v_next), kept_rd.en.eq(v_adv),
                     v_msb_rd.addr.eq(kept_rd.data.token), v_lsb_rd.addr.eq(kept_rd.data.token),
                     v_msb_rd.en.eq(v_adv), v_lsb_rd.en.eq(v_adv)]
        with m.If(v_adv):
            m.d.sync += [v_s1.eq(v_next < v_end), v_s1_last.eq(v_next + 1 == v_end),
                         v_s2.eq(v_s1), v_s2_last.eq(v_s1_last),
                         v_s2_prob.eq(kept_rd.data.prob), v_s2_token.eq(kept_rd.data.token)]
            with m.If(v_next < v_end):
                m.d.sync += v_next.eq(v_next + 1)
        vi = v_pack.i.p
        bias = Const(1 << (lsb - 1), lsb)
        m.d.comb += [v_pack.i.valid.eq(v_s2), vi.last.eq(v_s2_last), vi.value.prob.eq(v_s2_prob),
                     vi.value.token.eq(v_s2_token)]
        m.d.comb += [vi.value.v[i].eq(Cat(Mux(refetch, v_lsb_rd.data.word_select(i, lsb), bias),
                                    v_msb_rd.data.word_select(i, cfg.msb_bits))) for i in range(D)]
        vo = v_pack.o.p
        m.d.comb += [pv.values.valid.eq(v_pack.o.valid), v_pack.o.ready.eq(pv.values.ready),
                     pv.request.p.n.eq(kcount), pv.request.p.d.eq(job.d)]
        m.d.comb += [pv.values.p.prob[i].eq(vo.lanes[i].prob) for i in range(R)]
        m.d.comb += [pv.values.p.v[i].eq(vo.lanes[i].v) for i in range(R)]
        m.d.comb += [pv.values.p.index[i].eq(vo.lanes[i].token) for i in range(R)]

        # ---- importances out: (token, column sum) per alive position ---------------------------------
        imp = self.importance
        i_next = Signal(CB + 1)
        i_last, i_valid, i_empty = Signal(), Signal(), Signal()
        i_adv = ~i_valid | imp.ready
        m.d.comb += [colsum.rd_pos.eq(i_next), imp.p.token.eq(alive_rd.data),
                     imp.p.importance.eq(colsum.rd_data),
                     imp.valid.eq(i_valid | i_empty), imp.p.last.eq(i_last | i_empty), imp.p.none.eq(i_empty)]

        # ---- the sequencer -------------------------------------------------------------------------
        out = self.out_rows.p
        m.d.comb += [out.row.eq(row), out.out.eq(out_row), out.refetch.eq(refetch), out.kept.eq(kcount),
                     out.last.eq(row + 1 == job.lq), out.error.eq(out_error)]
        res = self.result.p
        m.d.comb += [res.error.eq(error), res.fetch_status.eq(f_status), res.head_importance.eq(head_imp),
                     res.counters.eq(counts)]
        for name, snapshot in snap.items():
            m.d.comb += res.counters[name].eq(live[name] - snapshot)
        # sum |out| of a row, ``group`` columns per cycle into a registered partial sum, then the
        # saturating head importance: short paths, D / group cycles per row.
        group = min(4, D)
        abs_col = Signal(range(D // group))
        out_bits = self.out_rows.p.out[0].shape().width
        part, part_valid = Signal(range(group * (1 << (out_bits - 1)) + 1)), Signal()
        m.d.sync += part_valid.eq(0)
        with m.If(part_valid):
            total = head_imp + part
            m.d.sync += head_imp.eq(Mux(total > HEAD_IMPORTANCE.max_int, HEAD_IMPORTANCE.max_int, total))
        cols = [out_row[abs_col * group + g] for g in range(group)]
        abs_part = sum(Mux(c < 0, -c, c) for c in cols)
        # The counters stand still while the result (which carries them) is offered.
        stalled = (self.out_rows.valid & ~self.out_rows.ready) | (imp.valid & ~imp.ready)
        with m.If(stalled):
            bump("cycles_out_stall")
        prev_index = Signal(IB)
        alive_cnt = Signal(CB + 1)
        a = self.alive.p
        topk_req = Signal()
        m.d.sync += [look.eq(0), look_last.eq(0)]
        m.d.comb += topk.request.valid.eq(topk_req)
        with m.If(topk.request.ready):
            m.d.sync += topk_req.eq(0)

        with m.FSM(name="sequencer"):
            with m.State("IDLE"):
                m.d.comb += self.job.ready.eq(1)
                with m.If(self.job.valid):
                    m.d.sync += [job.eq(self.job.p), n_alive.eq(0), alive_cnt.eq(0), error.eq(HeadError.OK),
                                 f_status.eq(Status.OK), counts.eq(0), head_imp.eq(0), row.eq(0), nvis.eq(0),
                                 lsb_have.eq(0), v_valid[0].eq(0), v_valid[1].eq(0)]
                    m.d.sync += [snapshot.eq(live[name]) for name, snapshot in snap.items()]
                    m.next = "INGEST"
            with m.State("INGEST"):
                m.d.comb += [self.alive.ready.eq(1), alive_wr.addr.eq(n_alive), alive_wr.data.eq(a.index),
                             colsum.clear_pos.eq(n_alive)]
                with m.If(self.alive.valid & ~a.none):
                    with m.If(n_alive < MC):
                        m.d.comb += [alive_wr.en.eq(1), colsum.clear_en.eq(1)]
                        m.d.sync += n_alive.eq(n_alive + 1)
                    m.d.sync += [prev_index.eq(a.index), alive_cnt.eq(1)]
                    with m.If(error == HeadError.OK):
                        with m.If(a.index >= job.lk):
                            m.d.sync += error.eq(HeadError.ALIVE_RANGE)
                        with m.Elif((alive_cnt != 0) & (a.index <= prev_index)):
                            m.d.sync += error.eq(HeadError.ALIVE_ORDER)
                with m.If(self.alive.valid & a.last):
                    m.next = "CHECK"
            with m.State("CHECK"):
                with m.If((job.d == 0) | (job.d > D)):
                    m.d.sync += error.eq(HeadError.D_RANGE)
                    m.next = "RESULT"
                with m.Elif((job.lk == 0) | (job.lk > MC)):
                    m.d.sync += error.eq(HeadError.LK_RANGE)
                    m.next = "RESULT"
                with m.Elif((job.lq == 0) | (job.lq > job.lk)):
                    m.d.sync += error.eq(HeadError.LQ_RANGE)
                    m.next = "RESULT"
                with m.Elif(error != HeadError.OK):
                    m.next = "RESULT"
                with m.Elif(n_alive != 0):
                    fetch(FetchKind.K_MSB, ListSource.ALIVE, 0, n_alive)
                with m.Else():
                    fetch(FetchKind.Q_MSB, ListSource.COUNT, 0, job.lq)

            with m.State("FETCH_REQ"):
                bump("cycles_fetch")
                m.d.comb += fetcher.request.valid.eq(1)
                with m.If(fetcher.request.ready):
                    m.d.sync += l_end.eq(fetch_end)
                    m.next = "FETCH_WAIT"
            with m.State("FETCH_WAIT"):
                bump("cycles_fetch")
                with m.If(f_done):
                    with m.If(f_status != Status.OK):
                        m.d.sync += error.eq(HeadError.FETCH)
                        m.next = "RESULT"
                    with m.Else():
                        with m.Switch(f_kind):
                            with m.Case(FetchKind.K_MSB):
                                fetch(FetchKind.Q_MSB, ListSource.COUNT, 0, job.lq)
                            with m.Case(FetchKind.Q_MSB):
                                fetch(FetchKind.Q_LSB, ListSource.COUNT, 0, job.lq)
                            with m.Case(FetchKind.Q_LSB):
                                m.next = "ROW"
                            with m.Case(FetchKind.K_LSB):
                                m.next = "PASS"
                            with m.Case(FetchKind.V_MSB):
                                m.next = "V_LSB"
                            with m.Case(FetchKind.V_LSB):
                                m.next = "PV"

            with m.State("ROW"):
                m.d.sync += [pos.eq(job.lk - job.lq + row), full.eq(0), refetch.eq(0), kcount.eq(0),
                             mcount[0].eq(0), mcount[1].eq(0), kept_done.eq(0)]
                with m.If(~job.causal):
                    m.d.sync += nvis.eq(n_alive)
                m.next = "ROW_Q"
            with m.State("ROW_Q"):
                m.d.sync += [q_row[i].eq(Cat(q_lsb_rd.data.word_select(i, lsb),
                                             q_msb_rd.data.word_select(i, cfg.msb_bits))) for i in range(D)]
                m.next = "NVIS"
            with m.State("NVIS"):
                # Causal: the visible keys are the alive ones up to the row's position, a prefix.
                m.d.comb += [alive_rd.addr.eq(nvis), alive_rd.en.eq(1)]
                m.next = "NVIS_CHECK"
                with m.If(~job.causal):
                    m.next = "KEEP"
            with m.State("NVIS_CHECK"):
                with m.If((nvis < n_alive) & (alive_rd.data <= pos)):
                    m.d.sync += nvis.eq(nvis + 1)
                    m.next = "NVIS"
                with m.Else():
                    m.next = "KEEP"
            with m.State("KEEP"):
                m.d.sync += keep_product.eq(job.value_keep * nvis)
                m.next = "KEEP_COUNT"
            with m.State("KEEP_COUNT"):
                k = (keep_product + (1 << VALUE_KEEP.frac) - 1) >> VALUE_KEEP.frac
                m.d.sync += keep.eq(Mux(k == 0, 1, k))
                m.next = "PASS"
                with m.If(nvis == 0):
                    m.d.sync += [out_row.eq(0), out_error.eq(0)]
                    m.next = "ABS"

            with m.State("PASS"):
                bump("cycles_score")
                m.d.comb += qk.query.valid.eq(1)
                with m.If(qk.query.ready):
                    m.d.comb += keys.start.eq(1)
                    m.next = "SUMMARY"
            with m.State("SUMMARY"):
                bump("cycles_score")
                m.d.comb += softmax.summary.ready.eq(1)
                with m.If(softmax.summary.valid):
                    with m.If(~full & (softmax.summary.p.max_prob < job.threshold)):
                        m.d.sync += [refetch.eq(1), full.eq(1)]
                        bump("rows_refetched")
                        m.next = "DRAIN"
                    with m.Else():
                        m.d.sync += topk_req.eq(1)
                        m.next = "SELECT"
            with m.State("DRAIN"):
                bump("cycles_score")
                m.d.comb += softmax.probs.ready.eq(1)
                with m.If(softmax.probs.valid & sp.last):
                    m.d.sync += lsb_have.eq(nvis)
                    with m.If(lsb_have < nvis):
                        fetch(FetchKind.K_LSB, ListSource.ALIVE, lsb_have, nvis)
                    with m.Else():
                        m.next = "PASS"
            with m.State("SELECT"):
                bump("cycles_select")
                m.d.comb += [prob_ser.i.valid.eq(softmax.probs.valid),
                             softmax.probs.ready.eq(prob_ser.i.ready),
                             ko.ready.eq(1), alive_rd.addr.eq(ko.p.value.pos), alive_rd.en.eq(1)]
                m.d.sync += [look.eq(ko.valid & ~ko.p.none), look_last.eq(ko.valid & ko.p.last),
                             look_prob.eq(ko.p.value.prob)]
                with m.If(kept_done):
                    m.next = "V_MSB"
            # The kept V rows not on chip: MSB plane, then (re-fetched rows) LSB plane; none: no request.
            for p, (kind, src, after) in enumerate(((FetchKind.V_MSB, ListSource.MISS_MSB, "V_LSB"),
                                                    (FetchKind.V_LSB, ListSource.MISS_LSB, "PV"))):
                with m.State(kind.name):
                    bump("cycles_fetch")
                    with m.If(mcount[p] != 0):
                        fetch(kind, src, 0, mcount[p])
                    with m.Else():
                        m.next = after
            with m.State("PV"):
                bump("cycles_pv")
                m.d.comb += pv.request.valid.eq(1)
                with m.If(pv.request.ready):
                    m.d.sync += [v_next.eq(0), v_end.eq(kcount)]
                    m.next = "PV_WAIT"
            with m.State("PV_WAIT"):
                bump("cycles_pv")
                m.d.comb += pv.output.ready.eq(1)
                with m.If(pv.output.valid):
                    m.d.sync += [out_row.eq(pv.output.p.out), out_error.eq(pv.output.p.error)]
                    m.next = "ABS"
            with m.State("ABS"):
                m.d.sync += [part.eq(abs_part), part_valid.eq(1), abs_col.eq(abs_col + 1)]
                with m.If(abs_col == D // group - 1):
                    m.d.sync += abs_col.eq(0)
                    m.next = "EMIT"
            with m.State("EMIT"):
                m.d.comb += self.out_rows.valid.eq(1)
                with m.If(self.out_rows.ready):
                    bump("rows")
                    m.d.sync += row.eq(row + 1)
                    m.next = "ROW"
                    with m.If(row + 1 == job.lq):
                        m.d.sync += [i_next.eq(0), i_valid.eq(0)]
                        m.next = "IMPORTANCE"

            with m.State("IMPORTANCE"):
                with m.If(n_alive == 0):
                    m.d.comb += i_empty.eq(1)
                    with m.If(imp.ready):
                        m.next = "RESULT"
                with m.Else():
                    m.d.comb += [alive_rd.addr.eq(i_next), alive_rd.en.eq(i_adv), colsum.rd_en.eq(i_adv)]
                    with m.If(i_adv):
                        m.d.sync += [i_valid.eq(i_next < n_alive), i_last.eq(i_next + 1 == n_alive)]
                        with m.If(i_next < n_alive):
                            m.d.sync += i_next.eq(i_next + 1)
                    with m.If(i_valid & imp.ready & i_last):
                        m.next = "RESULT"
            with m.State("RESULT"):
                m.d.comb += self.result.valid.eq(1)
                with m.If(self.result.ready):
                    m.next = "IDLE"
        with m.If(~self.job.ready & ~self.result.valid):
            bump("cycles")
        return m
