"""The re-fetch decision of a query row, from the softmax unit's row summary."""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.formats import PROB

from ..params import check_int
from .layouts import decision_layout, summary_layout

__all__ = ["RefetchDecision"]


class RefetchDecision(wiring.Component):
    """Re-fetch LSBs for a row that sees some key and whose largest probability is below the threshold.

    ``golden.fetch.refetch_rows`` with ``threshold_code`` from
    ``golden.fetch.refetch_threshold_code(cfg.requant_threshold)`` (0: never).

    Parameters
    ----------
    threshold_code : int
        Probability code (U1.15), 0..2**15.

    Members
    -------
    summary : In(stream.Signature(summary_layout))
    decision : Out(stream.Signature(decision_layout))
        Registered: :attr:`latency` 1, one row per cycle.
    refetched : Out(1)
        High for one cycle per decision that re-fetches (when it is taken).
    """

    LATENCY = 1

    def __init__(self, *, threshold_code):
        self._threshold_code = check_int("threshold_code", threshold_code, 0, 1 << PROB.frac)
        super().__init__({
            "summary": In(stream.Signature(summary_layout())),
            "decision": Out(stream.Signature(decision_layout())),
            "refetched": Out(1),
        })

    threshold_code = property(lambda self: self._threshold_code)

    @property
    def latency(self):
        return self.LATENCY

    def elaborate(self, platform):
        m = Module()
        out = self.decision
        m.d.comb += [self.summary.ready.eq(~out.valid | out.ready),
                     self.refetched.eq(out.valid & out.ready & out.p.refetch)]
        with m.If(out.ready):
            m.d.sync += out.valid.eq(0)
        with m.If(self.summary.valid & self.summary.ready):
            m.d.sync += [out.valid.eq(1),
                         out.p.refetch.eq(self.summary.p.visible &
                                          (self.summary.p.max_prob < self._threshold_code))]
        return m
