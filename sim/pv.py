"""cocotb testbench of the prob x V unit (``hw.systolic.pv.PvUnit``) against ``golden.pv``.

Run through :func:`sim.runner.run` with the unit's constructor arguments in
the parameters (``unit``) and ``requests``. Every output row is compared
bit-exact with ``golden.pv.pv`` on the first ``d`` elements (the rest must be
0); a probability above 1.0, which golden refuses, must set ``error``, with
the row still ``golden.pv.pv_output`` of the exact sum. With no bubbles and
no backpressure each output's cycle is checked against the unit's
``latency``, and the value beats of back-to-back requests against one per
cycle. ``SEED=<seed>`` reproduces a run. The tests themselves are
:mod:`sim.array_bench`'s.
"""

import math
from dataclasses import dataclass

import cocotb
import numpy as np

from golden.formats import PROB
from golden.pv import pv, pv_output
from golden.quant import max_code
from hw.systolic.pv import PvUnit
from sim import array_bench, runner
from sim.array_bench import PAUSES, ArrayBench, ArrayCase, bad_cases, random_cases

__all__ = ["PvCase", "PvBench", "edge_cases"]

ONE = 1 << PROB.frac


@dataclass
class PvCase(ArrayCase):
    """``prob`` (n codes) and ``v`` (n rows of head_dim codes)."""
    prob: list
    v: list


class PvBench(ArrayBench):
    """``request`` and ``values`` sources, ``output`` sink."""

    request_port, data_port, output_port = "request", "values", "output"

    def __init__(self, dut, unit_params, *, rng):
        super().__init__(dut, PvUnit(**unit_params), rng=rng)
        self.per_beat = self.unit.rows
        self.code = max_code(self.unit.value_bits)

    def send_request(self, case):
        self.request.send({"n": case.n, "d": case.d})

    def data_beat(self, case, b):
        rng = self.rng
        prob, v, index = self.lanes(case, b, (case.prob, lambda: rng.randrange(1 << PROB.bits)),
                                    (case.v, self.row), (case.index, lambda: rng.randrange(self.n_max)))
        return {"prob": prob, "v": v, "index": index}

    def output_beats(self, case):
        return 1

    def expected(self, case):
        """``(out, error)`` of ``case``."""
        if self.bad(case):
            return [0] * self.D, 1
        prob = np.array([case.prob], dtype=np.int64)
        v = np.array([row[:case.d] for row in case.v], dtype=np.int64)
        if max(case.prob) > ONE:
            row, error = pv_output(prob @ v, self.unit.value_bits)[0], 1
        else:
            row, error = pv(prob, v, self.unit.value_bits)[0], 0
        return [int(x) for x in row] + [0] * (self.D - case.d), error

    def check(self, case, label):
        where = f"SEED={runner.seed()} {label} [{case.label}] d={case.d} n={case.n}"
        out, error = self.expected(case)
        assert len(case.beats) == 1, f"{where}: {len(case.beats)} output beats"
        got = case.beats[0]
        assert got["error"] == error, f"{where}: error={got['error']}, expected {error}"
        assert got["out"] == out, \
            f"{where}: output\n  got      {got['out']}\n  expected {out}\n  prob {case.prob}"

    def probabilities(self, n, kind):
        rng = self.rng
        if kind == "softmax":
            # As golden.softmax leaves them: each rounded, summing to about 1.0.
            weights = [math.exp(rng.gauss(0, 3)) for _ in range(n)]
            total = sum(weights)
            return [min(ONE, math.floor(w / total * ONE + 0.5)) for w in weights]
        if kind == "uniform":
            return [rng.randint(0, ONE) for _ in range(n)]
        return [rng.choice((0, ONE)) for _ in range(n)]

    def case(self, label, d, n, *, prob=None, v=None, kind=None):
        if prob is None:
            prob = self.probabilities(n, kind or self.rng.choice(("softmax", "uniform", "ends")))
        v = v if v is not None else [self.row() for _ in range(n)]
        return PvCase(label, d, n, self.indices(n), list(prob), [list(r) for r in v])


def edge_cases(bench):
    """Extreme operands, D = 1 and D = max, one V row and n_max rows, probabilities above 1, bad requests."""
    D, n_max, c, R = bench.D, bench.n_max, bench.code, bench.per_beat
    mid = min(n_max, 3 * R + 1)
    return [
        bench.case("all max", D, mid, prob=[ONE] * mid, v=[[c] * D] * mid),
        bench.case("all min", D, mid, prob=[ONE] * mid, v=[[-c] * D] * mid),
        bench.case("n_max x max", D, n_max, prob=[ONE] * n_max, v=[[c] * D] * n_max),
        bench.case("zero probs", D, mid, prob=[0] * mid),
        bench.case("zero values", D, mid, v=[[0] * D] * mid),
        bench.case("one hot", D, mid, prob=[0] * (mid - 1) + [ONE]),
        bench.case("D=1", 1, mid),
        bench.case("D=max", D, mid),
        bench.case("n=1", D, 1),
        bench.case("n=1 D=1", 1, 1),
        bench.case("n=n_max", D, n_max, kind="softmax"),
        bench.case("n=R", D, min(R, n_max)),
        bench.case("n=R+1", D, min(R + 1, n_max)),
        bench.case("prob > 1.0", D, mid, prob=[ONE + 1] + [0] * (mid - 1)),
        bench.case("prob max code", D, mid, prob=[(1 << PROB.bits) - 1] * mid),
        *bad_cases(bench),
    ]


@cocotb.test()
async def edge_cases_timed(dut):
    """Every edge case alone, no pauses: outputs and cycles exact."""
    await array_bench.run_edge_cases(dut, PvBench, edge_cases)


@cocotb.test()
async def random_back_to_back(dut):
    """Random requests queued at once, no pauses: exact, value beats one per cycle across requests
    (golden.array_cycles: slots are free at their last beat)."""
    _, cases = await array_bench.run_back_to_back(
        dut, PvBench, lambda bench, requests: random_cases(bench, requests // 2, bad=0.0),
        gapless=True)
    array_bench.record_checked("random_back_to_back", cases)


@cocotb.test()
@cocotb.parametrize(pauses=PAUSES)
async def random_pauses(dut, pauses):
    """Random requests back to back with random bubbles on the inputs and backpressure on the output."""
    await array_bench.run_pauses(dut, PvBench, edge_cases, pauses)


@cocotb.test()
async def reset_mid_request(dut):
    """``rst`` in the middle of a stream of requests returns the unit to idle; the next is exact."""
    await array_bench.run_reset_cuts(dut, PvBench)


# Only gen.bench_arrays runs this one (it passes the rows to measure).
@cocotb.test(skip="measure" not in runner.params())
async def measure(dut):
    """For gen.bench_arrays: groups of requests back to back, their counters and span."""
    await array_bench.run_measure(dut, PvBench)
