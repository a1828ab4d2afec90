"""The layer sequencer of the core: one layer command through pruning and every alive head."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.command import MAX_HEADS, Error, out_row_bytes, survivor_row_stride
from golden.formats import OUT_FRAC

from .command_list import finished_layout
from .control import DATAPATH_COUNTERS
from .layouts import HeadError, job_layout, out_row_layout, result_layout
from .sequence import head_importance_layout, layer_layout, pruned_layout

__all__ = ["LayerSequencer", "trace_layout"]

#: The head-datapath planes a job names, and the command planes they come from.
_JOB_PLANES = ("q_msb", "q_lsb", "k_msb", "k_lsb", "v_msb", "v_lsb")


def trace_layout(*, max_context):
    """Per output row written: its head, its number, its re-fetch flag and the V rows it kept."""
    return data.StructLayout({"valid": 1, "head": (MAX_HEADS - 1).bit_length(),
                              "row": max(1, (max_context - 1).bit_length()), "refetch": 1,
                              "kept": max_context.bit_length()})


class LayerSequencer(wiring.Component):
    """Runs one layer command at a time: pruning, survivor record, a job per alive head.

    Per ``command`` beat: the layer's pruning step goes to the sequence state
    (``prune``); its survivor record rows come back on ``survivors`` and go to
    the write port at ``survivors_base + r * survivor_row_stride``; the
    ``pruned`` beat names the heads that run (or ``KEYS_SHRINK``). Then for
    every head ``h`` of the command whose bit is set, in order: one ``job``
    (the command's plane bases plus ``h`` strides, its scale, the layer's
    sizes and codes) and one ``alive_request`` beat (the sequence state
    streams the alive list straight to the datapath); the head's output rows
    go to the write port at ``out_base + h * out_stride + i * out_row_stride``
    (``pack_plane`` rows of ``value_bits + OUT_FRAC`` bits); its ``result``
    adds its counters (``inc_*``) and sends its head importance to the state.
    A job that ends with an error stops the command (``DATA_READ``: the only
    job error a checked command can meet is the fetch's). Then ``finished``.

    Plane addresses advance by one stride per head (adders, no multiplier);
    the output row address by one row stride per row.

    Parameters
    ----------
    cfg : SpattenConfig
    command : data.Layout
        The checked command (``hw.core.command.command_layout``).

    Members
    -------
    command : In(stream of command)
    finished : Out(stream of finished_layout)
    rows : Out(stream of {addr, data})
        To the write master: ``out_row_bytes(cfg.head_dim, value_bits)`` bytes per row.
    prune : Out(stream of hw.core.sequence.layer_layout)
    survivors : In(stream of {data, last})
    pruned : In(stream of hw.core.sequence.pruned_layout)
    job : Out(stream of job_layout)
    alive_request : Out(stream.Signature(1))
    out_rows : In(stream of out_row_layout)
    result : In(stream of result_layout)
    head_importance : Out(stream of hw.core.head_pruning.head_importance_layout)
    inc_<counter> : Out(32), the datapath counters of ``hw.core.control``
    trace : Out(trace_layout)
        ``valid`` for the cycle an output row goes to the write port, with its
        head, row number, re-fetch flag and V rows kept: what a monitor (or a
        logic analyser) needs to check per-row decisions the DRAM does not show.
    """

    def __init__(self, *, cfg, command):
        self._cfg = cfg
        self._command = command
        self._row_bytes = out_row_bytes(cfg.head_dim, cfg.value_bits)
        out_layout = out_row_layout(head_dim=cfg.head_dim, value_bits=cfg.value_bits,
                                    max_context=cfg.max_context)
        if out_layout["out"].shape.elem_shape.width != cfg.value_bits + OUT_FRAC:
            raise ValueError("the head datapath's output codes must be value_bits + OUT_FRAC bits")
        members = {
            "command": In(stream.Signature(command)),
            "finished": Out(stream.Signature(finished_layout)),
            "rows": Out(stream.Signature(data.StructLayout({"addr": cfg.axi_addr_bits,
                                                            "data": 8 * self._row_bytes}))),
            "prune": Out(stream.Signature(layer_layout(max_context=cfg.max_context))),
            "survivors": In(stream.Signature(data.StructLayout({"data": 8 * self._row_bytes, "last": 1}))),
            "pruned": In(stream.Signature(pruned_layout(max_context=cfg.max_context))),
            "job": Out(stream.Signature(job_layout(addr_bits=cfg.axi_addr_bits, head_dim=cfg.head_dim,
                                                   max_context=cfg.max_context))),
            "alive_request": Out(stream.Signature(1)),
            "out_rows": In(stream.Signature(out_layout)),
            "result": In(stream.Signature(result_layout())),
            "head_importance": Out(stream.Signature(head_importance_layout())),
            "trace": Out(trace_layout(max_context=cfg.max_context)),
        }
        members.update({f"inc_{name.lower()}": Out(32) for name in DATAPATH_COUNTERS})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        cmd = Signal(self._command, reset_less=True)
        head = Signal(range(MAX_HEADS + 1))
        head_alive = Signal(MAX_HEADS)
        error = Signal(self.finished.p.error.shape())
        bases = {plane: Signal(cfg.axi_addr_bits, name=f"{plane}_addr") for plane in (*_JOB_PLANES, "out")}
        row_addr = Signal(cfg.axi_addr_bits)
        surv_addr = Signal(cfg.axi_addr_bits)

        # ---- the pruning step and the survivor record -----------------------------------------
        pr = self.prune.p
        for name in ("fresh", "causal", "layer", "keys", "heads", "token_keep", "head_keep"):
            m.d.comb += pr[name].eq(cmd[name])

        # ---- the job of head ``head`` ------------------------------------------------------------
        job = self.job.p
        m.d.comb += [job.lk.eq(cmd.keys), job.lq.eq(cmd.rows), job.d.eq(cmd.head_dim),
                     job.causal.eq(cmd.causal), job.value_keep.eq(cmd.value_keep),
                     job.threshold.eq(cmd.threshold)]
        m.d.comb += [job[plane].eq(bases[plane]) for plane in _JOB_PLANES]
        scale = cmd.scale[head[:(MAX_HEADS - 1).bit_length()]]
        m.d.comb += [job.mantissa.eq(scale.mantissa), job.shift.eq(scale.shift)]

        # ---- output rows to the write port ------------------------------------------------------
        out = self.out_rows.p
        bits = cfg.value_bits + OUT_FRAC
        packed = Cat(out.out[i][:bits] for i in range(cfg.head_dim))
        m.d.comb += self.alive_request.p.eq(0)

        # ---- counters from a job's result ---------------------------------------------------------
        res = self.result.p
        c = res.counters
        took_result = self.result.valid & self.result.ready
        top = (1 << 32) - 1
        macs = c.macs_qk + c.macs_pv
        job_counts = {"BYTES_READ_Q": c.dram_bytes_q, "BYTES_READ_K_MSB": c.dram_bytes_k_msb,
                      "BYTES_READ_K_LSB": c.dram_bytes_k_lsb, "BYTES_READ_V_MSB": c.dram_bytes_v_msb,
                      "BYTES_READ_V_LSB": c.dram_bytes_v_lsb, "MACS": Mux(macs > top, top, macs),
                      "ROWS_REFETCHED": c.rows_refetched}
        stalled = c.cycles_memory_stall + c.cycles_out_stall
        job_counts["CYCLES_STALLED"] = Mux(stalled > top, top, stalled)
        for name, value in job_counts.items():
            with m.If(took_result):
                m.d.comb += getattr(self, f"inc_{name.lower()}").eq(value)
        took_pruned = self.pruned.valid & self.pruned.ready
        with m.If(took_pruned & ~self.pruned.p.error):
            m.d.comb += [self.inc_tokens_pruned.eq(self.pruned.p.tokens_pruned),
                         self.inc_heads_pruned.eq(self.pruned.p.heads_pruned)]
        m.d.comb += [self.head_importance.p.head.eq(head),
                     self.head_importance.p.importance.eq(res.head_importance),
                     self.finished.p.error.eq(error)]

        def next_head():
            m.d.sync += head.eq(head + 1)
            for plane in (*_JOB_PLANES, "out"):
                m.d.sync += bases[plane].eq(bases[plane] + cmd.stride[plane])
            m.next = "HEAD"

        with m.FSM(name="layer"):
            with m.State("IDLE"):
                m.d.comb += self.command.ready.eq(1)
                with m.If(self.command.valid):
                    c_in = self.command.p
                    m.d.sync += [cmd.eq(c_in), head.eq(0), error.eq(Error.NONE),
                                 surv_addr.eq(c_in.survivors_base)]
                    m.d.sync += [bases[plane].eq(c_in.base[plane]) for plane in (*_JOB_PLANES, "out")]
                    m.next = "PRUNE"
            with m.State("PRUNE"):
                m.d.comb += self.prune.valid.eq(1)
                with m.If(self.prune.ready):
                    m.next = "SURVIVORS"
            with m.State("SURVIVORS"):
                m.d.comb += [self.rows.valid.eq(self.survivors.valid), self.rows.p.addr.eq(surv_addr),
                             self.rows.p.data.eq(self.survivors.p.data),
                             self.survivors.ready.eq(self.rows.ready), self.pruned.ready.eq(1)]
                with m.If(self.survivors.valid & self.rows.ready):
                    m.d.sync += surv_addr.eq(surv_addr + survivor_row_stride(cfg))
                with m.If(self.pruned.valid):
                    m.d.sync += head_alive.eq(self.pruned.p.head_alive)
                    m.next = "HEAD"
                    with m.If(self.pruned.p.error):
                        m.d.sync += error.eq(Error.KEYS_SHRINK)
                        m.next = "FINISH"
            with m.State("HEAD"):
                with m.If(head == cmd.heads):
                    m.next = "FINISH"
                with m.Elif(head_alive.bit_select(head, 1)):
                    m.d.sync += row_addr.eq(bases["out"])
                    m.next = "JOB"
                with m.Else():
                    next_head()
            with m.State("JOB"):
                m.d.comb += self.job.valid.eq(1)
                with m.If(self.job.ready):
                    m.next = "ALIVE"
            with m.State("ALIVE"):
                m.d.comb += self.alive_request.valid.eq(1)
                with m.If(self.alive_request.ready):
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [self.rows.valid.eq(self.out_rows.valid & ~out.error),
                             self.rows.p.addr.eq(row_addr), self.rows.p.data.eq(packed),
                             self.out_rows.ready.eq(self.rows.ready | out.error)]
                with m.If(self.out_rows.valid & self.out_rows.ready):
                    m.d.sync += row_addr.eq(row_addr + cmd.out_row_stride)
                    m.d.comb += self.trace.valid.eq(~out.error)
                m.d.comb += [self.trace.head.eq(head), self.trace.row.eq(out.row),
                             self.trace.refetch.eq(out.refetch), self.trace.kept.eq(out.kept)]
                ok = res.error == HeadError.OK
                # A good job's head importance goes to the state with the result; a failed one's does not.
                m.d.comb += [self.head_importance.valid.eq(self.result.valid & ok),
                             self.result.ready.eq(self.head_importance.ready | ~ok)]
                with m.If(took_result):
                    with m.If(ok):
                        next_head()
                    with m.Else():
                        m.d.sync += error.eq(Error.DATA_READ)
                        m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += self.finished.valid.eq(1)
                with m.If(self.finished.ready):
                    m.next = "IDLE"
        return m
