"""cocotb testbench of the prob x V unit (``hw.systolic.pv.PvUnit``) against ``golden.pv``.

Run through :func:`sim.runner.run` with the unit's constructor arguments in
the parameters (``unit``) and ``requests``. Every output row is compared
bit-exact with ``golden.pv.pv`` on the first ``d`` elements (the rest must be
0); a probability above 1.0, which golden refuses, must set ``error``, with
the row still equal to ``golden.pv.pv_output`` of the exact sum. With no
bubbles and no backpressure each output's cycle is checked against the
unit's ``latency`` and the value beats of back-to-back requests against one
per cycle. ``SEED=<seed>`` reproduces a run.

:class:`PvBench` is also what ``gen.bench_arrays`` drives to measure utilization.
"""

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import SimTimeoutError, with_timeout

from golden.formats import PROB
from golden.pv import pv, pv_output
from golden.quant import max_code
from hw.systolic.pv import PvUnit
from sim import runner
from sim.clock import ClockDomain
from sim.qk import CHECKED_FILE
from sim.streams import StreamSink, StreamSource, random_pause

__all__ = ["PvCase", "PvBench", "edge_cases", "random_cases"]

RESET_CUTS = 12
ONE = 1 << PROB.frac
_checked_tests = []


def _checked(test, cases):
    _checked_tests.append(test)
    with open(CHECKED_FILE, "a" if len(_checked_tests) > 1 else "w") as f:
        f.write(f"{test} {len(cases)}\n")


@dataclass
class PvCase:
    """One request: ``prob`` (n codes), ``v`` (n rows of head_dim codes), ``index`` (n)."""
    label: str
    d: int
    n: int
    prob: list
    v: list
    index: list
    beats: list = field(default_factory=list)
    out_cycles: list = field(default_factory=list)
    value_cycles: list = field(default_factory=list)


class PvBench:
    """Drives an emitted ``PvUnit``: ``request`` and ``values`` sources, ``output`` sink."""

    def __init__(self, dut, unit_params, *, rng):
        self.unit = PvUnit(**unit_params)
        self.D, self.R, self.n_max = self.unit.head_dim, self.unit.rows, self.unit.max_context
        self.code = max_code(self.unit.value_bits)
        self.n_limit = (1 << self.unit.max_context.bit_length()) - 1
        self.d_limit = (1 << self.D.bit_length()) - 1
        self.rng = rng
        self.domain = ClockDomain(dut)
        self.dut = dut

    async def start(self):
        self.domain.start()
        await self._reset(2)

    async def reset(self, cycles=1):
        for port in (self.request, self.values, self.output):
            port.stop()
        await self._reset(cycles)

    async def _reset(self, cycles):
        self.request = StreamSource(self.dut, "request", self.domain, self.unit.request.payload.shape())
        self.values = StreamSource(self.dut, "values", self.domain, self.unit.values.payload.shape())
        await self.domain.reset(cycles)
        self.output = StreamSink(self.dut, "output", self.domain, self.unit.output.payload.shape())

    def pauses(self, request=None, values=None, output=None):
        self.request.set_pause(request)
        self.values.set_pause(values)
        self.output.set_pause(output)

    def counters(self):
        return int(self.dut.busy_mac_count.value), int(self.dut.active_cycle_count.value)

    def beats_of(self, case):
        return math.ceil(case.n / self.R)

    def _row(self):
        return [self.rng.randint(-self.code, self.code) for _ in range(self.D)]

    def send(self, case):
        self.request.send({"n": case.n, "d": case.d})
        for b in range(self.beats_of(case)):
            lo, hi = b * self.R, (b + 1) * self.R
            prob, v, index = case.prob[lo:hi], case.v[lo:hi], case.index[lo:hi]
            # Lanes past n are don't care: noise the unit must ignore.
            while len(prob) < self.R:
                prob.append(self.rng.randrange(1 << PROB.bits))
                v.append(self._row())
                index.append(self.rng.randrange(self.n_max))
            self.values.send({"prob": prob, "v": v, "index": index})

    def bad(self, case):
        return not (1 <= case.d <= self.D and 1 <= case.n <= self.n_max)

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

    async def _collect(self, case, label):
        timeout = 4 * (self.unit.latency + self.beats_of(case)) + 2000
        try:
            beat = await with_timeout(self.output.recv(), timeout * self.domain.period_ns, "ns")
        except SimTimeoutError:
            raise AssertionError(f"{label}: no output within {timeout} cycles (d={case.d} n={case.n}; "
                                 f"request {self.request.pending}, values {self.values.pending} beats "
                                 f"not yet accepted)") from None
        case.beats.append(beat.payload)
        case.out_cycles.append(beat.cycle)

    async def run(self, cases, *, back_to_back=True):
        first = len(self.values.beats)
        if back_to_back:
            for case in cases:
                self.send(case)
        for number, case in enumerate(cases):
            if not back_to_back:
                self.send(case)
            await self._collect(case, f"SEED={runner.seed()} request {number} [{case.label}]")
        await self.values.wait_idle()
        for case in cases:
            beats = self.beats_of(case)
            case.value_cycles = [beat.cycle for beat in self.values.beats[first:first + beats]]
            first += beats

    def check(self, case, label):
        where = f"SEED={runner.seed()} {label} [{case.label}] d={case.d} n={case.n}"
        out, error = self.expected(case)
        got = case.beats[0]
        assert got["error"] == error, f"{where}: error={got['error']}, expected {error}"
        assert got["out"] == out, f"{where}: output\n  got      {got['out']}\n  expected {out}" \
                                  f"\n  prob {case.prob}"

    def check_cycles(self, case, label):
        """Alone and without pauses: the output ``latency`` cycles after the last values beat."""
        if self.bad(case):
            return
        where = f"SEED={runner.seed()} {label} [{case.label}] d={case.d} n={case.n}"
        want = case.value_cycles[-1] + self.unit.latency
        assert case.out_cycles == [want], f"{where}: output at {case.out_cycles}, expected {want} " \
                                          f"(values at {case.value_cycles}, latency {self.unit.latency})"
        gaps = [b - a for a, b in zip(case.value_cycles, case.value_cycles[1:])]
        assert all(g == 1 for g in gaps), f"{where}: value beats at {case.value_cycles}, not one per cycle"

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
        rng = self.rng
        prob = prob if prob is not None else self.probabilities(n, kind or rng.choice(("softmax", "uniform", "ends")))
        v = v if v is not None else [self._row() for _ in range(n)]
        index = sorted(rng.sample(range(self.n_max), min(n, self.n_max)))
        index += [rng.randrange(self.n_max) for _ in range(n - len(index))]
        return PvCase(label, d, n, list(prob), [list(r) for r in v], index)


def edge_cases(bench):
    """Extreme operands, D = 1 and D = max, one V row and n_max rows, bad requests."""
    D, n_max, c, R = bench.D, bench.n_max, bench.code, bench.R
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
        bench.case("bad d=0", 0, mid),
        bench.case("bad d>D", bench.d_limit, mid) if bench.d_limit > D else bench.case("bad d=0 n=1", 0, 1),
        bench.case("bad n=0", D, 0),
        bench.case("bad n=n_max+1", D, n_max + 1) if bench.n_limit > n_max else bench.case("bad n=0 d=1", 1, 0),
    ]


def random_cases(bench, count, *, bad=0.05):
    rng, D, n_max = bench.rng, bench.D, bench.n_max
    cases = []
    for _ in range(count):
        draw = rng.random()
        if draw < bad:
            if rng.random() < 0.5:
                cases.append(bench.case("bad d", rng.choice([0, *range(D + 1, bench.d_limit + 1)]),
                                        rng.randint(0, min(bench.n_limit, 4 * bench.R))))
            else:
                cases.append(bench.case("bad n", rng.randint(0, D),
                                        rng.choice([0, *range(n_max + 1, min(bench.n_limit, n_max + 8) + 1)])))
            continue
        d = rng.choice((D, rng.randint(1, D)))
        n = rng.choice((rng.randint(1, n_max), rng.randint(1, min(n_max, 4 * bench.R)), n_max))
        cases.append(bench.case("random", d, n))
    return cases


async def _bench(dut):
    parameters = runner.params()
    bench = PvBench(dut, parameters["unit"], rng=random.Random(runner.seed()))
    await bench.start()
    return bench, parameters


@cocotb.test()
async def edge_cases_timed(dut):
    """Every edge case alone, no pauses: outputs and cycles exact."""
    bench, _ = await _bench(dut)
    cases = edge_cases(bench)
    for case in cases:
        await bench.run([case], back_to_back=False)
        bench.check(case, "edge")
        bench.check_cycles(case, "edge")
    _checked("edge_cases_timed", cases)


@cocotb.test()
async def random_back_to_back(dut):
    """Random requests queued at once, no pauses: exact, and the value beats one per cycle."""
    bench, parameters = await _bench(dut)
    cases = random_cases(bench, parameters["requests"] // 2, bad=0.0)
    busy0, _ = bench.counters()
    await bench.run(cases)
    for case in cases:
        bench.check(case, "back to back")
    cycles = [c for case in cases for c in case.value_cycles]
    assert cycles == list(range(cycles[0], cycles[0] + len(cycles))), \
        f"SEED={runner.seed()}: value beats of back-to-back requests not one per cycle"
    await bench.domain.cycles(4)
    busy1, _ = bench.counters()
    want = sum(case.d * case.n for case in cases)
    assert busy1 - busy0 == want, f"busy_mac_count grew by {busy1 - busy0}, expected {want}"
    _checked("random_back_to_back", cases)


@cocotb.test()
@cocotb.parametrize(pauses=[(0.3, 0.3, 0.0), (0.0, 0.0, 0.6), (0.5, 0.3, 0.5)])
async def random_pauses(dut, pauses):
    """Random requests back to back with random bubbles on the inputs and backpressure on the output."""
    bench, parameters = await _bench(dut)
    rng = bench.rng
    bench.pauses(*(random_pause(random.Random(rng.random()), p) if p else None for p in pauses))
    cases = random_cases(bench, parameters["requests"] // 6) + edge_cases(bench)
    rng.shuffle(cases)
    await bench.run(cases)
    for case in cases:
        bench.check(case, f"pauses {pauses}")
    _checked("random_pauses", cases)


@cocotb.test()
async def reset_mid_request(dut):
    """``rst`` at a random point of a stream of requests returns the unit to idle; the next is exact."""
    bench, _ = await _bench(dut)
    rng = bench.rng
    checked = []
    for cut in range(RESET_CUTS):
        if cut % 2:
            bench.pauses(output=random_pause(random.Random(rng.random()), 0.7))
        for _ in range(3):
            bench.send(bench.case("cut", bench.D, rng.randint(1, bench.n_max)))
        await bench.domain.cycles(rng.randint(1, 3 * bench.n_max // bench.R + bench.unit.latency))
        await bench.reset()
        busy, active = bench.counters()
        assert (busy, active) == (0, 0), f"counters after reset: busy {busy}, active {active}"
        after = bench.case("after reset", rng.randint(1, bench.D), rng.randint(1, bench.n_max))
        await bench.run([after], back_to_back=False)
        bench.check(after, f"reset cut {cut}")
        bench.check_cycles(after, f"reset cut {cut}")
        checked.append(after)
    _checked("reset_mid_request", checked)


# Only gen.bench_arrays runs this one (it passes the rows to measure).
@cocotb.test(skip="measure" not in runner.params())
async def measure(dut):
    """For gen.bench_arrays: run groups of requests back to back, record cycles and counters."""
    bench, parameters = await _bench(dut)
    results = []
    for group in parameters["measure"]["groups"]:
        cases = [bench.case("bench", group["d"], group["n"], kind="softmax") for _ in range(group["requests"])]
        busy0, active0 = bench.counters()
        await bench.run(cases)
        await bench.domain.cycles(2)
        busy1, active1 = bench.counters()
        for case in cases:
            bench.check(case, "bench")
        results.append({**group, "busy_macs": busy1 - busy0, "active_cycles": active1 - active0,
                        "first_value_cycle": cases[0].value_cycles[0],
                        "last_output_cycle": cases[-1].out_cycles[-1]})
    Path(parameters["measure"]["out"]).write_text(json.dumps(results))
