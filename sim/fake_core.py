"""A stand-in core for the driver's end-to-end test: ``hw.core.control.ControlPlane`` and a
fake datapath (Amaranth), emitted and run under cocotb like any block.

The fake datapath runs a command by copying one output row: it reads
``out_row_bytes`` bytes at the command's Q MSB-plane base through the control
plane's datapath read port (a one-beat burst per port word, so that no burst
crosses a 4 KB page), writes them as an output row at
the out base, counts the bytes in ``BYTES_READ_Q`` and the command's ``keys``
in ``MACS`` (so that the counters have something to show), and finishes
with ``DATA_READ`` if a read beat answered an error.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.command import Error, out_row_bytes
from hw.axi.lite import AxiLiteSignature
from hw.axi.write import AxiSignature
from hw.core.command_list import finished_layout
from hw.core.control import DATAPATH_COUNTERS, ControlPlane
from hw.core.regmap import ADDR_BITS
from hw.fetcher.axi import BURST_INCR, AxiReadSignature

__all__ = ["FakeDatapath", "FakeCore"]


class FakeDatapath(wiring.Component):
    """Copies ``out_row_bytes`` bytes from a command's Q MSB-plane base to its out base."""

    def __init__(self, cfg, command):
        self._cfg = cfg
        self._row_bytes = out_row_bytes(cfg.head_dim, cfg.value_bits)
        self._beats = -(-self._row_bytes * 8 // cfg.axi_data_bits)
        super().__init__({
            "command": In(stream.Signature(command)),
            "finished": Out(stream.Signature(finished_layout)),
            "rows": Out(stream.Signature(data.StructLayout({"addr": cfg.axi_addr_bits,
                                                            "data": 8 * self._row_bytes}))),
            "m_axi": Out(AxiReadSignature(addr_bits=cfg.axi_addr_bits, data_bits=cfg.axi_data_bits,
                                          id_bits=cfg.axi_id_bits - 1)),
            "bytes_read": Out(32), "macs": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, axi = self._cfg, self.m_axi
        cmd = Signal.like(self.command.p)
        row = Signal(self._beats * cfg.axi_data_bits)
        error = Signal()
        # One beat per burst: a row may cross a 4 KB page, a burst must not (AXI4).
        beat = Signal(range(self._beats + 1))
        port_bytes = cfg.axi_data_bits // 8
        m.d.comb += [axi.araddr.eq(cmd.base.q_msb + beat * port_bytes), axi.arlen.eq(0),
                     axi.arsize.eq((cfg.axi_data_bits // 8 - 1).bit_length()), axi.arburst.eq(BURST_INCR),
                     self.rows.p.addr.eq(cmd.base.out), self.rows.p.data.eq(row),
                     self.finished.p.error.eq(error * Error.DATA_READ)]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.command.ready.eq(1)
                with m.If(self.command.valid):
                    m.d.sync += [cmd.eq(self.command.p), error.eq(0), beat.eq(0)]
                    m.next = "READ"
            with m.State("READ"):
                m.d.comb += axi.arvalid.eq(1)
                with m.If(axi.arready):
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += axi.rready.eq(1)
                with m.If(axi.rvalid):
                    m.d.comb += self.bytes_read.eq(cfg.axi_data_bits // 8)
                    m.d.sync += row.eq(Cat(row[cfg.axi_data_bits:], axi.rdata))
                    m.d.sync += beat.eq(beat + 1)
                    with m.If(axi.rresp[1]):
                        m.d.sync += error.eq(1)
                    with m.If(beat == self._beats - 1):
                        m.next = "WRITE"
                    with m.Else():
                        m.next = "READ"
            with m.State("WRITE"):
                m.d.comb += self.rows.valid.eq(~error)
                with m.If(self.rows.ready | error):
                    m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += self.finished.valid.eq(1)
                with m.If(self.finished.ready):
                    m.d.comb += self.macs.eq(cmd.keys)
                    m.next = "IDLE"
        return m


class FakeCore(wiring.Component):
    """:class:`hw.core.control.ControlPlane` with :class:`FakeDatapath`: ports ``s_axil``, ``m_axi``,
    ``irq``. ``control``: the control plane to use (``ControlPlane(cfg)`` if None)."""

    def __init__(self, cfg, control=None):
        self._control = ControlPlane(cfg) if control is None else control
        self._datapath = FakeDatapath(cfg, self._control.command_layout)
        super().__init__({"s_axil": In(AxiLiteSignature(addr_bits=ADDR_BITS)),
                          "m_axi": Out(self._control.m_axi.signature), "irq": Out(1)})
        assert isinstance(self.m_axi.signature, AxiSignature)

    def elaborate(self, platform):
        m = Module()
        control = m.submodules.control = self._control
        datapath = m.submodules.datapath = self._datapath
        wiring.connect(m, wiring.flipped(self.s_axil), control.s_axil)
        wiring.connect(m, control.m_axi, wiring.flipped(self.m_axi))
        wiring.connect(m, datapath.m_axi, control.dp_axi)
        wiring.connect(m, control.command, datapath.command)
        wiring.connect(m, datapath.finished, control.finished)
        wiring.connect(m, datapath.rows, control.rows)
        m.d.comb += [self.irq.eq(control.irq), control.inc_bytes_read_q.eq(datapath.bytes_read),
                     control.inc_macs.eq(datapath.macs)]
        for name in DATAPATH_COUNTERS:
            if name not in ("BYTES_READ_Q", "MACS"):
                m.d.comb += getattr(control, f"inc_{name.lower()}").eq(0)
        return m
