"""Sample ranks that a quick-select round takes its two pivots from."""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import check_int, check_pow2

__all__ = ["RankTarget"]


class RankTarget(wiring.Component):
    """Sample ranks of a round's two pivots (``golden.topk_cycles.pivot_targets``).

    Both are ``k - 1`` if ``n <= sample`` (the whole round is sampled: exact,
    the round ends the selection). Otherwise ``t = min(sample - 1, k * sample
    // n)`` is the sample rank that estimates the k-th largest candidate, and
    the pivots bracket it: ``target_hi = max(0, t - 1)`` and ``target_lo =
    min(sample - 1, t + 1)``.

    A free-running restoring divider: ``n`` and ``k`` registered as they
    enter, one quotient bit per stage, and an output stage that registers
    the chosen targets (flip-flop outputs).

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
    target_hi, target_lo : Out(range(sample))
        Valid :attr:`latency` cycles after ``n`` and ``k`` settle.
    """

    def __init__(self, *, sample, count_bits):
        sample = check_pow2("sample", sample, 2, 16)
        self._sample = sample
        self._count_bits = check_int("count_bits", count_bits, 1, 17)
        super().__init__({
            "n": In(self._count_bits),
            "k": In(self._count_bits),
            "target_hi": Out(range(sample)),
            "target_lo": Out(range(sample)),
        })

    @property
    def latency(self):
        """The input registers, one stage per quotient bit, the output stage."""
        return self._sample.bit_length() + 1

    def elaborate(self, platform):
        m = Module()
        S = self._sample
        L = S.bit_length() - 1
        w = self._count_bits + L
        # n and k registered as they enter: the first stage's subtraction
        # from the parent's registers (k and n fan out to other logic there)
        # was a slow path.
        n, k = Signal.like(self.n, name="n_in"), Signal.like(self.k, name="k_in")
        m.d.sync += [n.eq(self.n), k.eq(self.k)]
        # Stage b (b = L-1 .. 0) decides quotient bit b of (k << L) // n.
        rem, den, quo = k << L, n, Const(0, L)
        sat = k >= n                        # k * S // n >= S: t = S - 1
        small = n <= S
        km1 = k - 1
        for stage, b in enumerate(range(L - 1, -1, -1)):
            # One subtraction per stage: its sign is the quotient bit and its
            # difference the next remainder (a compare beside a subtraction
            # made two carry chains in series with the multiplexer).
            diff = rem - (den << b)
            take = ~diff[-1]
            if b == 0:
                # The last quotient bit and the bracket for either of its
                # values (t = quo | take) are registered; the output stage
                # only selects, into the targets' registers (the compare and
                # the selects in one stage were a slow path).
                sel = {name: Signal(range(S), name=f"{name}_c") for name in ("hi_take", "lo_take",
                                                                             "hi_keep", "lo_keep")}
                r_take, r_small, r_sat = Signal(name="take_c"), Signal(name="small_c"), Signal(name="sat_c")
                r_km1 = Signal(range(S), name="km1_c")
                m.d.sync += [
                    # t = quo + 1
                    sel["hi_take"].eq(quo), sel["lo_take"].eq(Mux(quo == S - 2, S - 1, quo + 2)),
                    # t = quo
                    sel["hi_keep"].eq(Mux(quo == 0, 0, quo - 1)), sel["lo_keep"].eq(quo | 1),
                    r_take.eq(take), r_small.eq(small), r_sat.eq(sat), r_km1.eq(km1),
                ]
                with m.If(r_small):
                    m.d.sync += [self.target_hi.eq(r_km1), self.target_lo.eq(r_km1)]
                with m.Elif(r_sat):
                    m.d.sync += [self.target_hi.eq(S - 2), self.target_lo.eq(S - 1)]     # t = S - 1
                with m.Else():
                    m.d.sync += [self.target_hi.eq(Mux(r_take, sel["hi_take"], sel["hi_keep"])),
                                 self.target_lo.eq(Mux(r_take, sel["lo_take"], sel["lo_keep"]))]
                break
            nrem = Signal(w, name=f"rem{stage}")
            nden = Signal(self._count_bits, name=f"den{stage}")
            nquo = Signal(L, name=f"quo{stage}")
            nsat = Signal(name=f"sat{stage}")
            nsmall = Signal(name=f"small{stage}")
            nkm1 = Signal(self._count_bits, name=f"km1_{stage}")
            m.d.sync += [
                nrem.eq(Mux(take, diff[:w], rem)),
                nden.eq(den), nquo.eq(quo | (take << b)), nsat.eq(sat),
                nsmall.eq(small), nkm1.eq(km1),
            ]
            rem, den, quo, sat, small, km1 = nrem, nden, nquo, nsat, nsmall, nkm1
        return m
