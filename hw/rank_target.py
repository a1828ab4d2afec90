"""Sample rank that a quick-select round aims its pivot at."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import check_int, check_pow2

__all__ = ["RankTarget"]


class RankTarget(wiring.Component):
    """``target = k - 1`` if ``n <= sample`` else ``min(sample - 1, k * sample // n)``.

    With ``m = min(n, sample)`` elements sampled from a round's ``n``
    candidates, the sample element of descending rank ``k * sample // n`` is
    an estimate of the k-th largest candidate, so the side that holds rank
    ``k`` after the round is small. When the whole set is sampled (``n <=
    sample``) the pick is exact and the round ends the selection.

    A free-running restoring divider, one quotient bit per stage; the last
    stage registers the chosen target (``target`` is a flip-flop output).

    Parameters
    ----------
    sample : int
        Power of two in 2..16.
    count_bits : int
        Width of ``n`` and ``k``.

    Members
    -------
    n, k : In(count_bits)
        Held constant while the result is used; ``1 <= k <= n``.
    target : Out(range(sample))
        Valid :attr:`latency` cycles after ``n`` and ``k`` settle.
    """

    def __init__(self, *, sample, count_bits):
        sample = check_pow2("sample", sample, 2, 16)
        self._sample = sample
        self._count_bits = check_int("count_bits", count_bits, 1, 17)
        super().__init__({
            "n": In(self._count_bits),
            "k": In(self._count_bits),
            "target": Out(range(sample)),
        })

    @property
    def latency(self):
        return self._sample.bit_length() - 1

    def elaborate(self, platform):
        m = Module()
        S = self._sample
        L = S.bit_length() - 1
        w = self._count_bits + L
        # Stage b (b = L-1 .. 0) decides quotient bit b of (k << L) // n.
        rem, den, quo = self.k << L, self.n, 0
        sat = self.k >= self.n              # k * S // n >= S: saturate to S - 1
        small = self.n <= S
        km1 = self.k - 1
        for stage, b in enumerate(range(L - 1, -1, -1)):
            take = rem >= (den << b)
            if b == 0:
                # The last stage registers the chosen target itself (no
                # multiplexer between this register and the rank compare).
                with m.If(small):
                    m.d.sync += self.target.eq(km1)
                with m.Elif(sat):
                    m.d.sync += self.target.eq(S - 1)
                with m.Else():
                    m.d.sync += self.target.eq(quo | take)
                break
            nrem = Signal(w, name=f"rem{stage}")
            nden = Signal(self._count_bits, name=f"den{stage}")
            nquo = Signal(L, name=f"quo{stage}")
            nsat = Signal(name=f"sat{stage}")
            nsmall = Signal(name=f"small{stage}")
            nkm1 = Signal(self._count_bits, name=f"km1_{stage}")
            m.d.sync += [
                nrem.eq(Mux(take, rem - (den << b), rem)),
                nden.eq(den), nquo.eq(quo | (take << b)), nsat.eq(sat),
                nsmall.eq(small), nkm1.eq(km1),
            ]
            rem, den, quo, sat, small, km1 = nrem, nden, nquo, nsat, nsmall, nkm1
        return m
