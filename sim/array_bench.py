"""What the Q x K and prob x V testbenches share (sim/qk.py, sim/pv.py).

An array unit takes a request beat, then ``ceil(n / per_beat)`` data beats,
and answers on one output stream; a bad request (``d`` outside
``1..head_dim``, ``n`` outside ``1..max_context``) has its data beats dropped
and answers with ``error``. :class:`ArrayBench` drives the three streams and
the counters; the ``run_*`` coroutines are the cocotb tests both testbenches
run (edge cases timed, random requests with pauses, resets mid-request, the
bench's measurement). A subclass says how a case becomes beats and what the
golden model expects.
"""

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from cocotb.triggers import SimTimeoutError, with_timeout

from sim import runner
from sim.bench import StreamBench
from sim.streams import random_pause

__all__ = ["ArrayCase", "ArrayBench", "random_cases", "bad_cases", "CHECKED_FILE",
           "run_edge_cases", "run_back_to_back", "run_pauses", "run_reset_cuts", "run_measure", "PAUSES"]

# One line "<cocotb test> <requests checked>" per test, in the run's folder (the
# pytest entry point sums it); the first test of a simulation starts it afresh.
CHECKED_FILE = "requests_checked.txt"
RESET_CUTS = 12
#: Pause probabilities of (request, data, output) in the pause tests.
PAUSES = [(0.3, 0.3, 0.0), (0.0, 0.0, 0.6), (0.5, 0.3, 0.5)]


def record_checked(test, cases):
    runner.record_checked(test, len(cases), file=CHECKED_FILE)


@dataclass
class ArrayCase:
    """One request; the subclass adds its operands. Filled by the bench: output beats and cycles."""
    label: str
    d: int
    n: int
    index: list
    beats: list = field(default_factory=list, kw_only=True)
    out_cycles: list = field(default_factory=list, kw_only=True)
    in_cycles: list = field(default_factory=list, kw_only=True)


class ArrayBench(StreamBench):
    """Drives a unit's ``request_port`` and ``data_port`` sources and ``output_port`` sink.

    A subclass sets the port names, ``per_beat`` (rows per data beat) and
    ``code`` (largest operand code), and defines ``send_data(case)``,
    ``output_beats(case)`` (beats expected), ``check(case, label)`` and
    ``case(label, d, n, **operands)``.
    """

    request_port = data_port = output_port = None

    def __init__(self, dut, unit, *, rng):
        # The unit is built for its properties only (the simulator runs its Verilog).
        unit._MustUse__silence = True
        self.unit = unit
        self.D, self.n_max = unit.head_dim, unit.max_context
        self.n_limit = (1 << unit.max_context.bit_length()) - 1
        self.d_limit = (1 << self.D.bit_length()) - 1
        super().__init__(dut, unit, rng=rng, sources={"request": self.request_port, "data": self.data_port},
                         sinks={"output": self.output_port})

    def counters(self):
        return int(self.dut.busy_mac_count.value), int(self.dut.active_cycle_count.value)

    def beats_of(self, case):
        return math.ceil(case.n / self.per_beat)

    def bad(self, case):
        return not (1 <= case.d <= self.D and 1 <= case.n <= self.n_max)

    def row(self):
        return [self.rng.randint(-self.code, self.code) for _ in range(self.D)]

    def indices(self, n):
        """Token indices of ``n`` rows: a sorted surviving-token list (repeats past ``n_max``)."""
        index = sorted(self.rng.sample(range(self.n_max), min(n, self.n_max)))
        return index + [self.rng.randrange(self.n_max) for _ in range(n - len(index))]

    def lanes(self, case, b, *columns):
        """Beat ``b``'s slices of the per-row lists ``columns``, padded with noise past ``n``."""
        lo, hi = b * self.per_beat, (b + 1) * self.per_beat
        out = []
        for values, noise in columns:
            lane = values[lo:hi]
            lane += [noise() for _ in range(self.per_beat - len(lane))]
            out.append(lane)
        return out

    async def _collect(self, case, label):
        want = self.output_beats(case)
        while len(case.beats) < want:
            timeout = 4 * (self.unit.latency + self.beats_of(case)) + 2000
            try:
                beat = await with_timeout(self.output.recv(), timeout * self.domain.period_ns, "ns")
            except SimTimeoutError:
                raise AssertionError(f"{label}: no output beat within {timeout} cycles "
                                     f"(d={case.d} n={case.n}; "
                                     f"{len(case.beats)} of {want} beats; request {self.request.pending} and "
                                     f"data {self.data.pending} beats not yet accepted)") from None
            case.beats.append(beat.payload)
            case.out_cycles.append(beat.cycle)

    async def run(self, cases, *, back_to_back=True):
        """Send ``cases`` and collect their outputs (all queued at once if ``back_to_back``)."""
        first = len(self.data.beats)
        if back_to_back:
            for case in cases:
                self.send(case)
        for number, case in enumerate(cases):
            if not back_to_back:
                self.send(case)
            await self._collect(case, f"SEED={runner.seed()} request {number} [{case.label}]")
        await self.data.wait_idle()
        for case in cases:
            beats = self.beats_of(case)
            case.in_cycles = [beat.cycle for beat in self.data.beats[first:first + beats]]
            first += beats

    def send(self, case):
        self.send_request(case)
        for b in range(self.beats_of(case)):
            self.data.send(self.data_beat(case, b))

    def check_cycles(self, case, label):
        """Alone and without pauses: data beats one per cycle, the last output ``latency`` after the last."""
        if self.bad(case):
            return
        where = f"SEED={runner.seed()} {label} [{case.label}] d={case.d} n={case.n}"
        gaps = [b - a for a, b in zip(case.in_cycles, case.in_cycles[1:], strict=False)]
        assert all(g == 1 for g in gaps), f"{where}: data beats at {case.in_cycles}, not one per cycle"
        want = case.in_cycles[-1] + self.unit.latency
        assert case.out_cycles[-1] == want, (f"{where}: outputs at {case.out_cycles}, the last expected "
                                             f"at {want} (data at {case.in_cycles}, "
                                             f"latency {self.unit.latency})")


def bad_cases(bench):
    """Bad requests: d = 0, d above head_dim, n = 0, n above max_context (where the fields hold them)."""
    D, n_max, mid = bench.D, bench.n_max, min(bench.n_max, 3 * bench.per_beat + 1)
    return [
        bench.case("bad d=0", 0, mid),
        bench.case("bad d>D", bench.d_limit, mid) if bench.d_limit > D else bench.case("bad d=0 n=1", 0, 1),
        bench.case("bad n=0", D, 0),
        bench.case("bad n=n_max+1", D, n_max + 1) if bench.n_limit > n_max
        else bench.case("bad n=0 d=1", 1, 0),
    ]


def random_cases(bench, count, *, bad=0.05):
    """``count`` random requests of every size, a fraction ``bad`` of them bad."""
    rng, D, n_max, per_beat = bench.rng, bench.D, bench.n_max, bench.per_beat
    cases = []
    for _ in range(count):
        if rng.random() < bad:
            if rng.random() < 0.5:
                cases.append(bench.case("bad d", rng.choice([0, *range(D + 1, bench.d_limit + 1)]),
                                        rng.randint(0, min(bench.n_limit, 4 * per_beat))))
            else:
                too_many = range(n_max + 1, min(bench.n_limit, n_max + 8) + 1)
                cases.append(bench.case("bad n", rng.randint(0, D), rng.choice([0, *too_many])))
            continue
        d = rng.choice((D, rng.randint(1, D)))
        n = rng.choice((rng.randint(1, n_max), rng.randint(1, min(n_max, 4 * per_beat)), n_max))
        cases.append(bench.case("random", d, n))
    return cases


async def make_bench(dut, bench_class):
    parameters = runner.params()
    bench = bench_class(dut, parameters["unit"], rng=random.Random(runner.seed()))
    await bench.start()
    return bench, parameters


async def run_edge_cases(dut, bench_class, edge_cases):
    """Every edge case alone, no pauses: outputs and cycles exact."""
    bench, _ = await make_bench(dut, bench_class)
    cases = edge_cases(bench)
    for case in cases:
        await bench.run([case], back_to_back=False)
        bench.check(case, "edge")
        bench.check_cycles(case, "edge")
    record_checked("edge_cases_timed", cases)


async def run_back_to_back(dut, bench_class, cases_of, *, gapless):
    """Requests queued at once, no pauses: exact; data beats one per cycle if ``gapless``;
    ``busy_mac_count`` grows by ``d`` per row."""
    bench, parameters = await make_bench(dut, bench_class)
    cases = cases_of(bench, parameters["requests"])
    busy0, _ = bench.counters()
    await bench.run(cases)
    for case in cases:
        bench.check(case, "back to back")
    if gapless:
        cycles = [c for case in cases for c in case.in_cycles]
        assert cycles == list(range(cycles[0], cycles[0] + len(cycles))), \
            f"SEED={runner.seed()}: data beats of back-to-back requests not one per cycle: {cycles}"
    await bench.domain.cycles(4)
    busy1, _ = bench.counters()
    want = sum(case.d * case.n for case in cases if not bench.bad(case))
    assert busy1 - busy0 == want, f"busy_mac_count grew by {busy1 - busy0}, expected {want}"
    return bench, cases


async def run_pauses(dut, bench_class, edge_cases, pauses):
    """Random requests back to back with random bubbles on the inputs and backpressure on the output."""
    bench, parameters = await make_bench(dut, bench_class)
    rng = bench.rng
    bench.pauses(*(random_pause(random.Random(rng.random()), p) if p else None for p in pauses))
    cases = random_cases(bench, parameters["requests"] // 6) + edge_cases(bench)
    rng.shuffle(cases)
    await bench.run(cases)
    for case in cases:
        bench.check(case, f"pauses {pauses}")
    record_checked("random_pauses", cases)


async def run_reset_cuts(dut, bench_class):
    """``rst`` at a random point of a stream of requests returns the unit to idle (counters at 0);
    the next request is exact, in output and cycles."""
    bench, _ = await make_bench(dut, bench_class)
    rng = bench.rng
    checked = []
    for cut in range(RESET_CUTS):
        if cut % 2:
            bench.pauses(output=random_pause(random.Random(rng.random()), 0.7))
        for _ in range(3):
            bench.send(bench.case("cut", bench.D, rng.randint(1, bench.n_max)))
        await bench.domain.cycles(rng.randint(1, 3 * bench.n_max // bench.per_beat + bench.unit.latency))
        await bench.reset()
        busy, active = bench.counters()
        assert (busy, active) == (0, 0), f"counters after reset: busy {busy}, active {active}"
        after = bench.case("after reset", rng.randint(1, bench.D), rng.randint(1, bench.n_max))
        await bench.run([after], back_to_back=False)
        bench.check(after, f"reset cut {cut}")
        bench.check_cycles(after, f"reset cut {cut}")
        checked.append(after)
    record_checked("reset_mid_request", checked)


async def run_measure(dut, bench_class):
    """For gen.bench_arrays: groups of requests back to back; their counters and span to a JSON file."""
    bench, parameters = await make_bench(dut, bench_class)
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
                        "first_in_cycle": cases[0].in_cycles[0], "last_out_cycle": cases[-1].out_cycles[-1]})
    Path(parameters["measure"]["out"]).write_text(json.dumps(results))
