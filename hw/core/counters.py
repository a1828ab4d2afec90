"""The counter bank: saturating 64-bit counters, in total and per layer command."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int

__all__ = ["CounterBank"]

_MAX = (1 << 64) - 1


class CounterBank(wiring.Component):
    """Saturating 64-bit counters with a per-layer snapshot.

    Each counter ``name`` adds its input ``inc_<name>`` every cycle, to its
    total and to its layer count; both stop at ``2**64 - 1``. ``snapshot``
    copies the layer counts, with the increment of that cycle, to
    ``layer_<name>`` and restarts them at zero; ``clear`` zeroes
    totals, layer counts and snapshots (a new command list).

    Parameters
    ----------
    counters : sequence of (str, int)
        Counter names and the width of their increments (1..32 bits).

    Members
    -------
    inc_<name> : In(width)
    total_<name> : Out(64)
    layer_<name> : Out(64)
    snapshot, clear : In(1)

    Latency: an increment shows in the total one cycle later.
    """

    def __init__(self, *, counters):
        self._counters = tuple((str(name), check_int("width", width, 1, 32)) for name, width in counters)
        members = {"snapshot": In(1), "clear": In(1)}
        for name, width in self._counters:
            members[f"inc_{name}"] = In(width)
            members[f"total_{name}"] = Out(64)
            members[f"layer_{name}"] = Out(64)
        super().__init__(members)

    @property
    def names(self):
        return tuple(name for name, _ in self._counters)

    def elaborate(self, platform):
        m = Module()
        for name, _ in self._counters:
            inc = getattr(self, f"inc_{name}")
            total, snap = getattr(self, f"total_{name}"), getattr(self, f"layer_{name}")
            layer = Signal(64, name=f"count_{name}")
            t_sum, l_sum = Signal(65, name=f"t_sum_{name}"), Signal(65, name=f"l_sum_{name}")
            m.d.comb += [t_sum.eq(total + inc), l_sum.eq(layer + inc)]
            m.d.sync += [total.eq(Mux(t_sum[64], _MAX, t_sum[:64])),
                         layer.eq(Mux(l_sum[64], _MAX, l_sum[:64]))]
            with m.If(self.snapshot):
                m.d.sync += [snap.eq(Mux(l_sum[64], _MAX, l_sum[:64])), layer.eq(0)]
            with m.If(self.clear):
                m.d.sync += [total.eq(0), layer.eq(0), snap.eq(0)]
        return m
