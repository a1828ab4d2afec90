"""The control plane of the core: registers, command list, memory port plumbing, counters."""

from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.command import Error, out_row_bytes

from ..axi.lite import AxiLiteRegisters, AxiLiteSignature
from ..axi.read_arbiter import AxiReadArbiter
from ..axi.read_drain import AxiReadDrain
from ..axi.write import AxiSignature, AxiWriteMaster, connect_channels
from ..fetcher.axi import AxiReadSignature
from .command_list import CommandList, finished_layout
from .command_reader import command_reader_from_config
from .counters import CounterBank
from .regmap import ADDR_BITS, COUNTERS, register_map

__all__ = ["ControlPlane", "DATAPATH_COUNTERS", "read_arbiter_args", "write_master_args"]


def read_arbiter_args(cfg):
    """The read arbiter's arguments: the command reader and the datapath, one ID bit naming the master."""
    return {"masters": 2, "addr_bits": cfg.axi_addr_bits, "data_bits": cfg.axi_data_bits,
            "id_bits": max(1, cfg.axi_id_bits - 1)}


def write_master_args(cfg):
    """The write master's arguments: output and survivor rows of ``golden.command.out_row_bytes``."""
    return {"addr_bits": cfg.axi_addr_bits, "data_bits": cfg.axi_data_bits, "id_bits": cfg.axi_id_bits,
            "outstanding": cfg.axi_outstanding, "row_bytes": out_row_bytes(cfg.head_dim, cfg.value_bits)}

# Counted by the control plane itself; the datapath feeds the others (inc_<name>, 32 bits).
_OWN = ("CYCLES_BUSY", "BYTES_READ_CMD", "BYTES_WRITTEN", "COMMANDS_DONE")
#: Read bursts in flight at most (both masters), the range of the drain's count.
_IN_FLIGHT = 1024
#: The counters whose increments come from the datapath.
DATAPATH_COUNTERS = tuple(name for name, _ in COUNTERS if name not in _OWN)


class ControlPlane(wiring.Component):
    """Everything of the core around the head datapath.

    The host's AXI4-Lite registers (``hw.core.regmap``) start a
    :class:`CommandList` that reads each command through the
    :class:`CommandReader`; good commands go to the datapath on ``command``.
    The command reader and the datapath's read port ``dp_axi`` share the
    memory port's read channels (:class:`AxiReadArbiter`, the reader is
    master 0); output ``rows`` go out through the :class:`AxiWriteMaster`.
    A command ends when the datapath's ``finished`` beat has come and every
    row written has its response: with the datapath's error, else
    ``OUT_WRITE`` after a SLVERR / DECERR (or a dropped row) on the write
    port, else none. Counters: :class:`CounterBank`, cleared at ``start``,
    a snapshot per command.

    ``CTRL.soft_reset`` resets everything but the registers and the write
    master for one cycle (``core_reset`` tells the datapath to do the same);
    read bursts in flight at that moment are swallowed by an
    :class:`~hw.axi.read_drain.AxiReadDrain` before any new read goes out,
    and the write master finishes the row it holds, so the next command
    finds the memory port as after a reset.

    Parameters
    ----------
    cfg : SpattenConfig

    Members
    -------
    s_axil : In(AxiLiteSignature)
    m_axi : Out(AxiSignature)
        The memory port: reads with ``axi_id_bits`` IDs (the top bit names the
        master), writes with ``axi_id_bits`` IDs.
    dp_axi : In(AxiReadSignature(id_bits=axi_id_bits - 1))
    command : Out(stream.Signature(command layout))
    finished : In(stream.Signature(finished_layout))
    rows : In(stream.Signature({addr, data}))
        Output rows and survivor record rows, ``golden.command.out_row_bytes`` bytes each.
    inc_<name> : In(32) for each of :data:`DATAPATH_COUNTERS`
    core_reset : Out(1)
    irq : Out(1)
    """

    def __init__(self, cfg):
        if cfg.axi_id_bits < 2:
            raise ValueError(f"cfg.axi_id_bits must be at least 2 (one names the read master), "
                             f"not {cfg.axi_id_bits!r}")
        self._cfg = cfg
        self._regs = AxiLiteRegisters(registers=register_map(cfg), addr_bits=ADDR_BITS)
        self._reader = command_reader_from_config(cfg, id_bits=cfg.axi_id_bits - 1)
        self._arbiter = AxiReadArbiter(**read_arbiter_args(cfg))
        self._writer = AxiWriteMaster(**write_master_args(cfg))
        self._list = CommandList(command=self._reader.command)
        self._counters = CounterBank(counters=[(name, 32) for name, _ in COUNTERS])
        members = {
            "s_axil": In(AxiLiteSignature(addr_bits=ADDR_BITS)),
            "m_axi": Out(AxiSignature(addr_bits=cfg.axi_addr_bits, data_bits=cfg.axi_data_bits,
                                      read_id_bits=cfg.axi_id_bits, write_id_bits=cfg.axi_id_bits)),
            "dp_axi": In(AxiReadSignature(addr_bits=cfg.axi_addr_bits, data_bits=cfg.axi_data_bits,
                                          id_bits=cfg.axi_id_bits - 1)),
            "command": Out(stream.Signature(self._reader.command)),
            "finished": In(stream.Signature(finished_layout)),
            "rows": In(stream.Signature(self._writer.rows.payload.shape())),
            "core_reset": Out(1),
            "irq": Out(1),
        }
        members.update({f"inc_{name.lower()}": In(32) for name in DATAPATH_COUNTERS})
        super().__init__(members)

    @property
    def command_layout(self):
        return self._reader.command

    def elaborate(self, platform):
        m = Module()
        regs = m.submodules.regs = self._regs
        soft = Signal()
        m.d.comb += [soft.eq(regs.ctrl.soft_reset), self.core_reset.eq(soft)]
        reader, arbiter, writer = self._reader, self._arbiter, self._writer
        walker, counters = self._list, self._counters
        for name, block in (("reader", reader), ("arbiter", arbiter), ("walker", walker),
                            ("counters", counters)):
            m.submodules[name] = ResetInserter(soft)(block)
        # Not reset: the write master finishes the row it holds (a burst cut short would leave the
        # memory waiting for W beats), and the drain swallows the read bursts still in flight.
        m.submodules.writer = writer
        m.submodules.drain = drain = AxiReadDrain(addr_bits=self._cfg.axi_addr_bits,
                                                  data_bits=self._cfg.axi_data_bits,
                                                  id_bits=self._cfg.axi_id_bits, outstanding=_IN_FLIGHT)
        m.d.comb += drain.flush.eq(soft)
        wiring.connect(m, wiring.flipped(self.s_axil), regs.s_axil)
        wiring.connect(m, walker.request, reader.request)
        wiring.connect(m, reader.result, walker.result)
        wiring.connect(m, reader.m_axi, arbiter.s0_axi)
        wiring.connect(m, wiring.flipped(self.dp_axi), arbiter.s1_axi)
        wiring.connect(m, walker.command, wiring.flipped(self.command))
        wiring.connect(m, wiring.flipped(self.rows), writer.rows)
        wiring.connect(m, arbiter.m_axi, drain.s_axi)
        connect_channels(m, self.m_axi, drain.m_axi)
        connect_channels(m, self.m_axi, writer.m_axi)

        start = regs.ctrl.start & ~walker.status.busy
        m.d.comb += [walker.start.eq(regs.ctrl.start), walker.clear.eq(regs.ctrl.clear),
                     walker.cmd_ptr.eq(regs.cmd_ptr_lo | regs.cmd_ptr_hi << 32),
                     walker.cmd_count.eq(regs.cmd_count), writer.clear.eq(start)]

        # A command ends when the datapath says so and the write port has every response.
        write_failed = writer.status.as_value() != 0
        m.d.comb += [walker.finished.valid.eq(self.finished.valid & writer.idle),
                     self.finished.ready.eq(walker.finished.ready & writer.idle),
                     walker.finished.p.error.eq(self.finished.p.error)]
        with m.If((self.finished.p.error == Error.NONE) & write_failed):
            m.d.comb += walker.finished.p.error.eq(Error.OUT_WRITE)

        status = walker.status
        m.d.comb += [regs.status.eq(status), self.irq.eq(status.done & regs.irq_enable.done
                                                          | status.error & regs.irq_enable.error)]
        cmd = walker.decoded
        m.d.comb += [regs.decoded_control.mode.eq(cmd.mode), regs.decoded_control.last.eq(cmd.last),
                     regs.decoded_control.fresh.eq(cmd.fresh), regs.decoded_control.causal.eq(cmd.causal),
                     regs.decoded_layer.eq(cmd.layer), regs.decoded_keys.eq(cmd.keys),
                     regs.decoded_rows.eq(cmd.rows),
                     regs.decoded_head_dim.eq(cmd.head_dim), regs.decoded_heads.eq(cmd.heads),
                     regs.decoded_keep.token_keep.eq(cmd.token_keep),
                     regs.decoded_keep.head_keep.eq(cmd.head_keep)]

        own = {"CYCLES_BUSY": status.busy, "BYTES_READ_CMD": reader.beat * (self._cfg.axi_data_bits // 8),
               "BYTES_WRITTEN": writer.beat_bytes, "COMMANDS_DONE": walker.layer_done}
        m.d.comb += [counters.snapshot.eq(walker.layer_done), counters.clear.eq(start)]
        for name, _ in COUNTERS:
            inc = own[name] if name in own else getattr(self, f"inc_{name.lower()}")
            m.d.comb += [getattr(counters, f"inc_{name}").eq(inc),
                         getattr(regs, name.lower()).eq(getattr(counters, f"total_{name}")),
                         getattr(regs, f"layer_{name.lower()}").eq(getattr(counters, f"layer_{name}"))]
        return m
