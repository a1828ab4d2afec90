"""cocotb testbench of the Q x K unit (``hw.systolic.qk.QkUnit``) against ``golden.qk``.

Run through :func:`sim.runner.run` with the unit's constructor arguments in
the parameters (``unit``) and ``requests`` (random requests per run, spread
over the tests). Every scores beat is compared bit-exact with
``golden.qk.qk_scores(golden.qk.qk_dot(...))`` on the first ``d`` elements;
with no bubbles and no backpressure every beat's cycle is checked against
the unit's ``latency`` and back-to-back key streams against one key beat per
cycle. A mismatch names the seed, the case and actual vs expected;
``SEED=<seed>`` reproduces the run.

:class:`QkBench` is also what ``gen.bench_arrays`` drives to measure utilization.
"""

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import SimTimeoutError, with_timeout

from golden.qk import qk_dot, qk_scores
from golden.quant import max_code
from hw.systolic.qk import QkUnit
from sim import runner
from sim.clock import ClockDomain
from sim.streams import StreamSink, StreamSource, random_pause

__all__ = ["QkCase", "QkBench", "edge_cases", "random_cases", "CHECKED_FILE"]

CHECKED_FILE = "requests_checked.txt"
RESET_CUTS = 12
_checked_tests = []


def _checked(test, cases):
    _checked_tests.append(test)
    with open(CHECKED_FILE, "a" if len(_checked_tests) > 1 else "w") as f:
        f.write(f"{test} {len(cases)}\n")


@dataclass
class QkCase:
    """One request: ``q`` (head_dim codes), ``keys`` (n rows of head_dim codes), ``index`` (n)."""
    label: str
    d: int
    n: int
    q: list
    keys: list
    index: list
    mantissa: int
    shift: int
    beats: list = field(default_factory=list)
    beat_cycles: list = field(default_factory=list)
    key_cycles: list = field(default_factory=list)


class QkBench:
    """Drives an emitted ``QkUnit``: ``query`` and ``keys`` sources, ``scores`` sink."""

    def __init__(self, dut, unit_params, *, rng):
        self.unit = QkUnit(**unit_params)
        self.D, self.L, self.n_max = self.unit.head_dim, self.unit.lanes, self.unit.max_context
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
        for port in (self.query, self.keys, self.scores):
            port.stop()
        await self._reset(cycles)

    async def _reset(self, cycles):
        self.query = StreamSource(self.dut, "query", self.domain, self.unit.query.payload.shape())
        self.keys = StreamSource(self.dut, "keys", self.domain, self.unit.keys.payload.shape())
        await self.domain.reset(cycles)
        self.scores = StreamSink(self.dut, "scores", self.domain, self.unit.scores.payload.shape())

    def pauses(self, query=None, keys=None, scores=None):
        self.query.set_pause(query)
        self.keys.set_pause(keys)
        self.scores.set_pause(scores)

    def counters(self):
        return int(self.dut.busy_mac_count.value), int(self.dut.active_cycle_count.value)

    def beats_of(self, case):
        return math.ceil(case.n / self.L)

    def send(self, case):
        self.query.send({"q": case.q, "d": case.d, "n": case.n, "mantissa": case.mantissa, "shift": case.shift})
        for b in range(self.beats_of(case)):
            rows = case.keys[b * self.L:(b + 1) * self.L]
            index = case.index[b * self.L:(b + 1) * self.L]
            # Lanes past n are don't care: noise the unit must ignore.
            while len(rows) < self.L:
                rows.append(self._row())
                index.append(self.rng.randrange(self.n_max))
            self.keys.send({"k": rows, "index": index})

    def _row(self):
        return [self.rng.randint(-self.code, self.code) for _ in range(self.D)]

    def bad(self, case):
        return not (1 <= case.d <= self.D and 1 <= case.n <= self.n_max)

    def expected(self, case):
        """The scores beats of ``case``: dicts of score/index/count/last/error."""
        if self.bad(case):
            return [{"count": 0, "last": 1, "error": 1}]
        q = np.array([case.q[:case.d]], dtype=np.int64)
        k = np.array([row[:case.d] for row in case.keys], dtype=np.int64)
        scores = [int(s) for s in qk_scores(qk_dot(q, k, self.unit.value_bits), case.mantissa, case.shift)[0]]
        beats = []
        for b in range(self.beats_of(case)):
            lo, hi = b * self.L, min(case.n, (b + 1) * self.L)
            beats.append({"score": scores[lo:hi], "index": case.index[lo:hi], "count": hi - lo,
                          "last": int(hi == case.n), "error": 0})
        return beats

    async def _collect(self, case, label):
        want = len(self.expected(case))
        while len(case.beats) < want:
            timeout = 4 * (self.unit.latency + self.beats_of(case)) + 2000
            try:
                beat = await with_timeout(self.scores.recv(), timeout * self.domain.period_ns, "ns")
            except SimTimeoutError:
                raise AssertionError(f"{label}: no scores beat within {timeout} cycles (d={case.d} "
                                     f"n={case.n}; {len(case.beats)} of {want} beats)") from None
            case.beats.append(beat.payload)
            case.beat_cycles.append(beat.cycle)

    async def run(self, cases, *, back_to_back=True):
        first = len(self.keys.beats)
        if back_to_back:
            for case in cases:
                self.send(case)
        for number, case in enumerate(cases):
            if not back_to_back:
                self.send(case)
            await self._collect(case, f"SEED={runner.seed()} request {number} [{case.label}]")
        await self.keys.wait_idle()
        for case in cases:
            beats = self.beats_of(case)
            case.key_cycles = [beat.cycle for beat in self.keys.beats[first:first + beats]]
            first += beats

    def check(self, case, label):
        where = f"SEED={runner.seed()} {label} [{case.label}] d={case.d} n={case.n} " \
                f"m={case.mantissa} sh={case.shift}"
        want = self.expected(case)
        assert len(case.beats) == len(want), f"{where}: {len(case.beats)} beats, expected {len(want)}"
        for number, (got, exp) in enumerate(zip(case.beats, want, strict=True)):
            count = got["count"]
            got_view = {"count": count, "last": got["last"], "error": got["error"]}
            if "score" in exp:
                got_view.update(score=got["score"][:count], index=got["index"][:count])
            assert got_view == exp, f"{where}: beat {number}\n  got      {got_view}\n  expected {exp}"

    def check_cycles(self, case, label):
        """Alone and without pauses: every scores beat ``latency`` cycles after its key beat."""
        if self.bad(case):
            return
        where = f"SEED={runner.seed()} {label} [{case.label}] d={case.d} n={case.n}"
        want = [c + self.unit.latency for c in case.key_cycles]
        assert case.beat_cycles == want, f"{where}: scores at {case.beat_cycles}, expected {want} " \
                                         f"(keys at {case.key_cycles}, latency {self.unit.latency})"
        gaps = [b - a for a, b in zip(case.key_cycles, case.key_cycles[1:])]
        assert all(g == 1 for g in gaps), f"{where}: key beats at {case.key_cycles}, not one per cycle"

    def case(self, label, d, n, *, q=None, keys=None, mantissa=None, shift=None):
        rng = self.rng
        q = q if q is not None else self._row()
        keys = keys if keys is not None else [self._row() for _ in range(n)]
        index = sorted(rng.sample(range(self.n_max), min(n, self.n_max)))
        index += [rng.randrange(self.n_max) for _ in range(n - len(index))]
        if mantissa is None:
            mantissa = rng.randint(1 << 15, (1 << 16) - 1)
        if shift is None:
            # Around the scale that maps a typical dot product onto the score range, sometimes far off.
            typical = max(1, int(self.code * self.code * math.sqrt(max(d, 1)) / 2))
            shift = max(0, min(62, typical.bit_length() + 16 - 10 + rng.randint(-6, 6)))
            if rng.random() < 0.1:
                shift = rng.randint(0, 62)
        return QkCase(label, d, n, list(q), [list(k) for k in keys], index, mantissa, shift)


def edge_cases(bench):
    """Extreme operands, D = 1 and D = max, one key and n_max keys, bad requests."""
    D, n_max, c, L = bench.D, bench.n_max, bench.code, bench.L
    mid = min(n_max, 3 * L + 1)
    cases = [
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
        bench.case("bad d=0", 0, mid),
        bench.case("bad d>D", bench.d_limit, mid) if bench.d_limit > D else bench.case("bad d=0 n=1", 0, 1),
        bench.case("bad n=0", D, 0),
        bench.case("bad n=n_max+1", D, n_max + 1) if bench.n_limit > n_max else bench.case("bad n=0 d=1", 1, 0),
    ]
    return cases


def random_cases(bench, count, *, bad=0.05):
    rng, D, n_max = bench.rng, bench.D, bench.n_max
    cases = []
    for _ in range(count):
        draw = rng.random()
        if draw < bad:
            if rng.random() < 0.5:
                cases.append(bench.case("bad d", rng.choice([0, *range(D + 1, bench.d_limit + 1)]),
                                        rng.randint(0, min(bench.n_limit, 4 * bench.L))))
            else:
                cases.append(bench.case("bad n", rng.randint(0, D),
                                        rng.choice([0, *range(n_max + 1, min(bench.n_limit, n_max + 8) + 1)])))
            continue
        d = rng.choice((D, rng.randint(1, D)))
        n = rng.choice((rng.randint(1, n_max), rng.randint(1, min(n_max, 4 * bench.L)), n_max))
        cases.append(bench.case("random", d, n))
    return cases


async def _bench(dut):
    parameters = runner.params()
    bench = QkBench(dut, parameters["unit"], rng=random.Random(runner.seed()))
    await bench.start()
    return bench, parameters


@cocotb.test()
async def edge_cases_timed(dut):
    """Every edge case alone, no pauses: scores and cycles exact."""
    bench, _ = await _bench(dut)
    cases = edge_cases(bench)
    for case in cases:
        await bench.run([case], back_to_back=False)
        bench.check(case, "edge")
        bench.check_cycles(case, "edge")
    _checked("edge_cases_timed", cases)


@cocotb.test()
async def random_back_to_back(dut):
    """Random requests queued at once, no pauses: exact, and long requests' keys back to back."""
    bench, parameters = await _bench(dut)
    cases = random_cases(bench, parameters["requests"] // 2)
    await bench.run(cases)
    for case in cases:
        bench.check(case, "back to back")
    # A request of at least `latency` beats frees its bank before the next one ends: no gap.
    cycles = [c for case in cases if not bench.bad(case) for c in case.key_cycles]
    long_run = all(bench.bad(c) or bench.beats_of(c) >= bench.unit.latency for c in cases)
    if long_run:
        assert cycles == list(range(cycles[0], cycles[0] + len(cycles))), "key beats not back to back"
    _checked("random_back_to_back", cases)


@cocotb.test()
async def long_back_to_back(dut):
    """Requests of n_max keys queued at once, no pauses: one key beat every cycle throughout."""
    bench, _ = await _bench(dut)
    cases = [bench.case("long", bench.rng.randint(1, bench.D), bench.n_max) for _ in range(4)]
    busy0, active0 = bench.counters()
    await bench.run(cases)
    for case in cases:
        bench.check(case, "long")
    cycles = [c for case in cases for c in case.key_cycles]
    assert cycles == list(range(cycles[0], cycles[0] + len(cycles))), \
        f"SEED={runner.seed()}: key beats of back-to-back requests not one per cycle: {cycles}"
    await bench.domain.cycles(4)
    busy1, active1 = bench.counters()
    want = sum(case.d * case.n for case in cases)
    assert busy1 - busy0 == want, f"busy_mac_count grew by {busy1 - busy0}, expected {want}"
    assert len(cycles) <= active1 - active0 <= len(cycles) + bench.unit.latency + 4, \
        f"active_cycle_count grew by {active1 - active0} for {len(cycles)} key beats"
    _checked("long_back_to_back", cases)


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
            bench.pauses(scores=random_pause(random.Random(rng.random()), 0.7))
        for _ in range(3):
            bench.send(bench.case("cut", bench.D, rng.randint(1, bench.n_max)))
        await bench.domain.cycles(rng.randint(1, 3 * bench.n_max // bench.L + bench.unit.latency))
        await bench.reset()
        after = bench.case("after reset", rng.randint(1, bench.D), rng.randint(1, bench.n_max))
        busy, active = bench.counters()
        assert (busy, active) == (0, 0), f"counters after reset: busy {busy}, active {active}"
        await bench.run([after], back_to_back=False)
        bench.check(after, f"reset cut {cut}")
        bench.check_cycles(after, f"reset cut {cut}")
        checked.append(after)
    _checked("reset_mid_request", checked)


# Only gen.bench_arrays runs this one (it passes the heads to measure).
@cocotb.test(skip="measure" not in runner.params())
async def measure(dut):
    """For gen.bench_arrays: run groups of requests back to back, record cycles and counters."""
    bench, parameters = await _bench(dut)
    results = []
    for group in parameters["measure"]["groups"]:
        cases = [bench.case("bench", group["d"], group["n"]) for _ in range(group["requests"])]
        busy0, active0 = bench.counters()
        await bench.run(cases)
        await bench.domain.cycles(2)
        busy1, active1 = bench.counters()
        for case in cases:
            bench.check(case, "bench")
        results.append({**group, "busy_macs": busy1 - busy0, "active_cycles": active1 - active0,
                        "first_key_cycle": cases[0].key_cycles[0],
                        "last_score_cycle": cases[-1].beat_cycles[-1]})
    Path(parameters["measure"]["out"]).write_text(json.dumps(results))
