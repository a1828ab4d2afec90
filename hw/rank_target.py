"""Sample rank that a quick-select round aims its pivot at."""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import check_int, check_pow2

__all__ = ["RankTarget"]


class RankTarget(wiring.Component):
    """Sample rank of a round's pivot (``golden.topk_cycles.pivot_target``).

    ``target = k - 1`` if ``n <= sample`` (the whole round is sampled: exact,
    the round ends the selection). Otherwise ``t = min(sample - 1, k * sample
    // n)``, the sample rank that estimates the k-th largest candidate, moved
    one rank towards the nearer end: ``max(0, t - 1)`` if ``2k > n``, else
    ``min(sample - 1, t + 1)``, so that the side which holds rank ``k`` after
    the round is the small one.

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
        rem, den, quo = self.k << L, self.n, Const(0, L)
        sat = self.k >= self.n              # k * S // n >= S: t = S - 1
        small = self.n <= S
        upper = (self.k << 1) > self.n      # 2k > n: move the pivot up a rank
        km1 = self.k - 1
        for stage, b in enumerate(range(L - 1, -1, -1)):
            # One subtraction per stage: its sign is the quotient bit and its
            # difference the next remainder (a compare beside a subtraction
            # made two carry chains in series with the multiplexer).
            diff = rem - (den << b)
            take = ~diff[-1]
            if b == 0:
                # The last stage registers the chosen target itself (no
                # multiplexer between this register and the rank compare).
                # t = quo | take; the moved rank for either value of the last
                # quotient bit is formed from registers beside its compare,
                # which then only selects.
                t_take = Mux(upper, quo, Mux(quo == S - 2, S - 1, quo + 2))      # t = quo + 1
                t_keep = Mux(upper, Mux(quo == 0, 0, quo - 1), quo | 1)         # t = quo
                with m.If(small):
                    m.d.sync += self.target.eq(km1)
                with m.Elif(sat):
                    m.d.sync += self.target.eq(S - 2)                            # t = S - 1, 2k > n
                with m.Else():
                    m.d.sync += self.target.eq(Mux(take, t_take, t_keep))
                break
            nrem = Signal(w, name=f"rem{stage}")
            nden = Signal(self._count_bits, name=f"den{stage}")
            nquo = Signal(L, name=f"quo{stage}")
            nsat = Signal(name=f"sat{stage}")
            nsmall = Signal(name=f"small{stage}")
            nupper = Signal(name=f"upper{stage}")
            nkm1 = Signal(self._count_bits, name=f"km1_{stage}")
            m.d.sync += [
                nrem.eq(Mux(take, diff[:w], rem)),
                nden.eq(den), nquo.eq(quo | (take << b)), nsat.eq(sat),
                nsmall.eq(small), nupper.eq(upper), nkm1.eq(km1),
            ]
            rem, den, quo, sat, small, upper, km1 = nrem, nden, nquo, nsat, nsmall, nupper, nkm1
        return m
