"""cocotb testbench of the Q x K unit (``hw.systolic.qk.QkUnit``) against ``golden.qk``.

Run through :func:`sim.runner.run` with the unit's constructor arguments in
the parameters (``unit``) and ``requests`` (random requests per run, spread
over the tests). Every scores beat is compared bit-exact with
``golden.qk.qk_scores(golden.qk.qk_dot(...))`` on the first ``d`` elements;
with no bubbles and no backpressure every beat's cycle is checked against
the unit's ``latency``, and key streams of back-to-back requests against one
beat per cycle. A mismatch names the seed, the case and actual vs expected;
``SEED=<seed>`` reproduces the run. The tests themselves are
:mod:`sim.array_bench`'s.
"""

import math
from dataclasses import dataclass

import cocotb
import numpy as np

from golden.array_cycles import stream_starts
from golden.qk import qk_dot, qk_scores
from golden.quant import max_code
from hw.systolic.qk import QkUnit
from sim import array_bench, runner
from sim.array_bench import PAUSES, ArrayBench, ArrayCase, bad_cases, random_cases

__all__ = ["QkCase", "QkBench", "edge_cases"]


@dataclass
class QkCase(ArrayCase):
    """``q`` (head_dim codes), ``keys`` (n rows of head_dim codes), the folded scale."""
    q: list
    keys: list
    mantissa: int
    shift: int


class QkBench(ArrayBench):
    """``query`` and ``keys`` sources, ``scores`` sink."""

    request_port, data_port, output_port = "query", "keys", "scores"

    def __init__(self, dut, unit_params, *, rng):
        super().__init__(dut, QkUnit(**unit_params), rng=rng)
        self.per_beat = self.unit.lanes
        self.code = max_code(self.unit.value_bits)

    def send_request(self, case):
        self.request.send({"q": case.q, "d": case.d, "n": case.n, "mantissa": case.mantissa,
                           "shift": case.shift})

    def data_beat(self, case, b):
        k, index = self.lanes(case, b, (case.keys, self.row),
                              (case.index, lambda: self.rng.randrange(self.n_max)))
        return {"k": k, "index": index}

    def output_beats(self, case):
        return 1 if self.bad(case) else self.beats_of(case)

    def expected(self, case):
        """The scores beats of ``case``: dicts of score/index/count/last/error."""
        if self.bad(case):
            return [{"count": 0, "last": 1, "error": 1}]
        q = np.array([case.q[:case.d]], dtype=np.int64)
        k = np.array([row[:case.d] for row in case.keys], dtype=np.int64)
        scores = [int(s) for s in qk_scores(qk_dot(q, k, self.unit.value_bits), case.mantissa, case.shift)[0]]
        beats = []
        for b in range(self.beats_of(case)):
            lo, hi = b * self.per_beat, min(case.n, (b + 1) * self.per_beat)
            beats.append({"score": scores[lo:hi], "index": case.index[lo:hi], "count": hi - lo,
                          "last": int(hi == case.n), "error": 0})
        return beats

    def check(self, case, label):
        where = f"SEED={runner.seed()} {label} [{case.label}] d={case.d} n={case.n} " \
                f"m={case.mantissa} sh={case.shift}"
        want = self.expected(case)
        assert len(case.beats) == len(want), f"{where}: {len(case.beats)} beats, expected {len(want)}"
        for number, (got, exp) in enumerate(zip(case.beats, want, strict=True)):
            count = got["count"]
            view = {"count": count, "last": got["last"], "error": got["error"]}
            if "score" in exp:
                view.update(score=got["score"][:count], index=got["index"][:count])
            assert view == exp, f"{where}: beat {number}\n  got      {view}\n  expected {exp}"

    def check_cycles(self, case, label):
        """Alone and without pauses: every scores beat ``latency`` cycles after its key beat."""
        super().check_cycles(case, label)
        if not self.bad(case):
            want = [c + self.unit.latency for c in case.in_cycles]
            assert case.out_cycles == want, f"SEED={runner.seed()} {label} [{case.label}]: scores at " \
                                            f"{case.out_cycles}, expected {want}"

    def case(self, label, d, n, *, q=None, keys=None, mantissa=None, shift=None):
        rng = self.rng
        q = q if q is not None else self.row()
        keys = keys if keys is not None else [self.row() for _ in range(n)]
        if mantissa is None:
            mantissa = rng.randint(1 << 15, (1 << 16) - 1)
        if shift is None:
            # Around the scale that maps a typical dot product onto the score range, sometimes far off.
            typical = max(1, int(self.code * self.code * math.sqrt(max(d, 1)) / 2))
            shift = max(0, min(62, typical.bit_length() + 6 + rng.randint(-6, 6)))
            if rng.random() < 0.1:
                shift = rng.randint(0, 62)
        return QkCase(label, d, n, self.indices(n), list(q), [list(k) for k in keys], mantissa, shift)


def edge_cases(bench):
    """Extreme operands, D = 1 and D = max, one key and n_max keys, extreme scales, bad requests."""
    D, n_max, c, L = bench.D, bench.n_max, bench.code, bench.per_beat
    mid = min(n_max, 3 * L + 1)
    return [
        bench.case("all max", D, mid, q=[c] * D, keys=[[c] * D] * mid),
        bench.case("max x min", D, mid, q=[c] * D, keys=[[-c] * D] * mid),
        bench.case("all min", D, mid, q=[-c] * D, keys=[[-c] * D] * mid, shift=0),
        bench.case("zeros", D, mid, q=[0] * D),
        bench.case("zero keys", D, mid, keys=[[0] * D] * mid),
        bench.case("D=1", 1, mid),
        bench.case("D=max", D, mid),
        bench.case("n=1", D, 1),
        bench.case("n=1 D=1", 1, 1),
        bench.case("n=n_max", D, n_max),
        bench.case("n=L", D, min(L, n_max)),
        bench.case("n=L+1", D, min(L + 1, n_max)),
        bench.case("shift 0, m max", D, mid, mantissa=(1 << 16) - 1, shift=0),
        bench.case("shift 62", D, mid, shift=62),
        bench.case("m=1", D, mid, mantissa=1, shift=0),
        *bad_cases(bench),
    ]


@cocotb.test()
async def edge_cases_timed(dut):
    """Every edge case alone, no pauses: scores and cycles exact."""
    await array_bench.run_edge_cases(dut, QkBench, edge_cases)


@cocotb.test()
async def random_back_to_back(dut):
    """Random requests queued at once, no pauses: exact, and every request's key beats start when
    golden.array_cycles says (a gap only where a bank is still held)."""
    bench, cases = await array_bench.run_back_to_back(
        dut, QkBench, lambda bench, requests: random_cases(bench, requests // 2, bad=0.0), gapless=False)
    starts = [case.in_cycles[0] - cases[0].in_cycles[0] for case in cases]
    want = stream_starts([bench.beats_of(case) for case in cases], turnaround=bench.unit.bank_turnaround)
    assert starts == want, f"SEED={runner.seed()}: key streams start at {starts}, golden.array_cycles: {want}"
    array_bench.record_checked("random_back_to_back", cases)


@cocotb.test()
async def long_back_to_back(dut):
    """Four requests of n_max keys queued at once: one key beat every cycle throughout."""
    def long_cases(bench, _):
        return [bench.case("long", bench.rng.randint(1, bench.D), bench.n_max) for _ in range(4)]
    _, cases = await array_bench.run_back_to_back(dut, QkBench, long_cases, gapless=True)
    array_bench.record_checked("long_back_to_back", cases)


@cocotb.test()
@cocotb.parametrize(pauses=PAUSES)
async def random_pauses(dut, pauses):
    """Random requests back to back with random bubbles on the inputs and backpressure on the output."""
    await array_bench.run_pauses(dut, QkBench, edge_cases, pauses)


@cocotb.test()
async def reset_mid_request(dut):
    """``rst`` in the middle of a stream of requests returns the unit to idle; the next is exact."""
    await array_bench.run_reset_cuts(dut, QkBench)


# Only gen.bench_arrays runs this one (it passes the heads to measure).
@cocotb.test(skip="measure" not in runner.params())
async def measure(dut):
    """For gen.bench_arrays: groups of requests back to back, their counters and span."""
    await array_bench.run_measure(dut, QkBench)
