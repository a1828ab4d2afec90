"""cocotb testbench of the top-k engine (``hw.topk.TopKEngine``) against ``golden.topk``.

Run through :func:`sim.runner.run` with the engine's constructor arguments in
the parameters (``engine``: ``n_max``, ``parallelism``, ``score_bits``,
``signed``), ``requests`` (random requests per run, spread over the tests)
and optionally ``engine_class`` (``"module:Class"``, default ``hw.topk:TopKEngine``,
for an engine variant with the same interface).
Every result is compared bit-exact with :func:`golden.topk.topk` and the
scores; with no bubbles and no backpressure the cycles of each request are
compared with :mod:`golden.topk_cycles`, and back to back every request's
beats with its stream model (one engine or several, ``hw.topk:TopKInterleave``
with ``engines`` among the engine's arguments). A mismatch names the seed, the case
label, the request and actual vs expected; ``SEED=<seed>`` reproduces the run.
The result sink also flags a beat withdrawn or changed before it was accepted.

:class:`TopKBench` is also what ``gen.bench`` drives to measure cycles.
"""

import importlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
from cocotb.triggers import SimTimeoutError, with_timeout

# Imported when the simulation starts (not at the first check), so that the model and the
# emitted RTL are as close in time as possible while both are being edited.
from golden import topk_cycles
from sim import runner, topk_cases
from sim.bench import StreamBench
from sim.streams import random_pause
from sim.topk_cases import expected

__all__ = ["Case", "TopKBench", "random_cases", "edge_cases", "expected", "CHECKED_FILE"]

# One line "<cocotb test> <requests checked>" per test, in the run's folder (the
# pytest entry point sums it); the first test of a simulation starts it afresh.
CHECKED_FILE = "requests_checked.txt"
# Requests cut by a reset in ``reset_mid_request``.
RESET_CUTS = 24


def _checked(test, cases):
    runner.record_checked(test, len(cases), file=CHECKED_FILE)


def _engine_class(name):
    """The engine class, ``"module:Class"`` (default ``hw.topk:TopKEngine``)."""
    module, _, cls = (name or "hw.topk:TopKEngine").partition(":")
    return getattr(importlib.import_module(module), cls)


@dataclass
class Case:
    """One request: ``scores`` holds the n scores (random values for a bad n)."""
    label: str
    n: int
    k: int
    scores: list
    # Filled by the bench: result beats, and the cycles of the request beat, score beats, result beats.
    beats: list = field(default_factory=list)
    request_cycle: int = None
    score_cycles: list = field(default_factory=list)
    result_cycles: list = field(default_factory=list)

    @property
    def cycles(self):
        """Cycles from the first score beat accepted to the last result beat, both counted."""
        return self.result_cycles[-1] - self.score_cycles[0] + 1

    def timeline(self):
        return (f"request beat at {self.request_cycle}, score beats at {self.score_cycles}, "
                f"result beats at {self.result_cycles}")


class TopKBench(StreamBench):
    """Drives an emitted ``TopKEngine``: ``request`` and ``scores`` sources, ``result`` sink."""

    def __init__(self, dut, engine_params, *, rng, engine_class=None):
        self.engine = _engine_class(engine_class)(**engine_params)
        self.n_max = self.engine.n_max
        self.lanes = self.engine.lanes
        self.signed = engine_params.get("signed", False)
        bits = engine_params["score_bits"]
        self.lo, self.hi = topk_cases.score_range(bits, self.signed)
        self.n_limit = (1 << self.engine.count_bits) - 1
        super().__init__(dut, self.engine, rng=rng, sources=("request", "scores"), sinks=("result",))

    def send(self, case):
        """Queue the request and score beats of ``case``."""
        self.request.send({"n": case.n, "k": case.k})
        for start in range(0, case.n, self.lanes):
            beat = case.scores[start:start + self.lanes]
            # Lanes past n are don't care: fill them with noise the engine must ignore.
            beat = beat + [self.rng.randint(self.lo, self.hi) for _ in range(self.lanes - len(beat))]
            self.scores.send(beat)

    def _timeout_cycles(self, case):
        # Generous: every quick-select round re-reads at most n scores.
        n = min(case.n, self.n_max)
        return 2000 + 8 * n * (math.ceil(n / self.lanes) + 4)

    async def _collect(self, case, label):
        while True:
            try:
                timeout = self._timeout_cycles(case) * self.domain.period_ns
                beat = await with_timeout(self.result.recv(), timeout, "ns")
            except SimTimeoutError:
                raise AssertionError(f"{label}: no result beat within {self._timeout_cycles(case)} cycles "
                                     f"(n={case.n} k={case.k}; {len(case.beats)} beats so far; request "
                                     f"{self.request.pending} and scores {self.scores.pending} beats "
                                     f"not yet accepted)") from None
            case.beats.append(beat.payload)
            case.result_cycles.append(beat.cycle)
            if beat.payload["last"]:
                return

    async def run(self, cases, *, back_to_back=True):
        """Send ``cases`` and collect their results (all queued at once if ``back_to_back``)."""
        first_request, score_beat = len(self.request.beats), len(self.scores.beats)
        if back_to_back:
            for case in cases:
                self.send(case)
        for number, case in enumerate(cases):
            if not back_to_back:
                self.send(case)
            await self._collect(case, f"SEED={runner.seed()} request {number} [{case.label}]")
        await self.scores.wait_idle()
        for number, case in enumerate(cases):
            case.request_cycle = self.request.beats[first_request + number].cycle
            beats = math.ceil(case.n / self.lanes)
            case.score_cycles = [beat.cycle for beat in self.scores.beats[score_beat:score_beat + beats]]
            score_beat += beats

    def expected(self, case):
        """``(indices, scores, error)`` the engine must return for ``case``."""
        return expected(case.n, case.k, case.scores, self.n_max)

    def check(self, case, label):
        """Assert the result beats of ``case`` against the golden model."""
        where = f"SEED={runner.seed()} {label} [{case.label}] n={case.n} k={case.k}"
        want_index, want_score, want_error = self.expected(case)
        got_index, got_score = [], []
        for number, beat in enumerate(case.beats):
            count = beat["count"]
            assert count <= self.lanes, f"{where}: beat {number} count={count} > P={self.lanes}"
            assert count or len(case.beats) == 1, \
                f"{where}: beat {number} of {len(case.beats)} has count 0 (allowed only as a single beat)"
            assert number == len(case.beats) - 1 or not beat["error"], \
                f"{where}: error=1 on beat {number} of {len(case.beats)} (a flag of the last beat)"
            got_index += beat["index"][:count]
            got_score += beat["score"][:count]
        assert got_index == want_index, \
            f"{where}: indices\n  got      {got_index}\n  expected {want_index}\n  scores {case.scores}"
        assert got_score == want_score, \
            f"{where}: scores\n  got      {got_score}\n  expected {want_score}"
        error = case.beats[-1]["error"]
        assert error == want_error, f"{where}: error={error} on the last beat, expected {want_error}"

    def check_cycles(self, case, label):
        """Assert the measured cycles of ``case`` (sent alone, no pauses) against the golden model."""
        if case.n == 0:
            return
        want = topk_cycles.request_cycles(case.scores, case.k, **self.model_params())
        where = f"SEED={runner.seed()} {label} [{case.label}] n={case.n} k={case.k}"
        assert case.cycles == want, (f"{where}: {case.cycles} cycles, golden/topk_cycles.py predicts {want}; "
                                     f"{case.timeline()}; scores {case.scores}")

    def check_stream(self, cases, label):
        """Assert every request's cycles of a back-to-back run of ``cases`` (no pauses)
        against :func:`golden.topk_cycles.stream_cycles`: its request beat, score beats
        and result beats, from the cycle of the first request beat."""
        timeline = topk_cycles.stream_cycles([(case.scores, case.k) for case in cases],
                                             engines=self.engines, **self.model_params())
        base = cases[0].request_cycle
        for number, (case, want) in enumerate(zip(cases, timeline, strict=True)):
            got = {"request": case.request_cycle - base, "scores": [c - base for c in case.score_cycles],
                   "results": [c - base for c in case.result_cycles]}
            where = (f"SEED={runner.seed()} {label} request {number} [{case.label}] n={case.n} k={case.k} "
                     f"({self.engines} engines)")
            assert got == want, (f"{where}: cycles from the first request beat\n  got      {got}\n"
                                 f"  expected {want} (golden/topk_cycles.py stream_cycles)")

    @property
    def engines(self):
        """Engines behind the interface (1 for a bare ``TopKEngine``)."""
        return getattr(self.engine, "engines", 1)

    def model_params(self):
        return {"n_max": self.n_max, "parallelism": self.lanes}

    def case(self, label, n, k, scores=None):
        if scores is None:
            scores = [self.rng.randint(self.lo, self.hi) for _ in range(n)]
        return Case(label, n, k, list(scores))


def _bounds(bench):
    return {"n_max": bench.n_max, "lanes": bench.lanes, "lo": bench.lo, "hi": bench.hi,
            "n_limit": bench.n_limit}


def edge_cases(bench):
    """Hand-picked cases (:func:`sim.topk_cases.edge_cases`) as :class:`Case` s of ``bench``."""
    return topk_cases.edge_cases(bench.rng, bench.case, **_bounds(bench))


def random_cases(bench, count, *, bad=0.05):
    """``count`` random requests (:func:`sim.topk_cases.random_cases`) as :class:`Case` s of ``bench``."""
    return topk_cases.random_cases(bench.rng, bench.case, count, bad=bad, **_bounds(bench))


async def _bench(dut):
    parameters = runner.params()
    bench = TopKBench(dut, parameters["engine"], rng=random.Random(runner.seed()),
                      engine_class=parameters.get("engine_class"))
    await bench.start()
    return bench, parameters


@cocotb.test()
async def edge_cases_timed(dut):
    """Every edge case alone, no pauses: results and cycles exact."""
    bench, _ = await _bench(dut)
    cases = edge_cases(bench)
    for case in cases:
        await bench.run([case], back_to_back=False)
        bench.check(case, "edge")
        bench.check_cycles(case, "edge")
    _checked("edge_cases_timed", cases)


@cocotb.test()
async def random_timed(dut):
    """Random requests one at a time, no pauses: results and cycles exact."""
    bench, parameters = await _bench(dut)
    cases = random_cases(bench, parameters["requests"] // 4)
    await bench.run(cases, back_to_back=False)
    for case in cases:
        bench.check(case, "random timed")
        bench.check_cycles(case, "random timed")
    _checked("random_timed", cases)


@cocotb.test()
async def random_back_to_back(dut):
    """Random requests and the edge cases queued at once, no pauses: results exact, and every
    request's beats at the cycles of golden/topk_cycles.py's stream model."""
    bench, parameters = await _bench(dut)
    cases = random_cases(bench, parameters["requests"] // 4) + edge_cases(bench)
    bench.rng.shuffle(cases)
    await bench.run(cases)
    for case in cases:
        bench.check(case, "back to back")
    bench.check_stream(cases, "back to back")
    _checked("random_back_to_back", cases)


@cocotb.test()
async def full_rows_back_to_back(dut):
    """Requests of n = n_max back to back (the core's local value pruning), no pauses:
    results and every request's cycles exact (golden/topk_cycles.py stream_cycles)."""
    bench, parameters = await _bench(dut)
    rng = bench.rng
    cases = [bench.case("full row", bench.n_max, rng.randint(1, bench.n_max))
             for _ in range(max(8, parameters["requests"] // 64))]
    await bench.run(cases)
    for case in cases:
        bench.check(case, "full rows")
    bench.check_stream(cases, "full rows")
    _checked("full_rows_back_to_back", cases)


@cocotb.test()
@cocotb.parametrize(
    pauses=[(0.3, 0.3, 0.0), (0.0, 0.0, 0.6), (0.5, 0.2, 0.5)],
)
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
    """``rst`` for one cycle at a random point of a request (input, rounds, final pass, result
    under backpressure) returns the engine to idle: the next request's result and cycles are exact."""
    bench, parameters = await _bench(dut)
    rng = bench.rng
    checked = []
    for cut in range(RESET_CUTS):
        n = rng.choice((bench.n_max, rng.randint(1, bench.n_max)))
        case = bench.case("cut", n, rng.randint(0, n))
        if cut % 2:
            bench.pauses(result=random_pause(random.Random(rng.random()), 0.7))
        span = topk_cycles.request_cycles(case.scores, case.k, **bench.model_params()) + 3 * n // bench.lanes
        bench.send(case)
        await bench.domain.cycles(rng.randint(1, span))
        await bench.reset()
        after = bench.case("after reset", bench.n_max, rng.randint(0, bench.n_max))
        await bench.run([after], back_to_back=False)
        bench.check(after, f"reset cut {cut}")
        bench.check_cycles(after, f"reset cut {cut}")
        checked.append(after)
    _checked("reset_mid_request", checked)


# Only gen.bench runs this one (it passes the points to measure).
@cocotb.test(skip="measure" not in runner.params())
async def measure(dut):
    """For gen.bench: run the requests of ``parameters['measure']`` alone, write their cycles."""
    bench, parameters = await _bench(dut)
    points = []
    for point in parameters["measure"]["points"]:
        cases = [bench.case("bench", point["n"], point["k"], scores) for scores in point["scores"]]
        back_to_back = point.get("back_to_back", False)
        await bench.run(cases, back_to_back=back_to_back)
        for case in cases:
            bench.check(case, "bench")
        measured = {"cycles": [case.cycles for case in cases]}
        if back_to_back:
            base = cases[0].request_cycle
            measured["timeline"] = [{"request": case.request_cycle - base,
                                     "scores": [c - base for c in case.score_cycles],
                                     "results": [c - base for c in case.result_cycles]} for case in cases]
        points.append({**point, **measured})
    Path(parameters["measure"]["out"]).write_text(json.dumps(points))
