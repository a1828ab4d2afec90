"""The part every block's cocotb bench shares: clock, reset and one driver per stream port.

A bench names its component's input streams (``sources``) and output streams
(``sinks``); :class:`StreamBench` starts the clock, and on every (re)start
makes a :class:`~sim.streams.StreamSource` per input before the reset and a
:class:`~sim.streams.StreamSink` per output after it, each an attribute named
after its port. A reset in the middle of a request stops every driver first,
so whatever was queued or half sent is dropped, and starts new ones without
pauses.
"""

from sim.clock import ClockDomain
from sim.streams import StreamSink, StreamSource

__all__ = ["StreamBench"]


class StreamBench:
    """Clock, reset and stream drivers of an emitted ``component`` under cocotb.

    Parameters
    ----------
    dut : cocotb handle
        The top level (ports ``clk``, ``rst`` and the streams).
    component : wiring.Component
        The design the Verilog was emitted from; its stream members give the
        payload shapes.
    rng : random.Random
        The bench's random source.
    sources, sinks : tuple of str, or dict
        The input and output stream ports, in :meth:`pauses` order: port
        names (each driver is the attribute of that name) or a dict
        ``{attribute: port}``.
    """

    def __init__(self, dut, component, *, rng, sources, sinks):
        self.dut = dut
        self.rng = rng
        self.domain = ClockDomain(dut)
        self._component = component
        self._sources = self._named(sources)
        self._sinks = self._named(sinks)

    @staticmethod
    def _named(ports):
        return dict(ports) if isinstance(ports, dict) else {port: port for port in ports}

    def _shape(self, port):
        return getattr(self._component, port).payload.shape()

    async def start(self):
        """Start the clock and hold ``rst`` for two edges."""
        self.domain.start()
        await self._reset(2)

    async def reset(self, cycles=1):
        """Stop the drivers, hold ``rst`` for ``cycles`` edges, start new ones (with no pauses)."""
        for attr in (*self._sources, *self._sinks):
            getattr(self, attr).stop()
        await self._reset(cycles)

    async def _reset(self, cycles):
        for attr, port in self._sources.items():
            setattr(self, attr, StreamSource(self.dut, port, self.domain, self._shape(port)))
        await self.domain.reset(cycles)
        for attr, port in self._sinks.items():
            setattr(self, attr, StreamSink(self.dut, port, self.domain, self._shape(port)))

    def pauses(self, *pauses, **named):
        """Set the pause generators (None: never pause), in port order or by attribute name."""
        ports = (*self._sources, *self._sinks)
        if len(pauses) > len(ports) or set(named) - set(ports):
            raise TypeError(f"pauses are for the ports {', '.join(ports)}, not {pauses!r} {named!r}")
        chosen = dict(zip(ports, pauses, strict=False))
        chosen.update(named)
        for port in ports:
            getattr(self, port).set_pause(chosen.get(port))
