"""Clock and reset of an Amaranth design (ports ``clk`` and ``rst``) under cocotb.

:class:`ClockDomain` starts the clock and gives every stream driver one time
base: :meth:`ClockDomain.cycle` is the index of the latest rising edge, derived
from simulation time, so it does not depend on which coroutine wakes first.
"""

from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge

__all__ = ["ClockDomain"]


class ClockDomain:
    """The ``sync`` domain of ``dut``: clock ``clk``, synchronous reset ``rst``.

    Parameters
    ----------
    dut : cocotb handle
        The top level.
    period_ns : int
        Clock period in ns (the simulation has a 1 ps precision).
    """

    def __init__(self, dut, *, period_ns=10, clk="clk", rst="rst"):
        if not isinstance(period_ns, int) or period_ns < 2 or period_ns % 2:
            raise ValueError(f"period_ns must be an even integer >= 2, not {period_ns!r}")
        self.clk = getattr(dut, clk)
        self.rst = getattr(dut, rst)
        self.period_ns = period_ns
        self._clock = Clock(self.clk, period_ns, unit="ns")

    def start(self):
        """Start the clock with ``rst`` high (undriven it would be X); edge ``i`` is at ``i * period``."""
        self.rst.value = 1
        self._clock.start(start_high=True)

    def cycle(self):
        """Index of the latest rising edge (edge ``i`` is at ``i * period``)."""
        return int(get_sim_time("ns")) // self.period_ns

    async def reset(self, cycles=2):
        """Hold ``rst`` high for ``cycles`` rising edges, then release it."""
        self.rst.value = 1
        await ClockCycles(self.clk, cycles)
        self.rst.value = 0
        await RisingEdge(self.clk)

    async def cycles(self, count):
        """Wait ``count`` rising edges."""
        await ClockCycles(self.clk, count)
