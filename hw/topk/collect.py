"""Results of several top-k engines merged into one stream, in request order."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int

__all__ = ["ResultCollect"]


class ResultCollect(wiring.Component):
    """Passes the result beats of engine ``i mod engines`` for request ``i``, in request order.

    Request ``i`` went to engine ``i mod engines`` (:class:`.dispatch.RequestDispatch`),
    so the results come from the engines in turn: the collector passes
    one engine's beats until the one with ``last``, then moves on to the
    next engine. ``final_go[e]`` is high while engine ``e`` is the one
    passed: an engine starts its final pass only then, so a result never
    waits inside an engine for an earlier one (which would stall its
    final pass and make its timing depend on another engine's).

    Parameters
    ----------
    engines : int
        Engines served, 1..16.
    result_layout : data.StructLayout
        A result beat, with a field ``last``.

    Members
    -------
    engine_result : In(stream), array of ``engines``
        One per engine.
    final_go : Out(engines)
        Bit ``e``: engine ``e``'s results are the next ones out.
    result : Out(stream)
        The merged results.

    Latency 0 (a multiplexer); throughput one beat per cycle, and the first
    beat of a request at the earliest in the cycle after the last beat of
    the one before.
    """

    def __init__(self, *, engines, result_layout):
        self._engines = check_int("engines", engines, 1, 16)
        if not isinstance(result_layout, data.StructLayout) or "last" not in result_layout.members:
            raise TypeError(f"result_layout must be a StructLayout with a field last, not {result_layout!r}")
        super().__init__({
            "engine_result": In(stream.Signature(result_layout)).array(self._engines),
            "final_go": Out(self._engines),
            "result": Out(stream.Signature(result_layout)),
        })

    engines = property(lambda self: self._engines)

    def elaborate(self, platform):
        m = Module()
        E = self._engines
        source = Signal(E, init=1)      # one-hot: the engine whose beats pass
        valids = Cat(*[port.valid for port in self.engine_result])
        m.d.comb += [self.final_go.eq(source), self.result.valid.eq((source & valids).any())]
        if E == 1:
            m.d.comb += self.result.payload.eq(self.engine_result[0].payload)
        else:
            with m.Switch(source):
                for e in range(E):
                    with m.Case(1 << e):
                        m.d.comb += self.result.payload.eq(self.engine_result[e].payload)
        for e in range(E):
            m.d.comb += self.engine_result[e].ready.eq(source[e] & self.result.ready)
        if E > 1:
            with m.If(self.result.valid & self.result.ready & self.result.payload.last):
                m.d.sync += source.eq(source.rotate_left(1))
        return m
