"""16-bit maximal-length Fibonacci LFSR (golden twin: ``golden.topk_cycles.lfsr_step``)."""

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.topk_cycles import LFSR_TAPS

from .params import check_int

__all__ = ["Lfsr"]

TAPS = LFSR_TAPS


class Lfsr(wiring.Component):
    """A 16-bit Fibonacci LFSR, stepped on demand.

    Parameters
    ----------
    seed : int
        Initial and reload state, 1..65535.

    Members
    -------
    reload : In(1)
        Return to ``seed`` at the next clock edge (wins over ``step``).
    step : In(1)
        Advance one step at the next clock edge.
    value : Out(16)
        Current state.

    Latency 0 (``value`` is the state register), one step per cycle.
    """

    def __init__(self, *, seed):
        seed = check_int("seed", seed, 1, 0xFFFF)
        self._seed = seed
        super().__init__({"reload": In(1), "step": In(1), "value": Out(16, init=seed)})

    @property
    def seed(self):
        return self._seed

    def elaborate(self, platform):
        m = Module()
        feedback = self.value[TAPS[0]] ^ self.value[TAPS[1]] ^ self.value[TAPS[2]] ^ self.value[TAPS[3]]
        with m.If(self.reload):
            m.d.sync += self.value.eq(self._seed)
        with m.Elif(self.step):
            m.d.sync += self.value.eq(Cat(feedback, self.value[:15]))
        return m
