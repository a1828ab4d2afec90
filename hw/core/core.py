"""The SpAtten core: control plane, layer sequencer, sequence state and head datapath joined."""

import dataclasses

from amaranth.hdl import Module, ResetInserter
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..axi.lite import AxiLiteSignature
from .control import DATAPATH_COUNTERS, ControlPlane
from .head import HeadDatapath
from .layer import LayerSequencer
from .regmap import ADDR_BITS
from .sequence import sequence_state_from_config

__all__ = ["SpattenCore", "UNSUPPORTED_OPTIONS", "UnsupportedConfig", "check_core_config"]

#: Options of ``golden.spatten`` the core does not compute (their "off" values): the host-side
#: ones (K scales per channel, V scales per channel without a centre, keep minimum, prefill
#: rule) need nothing of the hardware; these would.
UNSUPPORTED_OPTIONS = {"v_scale": ("tensor", "channel"), "v_zero_point": (False,),
                       "token_importance_norm": (False,)}


class UnsupportedConfig(ValueError):
    """The configuration is valid for the golden model but asks for what the core does not compute."""


def check_core_config(cfg):
    """Raise :class:`UnsupportedConfig` naming the field when ``cfg`` asks for what the core does not
    compute."""
    for name, allowed in UNSUPPORTED_OPTIONS.items():
        value = getattr(cfg, name, allowed[0])
        if value not in allowed:
            raise UnsupportedConfig(f"config.{name} must be one of {', '.join(map(repr, allowed))} for the "
                             f"core, not {value!r}")
    if cfg.axi_id_bits < 2:
        raise ValueError(f"config.axi_id_bits must be at least 2 (one names the read master), "
                         f"not {cfg.axi_id_bits}")
    return cfg


class SpattenCore(wiring.Component):
    """The whole SpAtten core: a host's AXI4-Lite registers in, one AXI4 memory port out.

    :class:`~hw.core.control.ControlPlane` (registers, command list, read
    arbiter, write master, counters) hands each checked layer command to the
    :class:`~hw.core.layer.LayerSequencer`, which prunes through the
    :class:`~hw.core.sequence.SequenceState` (token and head importances,
    alive lists, survivor records; the top-k engines rank between layers)
    and runs every alive head on the :class:`~hw.core.head.HeadDatapath`.
    The datapath reads over the control plane's second read master; its
    importances go straight to the sequence state, its rows through the
    sequencer to the write master. ``CTRL.soft_reset`` resets all of it
    but the registers.

    Members
    -------
    s_axil : In(AxiLiteSignature)
    m_axi : Out(AxiSignature), the memory port (``cfg.axi_id_bits`` IDs)
    irq : Out(1)
    row_trace : Out(hw.core.layer.trace_layout), per output row written (see :class:`LayerSequencer`)
    """

    def __init__(self, cfg):
        self._cfg = check_core_config(cfg)
        self._control = ControlPlane(cfg)
        self._head = HeadDatapath(config=dataclasses.replace(cfg, axi_id_bits=cfg.axi_id_bits - 1))
        self._state = sequence_state_from_config(cfg)
        self._layer = LayerSequencer(cfg=cfg, command=self._control.command_layout)
        super().__init__({"s_axil": In(AxiLiteSignature(addr_bits=ADDR_BITS)),
                          "m_axi": Out(self._control.m_axi.signature), "irq": Out(1),
                          "row_trace": Out(self._layer.trace.shape())})

    config = property(lambda self: self._cfg)

    def elaborate(self, platform):
        m = Module()
        control = m.submodules.control = self._control
        reset = control.core_reset
        head, state, layer = self._head, self._state, self._layer
        for name, block in (("head", head), ("state", state), ("layer", layer)):
            m.submodules[name] = ResetInserter(reset)(block)

        wiring.connect(m, wiring.flipped(self.s_axil), control.s_axil)
        wiring.connect(m, control.m_axi, wiring.flipped(self.m_axi))
        m.d.comb += [self.irq.eq(control.irq), self.row_trace.eq(layer.trace)]

        wiring.connect(m, control.command, layer.command)
        wiring.connect(m, layer.finished, control.finished)
        wiring.connect(m, layer.rows, control.rows)
        wiring.connect(m, head.m_axi, control.dp_axi)
        for name in DATAPATH_COUNTERS:
            m.d.comb += getattr(control, f"inc_{name.lower()}").eq(getattr(layer, f"inc_{name.lower()}"))

        wiring.connect(m, layer.prune, state.layer)
        wiring.connect(m, state.survivors, layer.survivors)
        wiring.connect(m, state.pruned, layer.pruned)
        wiring.connect(m, layer.alive_request, state.alive_request)
        wiring.connect(m, state.alive, head.alive)
        wiring.connect(m, head.importance, state.importance)
        wiring.connect(m, layer.head_importance, state.head_importance)

        wiring.connect(m, layer.job, head.job)
        wiring.connect(m, head.out_rows, layer.out_rows)
        wiring.connect(m, head.result, layer.result)
        return m
