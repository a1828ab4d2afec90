"""One lane of ``golden.softmax.exp_fx``: ``e = exp(s - max)`` as a shift and an interpolated table."""

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.softmax import SOFTMAX, exp_slope_table, exp_table, log2e_code, softmax_widths

__all__ = ["ExpUnit"]


class ExpUnit(wiring.Component):
    """``exp(score - row_max)`` of one lane, bit-exact with :func:`golden.softmax.exp_fx`.

    A pipeline with no stall and no reset (every register is data): the
    result of the inputs of cycle ``c`` is on the outputs in cycle
    ``c + latency``, one result per cycle. Stages, each registered:

    1. ``d = row_max - score``; 2. ``u = min(d, clamp)``; 3. ``u * log2(e)``
    (the constant multiply, registered on both sides); 4. round to ``t``
    and split it into the shift ``n``, the table index ``j`` and the
    interpolation fraction; 5. the table entry ``E[j]`` and slope
    ``E[j] - E[j+1]`` (65- and 64-entry ROMs, computed in ``golden/``);
    6. ``slope * fraction`` (an 11 x 8 multiply); 7. ``v = E[j] - round(.)``;
    8. ``v << 5`` plus half an LSB of the shift; 9. the right shift by ``n``
    (zero for an invalid lane); 10. ``e' = round(e / 32)``, the
    normaliser's U1.17 operand.

    Members
    -------
    score, row_max : In(signed(18))
        S10.8 codes; ``row_max >= score``.
    valid : In(1)
        The lane holds a score; an invalid lane gives ``exp = exp_norm = 0``.
    exp : Out(unsigned(23))
        ``e`` in U1.22, ``latency`` cycles later.
    exp_norm : Out(unsigned(18))
        ``e' = round_half_up(e / 2**(exp_frac - norm_frac))``, U1.17.
    """

    LATENCY = 10

    def __init__(self):
        self._widths = softmax_widths(1, SOFTMAX)
        super().__init__({
            "score": In(signed(SOFTMAX.score.bits)),
            "row_max": In(signed(SOFTMAX.score.bits)),
            "valid": In(1),
            "exp": Out(unsigned(self._widths["exp_bits"])),
            "exp_norm": Out(unsigned(SOFTMAX.norm_frac + 1)),
        })

    @property
    def latency(self):
        """Cycles from the inputs to ``exp`` and ``exp_norm``."""
        return self.LATENCY

    def elaborate(self, platform):
        m = Module()
        fmt, w = SOFTMAX, self._widths
        clamp = fmt.clamp << fmt.score.frac
        r_bits = fmt.t_frac - fmt.index_bits
        t_shift = fmt.score.frac + fmt.log2e_frac - fmt.t_frac

        def reg(name, shape):
            return Signal(shape, name=name, reset_less=True)

        # The lane's valid bit and the shift travel beside the datapath.
        valid = [reg(f"valid{i}", 1) for i in range(8)]
        m.d.sync += valid[0].eq(self.valid)
        m.d.sync += [valid[i].eq(valid[i - 1]) for i in range(1, 8)]

        d = reg("d", unsigned(fmt.score.bits + 1))
        m.d.sync += d.eq(self.row_max - self.score)
        u = reg("u", unsigned(w["u_bits"]))
        m.d.sync += u.eq(Mux(d > clamp, clamp, d))
        scaled = reg("scaled", unsigned(w["u_bits"] + w["log2e_bits"]))
        m.d.sync += scaled.eq(u * Const(log2e_code(fmt), w["log2e_bits"]))
        t = reg("t", unsigned(w["t_bits"]))
        m.d.sync += t.eq((scaled + (1 << (t_shift - 1))) >> t_shift)

        shift = [reg(f"shift{i}", unsigned(w["shift_bits"])) for i in range(4)]
        index = t[r_bits:fmt.t_frac]
        rem = reg("rem", unsigned(r_bits))
        entry, slope = reg("entry", unsigned(w["table_bits"])), reg("slope", unsigned(w["slope_bits"]))
        entries = Array(Const(int(v), w["table_bits"]) for v in exp_table(fmt)[:-1])
        slopes = Array(Const(int(v), w["slope_bits"]) for v in exp_slope_table(fmt))
        m.d.sync += [entry.eq(entries[index]), slope.eq(slopes[index]), rem.eq(t[:r_bits]),
                     shift[0].eq(t[fmt.t_frac:])]
        # Registered on both sides, so that it maps to a DSP (or a short LUT multiplier).
        step, entry1 = reg("step", unsigned(w["slope_bits"] + r_bits)), reg("entry1", entry.shape())
        m.d.sync += [step.eq(slope * rem), entry1.eq(entry), shift[1].eq(shift[0])]
        v = reg("v", unsigned(w["table_bits"]))
        m.d.sync += [v.eq(entry1 - ((step + (1 << (r_bits - 1))) >> r_bits)), shift[2].eq(shift[1])]
        # Round half up at the shift: add half of the LSB that the shift keeps.
        widened = reg("widened", unsigned(w["exp_bits"] + 1))
        half = (Const(1, w["exp_bits"] + 1) << shift[2]) >> 1
        m.d.sync += [widened.eq((v << (fmt.exp_frac - fmt.table_frac)) + half), shift[3].eq(shift[2])]
        e = reg("e", unsigned(w["exp_bits"]))
        m.d.sync += e.eq(Mux(valid[7], widened >> shift[3], 0))
        norm_shift = fmt.exp_frac - fmt.norm_frac
        exp, exp_norm = reg("exp_out", self.exp.shape()), reg("exp_norm_out", self.exp_norm.shape())
        m.d.sync += [exp.eq(e), exp_norm.eq((e + (1 << (norm_shift - 1))) >> norm_shift)]
        m.d.comb += [self.exp.eq(exp), self.exp_norm.eq(exp_norm)]
        return m
