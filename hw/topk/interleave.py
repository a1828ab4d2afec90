"""Several top-k engines behind one request/scores/result interface."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int
from .collect import ResultCollect
from .dispatch import RequestDispatch
from .engine import TopKEngine

__all__ = ["TopKInterleave"]


class TopKInterleave(wiring.Component):
    """``engines`` :class:`TopKEngine` s, round-robin, results in request order.

    One engine takes a request only once its previous result is out, and a
    request's rounds and final pass take longer than its input (at P = 16,
    n = 1024: 64 beats of input, about 240 cycles in all). With ``E``
    engines, request ``i`` goes to engine ``i mod E``
    (:class:`.dispatch.RequestDispatch`) as soon as the input of request
    ``i - 1`` is in, so up to ``E`` requests are under way; the results
    come out in request order (:class:`.collect.ResultCollect`), and an
    engine starts its final pass only when the results before its own are
    out (``final_go``), so that no engine's final pass ever waits for
    another engine. Each engine's cycles are those of
    ``golden.topk_cycles.engine_cycles``, shifted by those waits; the whole
    stream's timing is ``golden.topk_cycles.stream_cycles``.

    Why engines side by side, not one engine that overlaps requests: the
    engine's buffers (input, L, M, R) are all busy for the whole request
    (the final pass reads the input buffer), so an overlapping engine needs
    a second input buffer and part buffers anyway, plus the control to run
    two requests' stages at once; a second engine costs about the same
    memory, no new control, and leaves the verified engine as it is.

    Parameters
    ----------
    engines : int
        ``E``, 1..16.
    n_max, parallelism, score_bits, signed, lfsr_seed
        As :class:`TopKEngine` (every engine alike).

    Members
    -------
    request, scores, result
        As :class:`TopKEngine`.

    Latency and throughput: see :func:`golden.topk_cycles.stream_cycles`;
    with one engine, exactly :class:`TopKEngine`'s.
    """

    def __init__(self, *, engines, n_max, parallelism, score_bits, signed=False, lfsr_seed=1):
        self._engine_count = check_int("engines", engines, 1, 16)
        self._units = [TopKEngine(n_max=n_max, parallelism=parallelism, score_bits=score_bits,
                                  signed=signed, lfsr_seed=lfsr_seed, ordered=engines > 1)
                       for _ in range(self._engine_count)]
        for unit in self._units:
            # Elaborated with this component (which warns, itself, if it is not).
            unit._MustUse__silence = True
        unit = self._units[0]
        super().__init__({
            "request": In(unit.request.signature.flip()),
            "scores": In(unit.scores.signature.flip()),
            "result": Out(unit.result.signature),
        })

    engines = property(lambda self: self._engine_count)
    # The interface and timing of each engine.
    n_max = property(lambda self: self._units[0].n_max)
    parallelism = property(lambda self: self._units[0].parallelism)
    lanes = property(lambda self: self._units[0].lanes)
    score_bits = property(lambda self: self._units[0].score_bits)
    signed = property(lambda self: self._units[0].signed)
    lfsr_seed = property(lambda self: self._units[0].lfsr_seed)
    score_shape = property(lambda self: self._units[0].score_shape)
    count_bits = property(lambda self: self._units[0].count_bits)
    index_bits = property(lambda self: self._units[0].index_bits)
    block_ram = property(lambda self: self._units[0].block_ram)
    round_latency = property(lambda self: self._units[0].round_latency)
    round_gap = property(lambda self: self._units[0].round_gap)
    final_latency = property(lambda self: self._units[0].final_latency)
    start_delay = property(lambda self: self._units[0].start_delay)

    def elaborate(self, platform):
        m = Module()
        E = self._engine_count
        unit = self._units[0]
        m.submodules.dispatch = dispatch = RequestDispatch(
            engines=E, request_layout=unit.request.payload.shape(), scores_layout=unit.scores.payload.shape())
        m.submodules.collect = collect = ResultCollect(engines=E, result_layout=unit.result.payload.shape())
        wiring.connect(m, wiring.flipped(self.request), dispatch.request)
        wiring.connect(m, wiring.flipped(self.scores), dispatch.scores)
        wiring.connect(m, collect.result, wiring.flipped(self.result))
        for e, engine in enumerate(self._units):
            m.submodules[f"engine{e}"] = engine
            wiring.connect(m, dispatch.engine_request[e], engine.request)
            wiring.connect(m, dispatch.engine_scores[e], engine.scores)
            wiring.connect(m, engine.result, collect.engine_result[e])
            if engine.ordered:
                m.d.comb += engine.final_go.eq(collect.final_go[e])
        return m
