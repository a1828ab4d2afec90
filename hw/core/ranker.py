"""A top-k of one score per cycle: the engine between a lane packer and a lane serializer."""

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int, check_pow2
from ..topk import TopKEngine
from ..topk.geometry import TopKGeometry
from .lanes import Packer, Serializer, element_layout

__all__ = ["Ranker"]


class Ranker(wiring.Component):
    """Keeps the ``k`` largest of ``n`` scores (``golden.topk``: ties to the earliest), element-wise.

    A :class:`hw.topk.TopKEngine` whose ``P``-lane beats are packed from and
    serialized into one element per cycle (:class:`.lanes.Packer`,
    :class:`.lanes.Serializer`): the callers of cascade pruning produce and
    consume one token or head at a time.

    Parameters
    ----------
    n_max, parallelism, score_bits : int
        As :class:`hw.topk.TopKEngine` (``parallelism`` is its ``P``).

    Members
    -------
    request : In(stream of ``{n, k}``)
        One beat per ranking, before its scores (the engine's request).
    scores : In(stream of ``{value, last}``)
        ``n`` scores in input order, ``last`` on the ``n``-th.
    kept : Out(stream of :func:`.lanes.element_layout` of an input position)
        The kept positions (0-based, input order), ascending, ``last`` on the
        last; ``k = 0`` or a bad request: one ``none`` beat with ``last``.

    Latency and throughput: the engine's (``golden.topk_cycles``) plus a
    cycle to pack the last beat; one score in and one position out per cycle.
    """

    def __init__(self, *, n_max, parallelism, score_bits):
        # The engine's checks and widths, without building one that might never be elaborated.
        n_max = check_int("n_max", n_max, 1, 65536)
        parallelism = check_pow2("parallelism", parallelism, 2, 64)
        score_bits = check_int("score_bits", score_bits, 2, 64)
        self._params = {"n_max": n_max, "parallelism": parallelism, "score_bits": score_bits}
        self._geometry = e = TopKGeometry(n_max=n_max, lanes=parallelism, score_bits=score_bits, signed=False)
        super().__init__({
            "request": In(stream.Signature(data.StructLayout({"n": e.count_bits, "k": e.count_bits}))),
            "scores": In(stream.Signature(data.StructLayout({"value": e.shape, "last": 1}))),
            "kept": Out(stream.Signature(element_layout(unsigned(e.index_bits)))),
        })

    parallelism = property(lambda self: self._params["parallelism"])
    index_bits = property(lambda self: self._geometry.index_bits)
    count_bits = property(lambda self: self._geometry.count_bits)

    def elaborate(self, platform):
        m = Module()
        e, P = self._geometry, self.parallelism
        m.submodules.engine = engine = TopKEngine(**self._params)
        m.submodules.pack = pack = Packer(shape=e.shape, lanes=P)
        m.submodules.ser = ser = Serializer(shape=unsigned(e.index_bits), lanes=P)
        wiring.connect(m, wiring.flipped(self.request), engine.request)
        wiring.connect(m, wiring.flipped(self.scores), pack.i)
        wiring.connect(m, ser.o, wiring.flipped(self.kept))
        r = engine.result
        m.d.comb += [engine.scores.valid.eq(pack.o.valid), pack.o.ready.eq(engine.scores.ready),
                     engine.scores.p.eq(pack.o.p.lanes),
                     ser.i.valid.eq(r.valid), r.ready.eq(ser.i.ready),
                     ser.i.p.lanes.eq(r.p.index), ser.i.p.count.eq(r.p.count), ser.i.p.last.eq(r.p.last)]
        return m
