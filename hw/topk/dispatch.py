"""Round-robin dispatch of top-k requests and their score beats to several engines."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int, check_pow2

__all__ = ["RequestDispatch"]


class RequestDispatch(wiring.Component):
    """Sends request ``i`` and its ``ceil(n / P)`` score beats to engine ``i mod engines``.

    The request and score streams pass through to the chosen engine (its
    ``ready`` back, one gate); the next request goes to the next engine
    once the last score beat of this one is accepted (at once for ``n =
    0``, which has no score beat). An engine still busy with its previous
    request holds the request stream, not the others' work.

    Parameters
    ----------
    engines : int
        Engines served, 1..16.
    request_layout : data.StructLayout
        A request beat, with a field ``n``.
    scores_layout : data.ArrayLayout
        A score beat of ``P`` lanes (``P`` a power of two).

    Members
    -------
    request, scores : In(stream)
        The requests and the score beats, as an engine takes them.
    engine_request, engine_scores : Out(stream), arrays of ``engines``
        One pair per engine.

    Latency 0 (combinational pass-through); throughput one beat per cycle,
    and one cycle between the last score beat of a request and the next
    request.
    """

    def __init__(self, *, engines, request_layout, scores_layout):
        self._engines = check_int("engines", engines, 1, 16)
        if not isinstance(request_layout, data.StructLayout) or "n" not in request_layout.members:
            raise TypeError(f"request_layout must be a StructLayout with a field n, not {request_layout!r}")
        if not isinstance(scores_layout, data.ArrayLayout):
            raise TypeError(f"scores_layout must be an ArrayLayout, not {scores_layout!r}")
        self._lanes = check_pow2("scores_layout length", scores_layout.length, 1, 64)
        super().__init__({
            "request": In(stream.Signature(request_layout)),
            "scores": In(stream.Signature(scores_layout)),
            "engine_request": Out(stream.Signature(request_layout)).array(self._engines),
            "engine_scores": Out(stream.Signature(scores_layout)).array(self._engines),
        })

    engines = property(lambda self: self._engines)

    def elaborate(self, platform):
        m = Module()
        E, P = self._engines, self._lanes
        n = self.request.payload.n
        # One-hot pointer to the engine of the current request.
        target = Signal(E, init=1)
        in_scores = Signal()              # the request is accepted, its beats pass
        beats_left = Signal(len(n))       # score beats still to pass, in_scores
        req_ready = Signal()
        sc_ready = Signal()
        for e in range(E):
            req, sc = self.engine_request[e], self.engine_scores[e]
            m.d.comb += [req.payload.eq(self.request.payload), sc.payload.eq(self.scores.payload),
                         req.valid.eq(self.request.valid & ~in_scores & target[e]),
                         sc.valid.eq(self.scores.valid & in_scores & target[e])]
        m.d.comb += [req_ready.eq(~in_scores & (target & _readies(self.engine_request)).any()),
                     sc_ready.eq(in_scores & (target & _readies(self.engine_scores)).any()),
                     self.request.ready.eq(req_ready), self.scores.ready.eq(sc_ready)]
        step = target.rotate_left(1) if E > 1 else target
        beats = (n + (P - 1)) >> (P.bit_length() - 1)
        with m.If(self.request.valid & req_ready):
            with m.If(n == 0):
                m.d.sync += target.eq(step)
            with m.Else():
                m.d.sync += [in_scores.eq(1), beats_left.eq(beats)]
        with m.If(self.scores.valid & sc_ready):
            m.d.sync += beats_left.eq(beats_left - 1)
            with m.If(beats_left == 1):
                m.d.sync += [in_scores.eq(0), target.eq(step)]
        return m


def _readies(ports):
    """The ``ready`` bits of a list of stream ports, port ``e`` in bit ``e``."""
    return Cat(*[port.ready for port in ports])
