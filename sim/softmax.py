"""cocotb testbench of the softmax unit (``hw.softmax.softmax.Softmax``) against ``golden.softmax``.

Run through :func:`sim.runner.run` with the unit's constructor arguments in
the parameters (``unit``: ``lanes``, ``n_max``, ``index_bits``), ``rows``
(random rows per run, spread over the tests) and optionally ``model_rows``
(a ``.npz`` of score rows captured from real models, see
:mod:`gen.record_softmax_rows`). Every probability beat and row summary is
compared bit-exact with :func:`golden.softmax.softmax_fx` of the row's kept
scores (:func:`expected`); rows sent alone with no pauses are also timed
against :meth:`Softmax.latency`. A mismatch names the seed, the row's label
and number and actual vs expected; ``SEED=<seed>`` reproduces the run.

:class:`SoftmaxBench` is also what ``gen.bench_softmax`` drives.
"""

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import SimTimeoutError, with_timeout

from golden.formats import SCORE
from golden.softmax import softmax_fx
from hw.softmax.softmax import Softmax
from sim import runner
from sim.bench import StreamBench
from sim.streams import random_pause

__all__ = ["Row", "SoftmaxBench", "expected", "random_rows", "edge_rows", "CHECKED_FILE"]

CHECKED_FILE = "rows_checked.txt"
RESET_CUTS = 16


def _checked(test, rows):
    runner.record_checked(test, len(rows), file=CHECKED_FILE)


@dataclass
class Row:
    """One row: its scores and token indices, sent in beats of ``counts`` (default: full beats)."""
    label: str
    scores: list
    indices: list
    counts: list = None
    beats: list = field(default_factory=list)
    summary: dict = None
    in_cycles: list = field(default_factory=list)
    out_cycles: list = field(default_factory=list)


def expected(row, lanes, n_max):
    """``(beats, summary)`` the unit must give for ``row``: the kept beats' probabilities, counts and indices.

    The unit's input rules: a beat's count is clipped to ``lanes``; a row
    keeps its first ``n_max`` scores and at most ``ceil(n_max / lanes)``
    beats besides its last, which is always kept.
    """
    beats_max = -(-n_max // lanes)
    kept, length, bad, start = [], 0, False, 0
    for number, count in enumerate(row.counts):
        last = number == len(row.counts) - 1
        clipped = min(count, lanes)
        fit = min(clipped, n_max - length)
        write = last or (fit > 0 and len(kept) < beats_max)
        keep = fit if write else 0
        bad |= count > lanes or keep != clipped
        if write:
            kept.append((row.scores[start:start + keep], row.indices[start:start + keep], keep, last))
            length += keep
        start += count
    scores = [s for beat in kept for s in beat[0]]
    probs = [int(p) for p in softmax_fx(np.array(scores, dtype=np.int64))] if scores else []
    beats, at = [], 0
    for _, index, count, last in kept:
        beats.append({"prob": probs[at:at + count] + [0] * (lanes - count), "index": index,
                      "count": count, "last": int(last)})
        at += count
    summary = {"max_prob": max(probs) if probs else 0, "length": length, "error": int(bad or length == 0)}
    return beats, summary


class SoftmaxBench(StreamBench):
    """Drives an emitted ``Softmax``: a ``scores`` source, ``probs`` and ``summary`` sinks."""

    def __init__(self, dut, unit_params, *, rng):
        self.unit = Softmax(**unit_params)
        self.lanes, self.n_max = self.unit.lanes, self.unit.n_max
        self.index_max = (1 << self.unit.index_bits) - 1
        self.count_max = (1 << (self.lanes.bit_length())) - 1   # the count field's largest value
        super().__init__(dut, self.unit, rng=rng, sources=("scores",), sinks=("probs", "summary"))

    def row(self, label, scores, indices=None, counts=None):
        n = len(scores)
        if indices is None:
            indices = [self.rng.randint(0, self.index_max) for _ in range(n)]
        if counts is None:
            counts = [self.lanes] * (n // self.lanes) + ([n % self.lanes] if n % self.lanes or not n else [])
        return Row(label, [int(s) for s in scores], [int(i) for i in indices], list(counts))

    def send(self, row):
        start = 0
        for number, count in enumerate(row.counts):
            width = min(count, self.lanes)
            noise = [self.rng.randint(SCORE.min_int, SCORE.max_int) for _ in range(self.lanes - width)]
            self.scores.send({"score": row.scores[start:start + width] + noise,
                              "index": row.indices[start:start + width] + [0] * (self.lanes - width),
                              "count": count, "last": int(number == len(row.counts) - 1)})
            start += count

    def _timeout(self, row):
        return 400 + 8 * len(row.counts)

    async def _recv(self, sink, row, label, what):
        try:
            return await with_timeout(sink.recv(), self._timeout(row) * self.domain.period_ns, "ns")
        except SimTimeoutError:
            raise AssertionError(f"{label}: no {what} within {self._timeout(row)} cycles "
                                 f"({len(row.beats)} probability beats so far, "
                                 f"{self.scores.pending} score beats not taken)") from None

    async def _collect(self, row, label):
        while True:
            beat = await self._recv(self.probs, row, label, "probability beat")
            row.beats.append(beat.payload)
            row.out_cycles.append(beat.cycle)
            if beat.payload["last"]:
                break
        row.summary = (await self._recv(self.summary, row, label, "summary")).payload

    async def run(self, rows, *, back_to_back=True):
        """Send ``rows`` and collect their outputs (all queued at once if ``back_to_back``)."""
        first = len(self.scores.beats)
        if back_to_back:
            for row in rows:
                self.send(row)
        for number, row in enumerate(rows):
            if not back_to_back:
                self.send(row)
            await self._collect(row, f"SEED={runner.seed()} row {number} [{row.label}]")
        await self.scores.wait_idle()
        for row in rows:
            row.in_cycles = [beat.cycle for beat in self.scores.beats[first:first + len(row.counts)]]
            first += len(row.counts)

    def check(self, row, label):
        where = f"SEED={runner.seed()} {label} [{row.label}] n={len(row.scores)} counts={row.counts}"
        beats, summary = expected(row, self.lanes, self.n_max)
        assert len(row.beats) == len(beats), \
            f"{where}: {len(row.beats)} probability beats, expected {len(beats)}; scores {row.scores}"
        for number, (got, want) in enumerate(zip(row.beats, beats, strict=True)):
            count = want["count"]
            ok = (got["count"] == count and got["last"] == want["last"] and got["prob"] == want["prob"]
                  and got["index"][:count] == want["index"])
            assert ok, (f"{where}: beat {number}\n  got      {got}\n  expected {want}\n"
                        f"  scores {row.scores}")
        assert row.summary == summary, f"{where}: summary {row.summary}, expected {summary}"

    def check_latency(self, row, label):
        """Sent alone, no pauses: first in to first out and last in to last out are ``latency(beats)``.

        Only for a row whose beats are all kept (a cut row's input beats past the cut take no time
        in the later passes).
        """
        if len(row.beats) != len(row.counts):
            return
        want = self.unit.latency(len(row.beats))
        got = (row.out_cycles[0] - row.in_cycles[0], row.out_cycles[-1] - row.in_cycles[-1])
        assert got == (want, want), (f"SEED={runner.seed()} {label} [{row.label}] {len(row.beats)} beats: "
                                     f"latency (first, last) {got}, Softmax.latency gives {want}; "
                                     f"in {row.in_cycles}, out {row.out_cycles}")


def _spread(rng, n, kind):
    lo, hi = SCORE.min_int, SCORE.max_int
    if kind == "logits":            # realistic attention logits, a few units wide (S10.8)
        return [int(round(rng.gauss(0, 3) * 256)) for _ in range(n)]
    if kind == "narrow":
        base = rng.randint(lo, hi - 64)
        return [rng.randint(base, base + 64) for _ in range(n)]
    if kind == "few":
        values = [rng.randint(-4096, 4096) for _ in range(rng.randint(1, 3))]
        return [rng.choice(values) for _ in range(n)]
    if kind == "peaked":            # one large score, the rest far below (saturating differences)
        top = rng.randint(0, n - 1)
        return [rng.randint(lo, hi) if i == top else rng.randint(lo, lo + 5000) for i in range(n)]
    return [rng.randint(lo, hi) for _ in range(n)]


def random_rows(bench, count, *, bad=0.03):
    """``count`` random rows of mixed lengths and spreads; a fraction ``bad`` too long or with bad counts."""
    rng, n_max, lanes = bench.rng, bench.n_max, bench.lanes
    rows = []
    for _ in range(count):
        draw = rng.random()
        n = rng.choice((rng.randint(1, n_max), rng.randint(1, min(n_max, 4 * lanes)), n_max, 1))
        kind = rng.choice(("logits", "logits", "full", "narrow", "few", "peaked"))
        if draw < bad / 2:
            n = rng.randint(n_max + 1, n_max + 2 * lanes + 1)
            rows.append(bench.row(f"too long {kind}", _spread(rng, n, kind)))
        elif draw < bad and lanes < bench.count_max:
            row = bench.row(f"count > lanes {kind}", _spread(rng, n, kind))
            row.counts[rng.randrange(len(row.counts))] = rng.randint(lanes + 1, bench.count_max)
            row.scores += _spread(rng, sum(row.counts) - len(row.scores), kind)
            row.indices += [0] * (sum(row.counts) - len(row.indices))
            rows.append(row)
        else:
            rows.append(bench.row(f"random {kind}", _spread(rng, n, kind)))
    return rows


def edge_rows(bench):
    """Hand-picked rows: lengths at their limits, ties, extremes, the max last, bad rows."""
    rng, n_max, lanes = bench.rng, bench.n_max, bench.lanes
    lo, hi = SCORE.min_int, SCORE.max_int
    mid = min(n_max, 3 * lanes + 1)
    rows = [
        bench.row("one element", [rng.randint(lo, hi)]),
        bench.row("one element min", [lo]),
        bench.row("one element max", [hi]),
        bench.row("all equal", [rng.randint(lo, hi)] * mid),
        bench.row("all equal n_max", [123] * n_max),
        bench.row("n_max random", _spread(rng, n_max, "logits")),
        bench.row("n_max full range", _spread(rng, n_max, "full")),
        bench.row("min and max", [rng.choice((lo, hi)) for _ in range(mid)]),
        bench.row("max last", [lo] * (mid - 1) + [hi]),
        bench.row("max last n_max", _spread(rng, n_max - 1, "logits") + [hi]),
        bench.row("saturating", [hi] + [hi - 4096 - rng.randint(0, 10000) for _ in range(mid - 1)]),
        bench.row("at the clamp", [0] + [-4096 + rng.randint(-2, 2) for _ in range(mid - 1)]),
        bench.row("sorted up", sorted(_spread(rng, mid, "logits"))),
        bench.row("lanes", _spread(rng, min(n_max, lanes), "logits")),
        bench.row("lanes + 1", _spread(rng, min(n_max, lanes + 1), "logits")),
        bench.row("n_max + 1 (cut)", _spread(rng, n_max + 1, "logits")),
        bench.row("2 n_max (cut)", _spread(rng, 2 * n_max, "logits")),
        bench.row("empty row", [], counts=[0]),
    ]
    if lanes > 1:
        rows.append(bench.row("ragged middle beat", _spread(rng, mid, "logits"),
                              counts=[lanes - 1] + [lanes] * ((mid - lanes + 1) // lanes)
                              + ([(mid - lanes + 1) % lanes] if (mid - lanes + 1) % lanes else [])))
    if lanes < bench.count_max:
        row = bench.row("count > lanes", _spread(rng, 2 * lanes + bench.count_max, "logits"),
                        counts=[lanes, bench.count_max, lanes])
        rows.append(row)
    return rows


def model_rows(bench, path):
    """Rows of real attention scores (S10.8 codes) from a ``.npz`` of ``scores`` and ``lengths``."""
    data = np.load(path)
    rows = []
    for number, (scores, n) in enumerate(zip(data["scores"], data["lengths"], strict=True)):
        n = min(int(n), bench.n_max)
        rows.append(bench.row(f"{data['source'][number]}", scores[:n]))
    return rows


async def _bench(dut):
    parameters = runner.params()
    bench = SoftmaxBench(dut, parameters["unit"], rng=random.Random(runner.seed()))
    await bench.start()
    return bench, parameters


@cocotb.test()
async def edge_rows_timed(dut):
    """Every edge row alone, no pauses: outputs exact, latency as Softmax.latency says."""
    bench, _ = await _bench(dut)
    rows = edge_rows(bench)
    for row in rows:
        await bench.run([row], back_to_back=False)
        bench.check(row, "edge")
        bench.check_latency(row, "edge")
    _checked("edge_rows_timed", rows)


@cocotb.test()
async def random_back_to_back(dut):
    """Random rows queued at once, no pauses: outputs exact, and one beat per cycle in steady state."""
    bench, parameters = await _bench(dut)
    rows = random_rows(bench, parameters["rows"] // 2, bad=0.0)
    await bench.run(rows)
    for row in rows:
        bench.check(row, "back to back")
    cycles = bench.scores.beats[-1].cycle - bench.scores.beats[0].cycle + 1
    beats = len(bench.scores.beats)
    assert cycles == beats, (f"SEED={runner.seed()}: {beats} score beats took {cycles} cycles "
                             f"(the unit stalled its input)")
    _checked("random_back_to_back", rows)


@cocotb.test()
@cocotb.parametrize(pauses=[(0.3, 0.0, 0.0), (0.0, 0.5, 0.2), (0.4, 0.4, 0.7)])
async def random_pauses(dut, pauses):
    """Random rows (bad ones too) back to back with bubbles on the input and backpressure on both outputs."""
    bench, parameters = await _bench(dut)
    rng = bench.rng
    bench.pauses(*(random_pause(random.Random(rng.random()), p) if p else None for p in pauses))
    rows = random_rows(bench, parameters["rows"] // 6) + edge_rows(bench)
    rng.shuffle(rows)
    await bench.run(rows)
    for row in rows:
        bench.check(row, f"pauses {pauses}")
    _checked("random_pauses", rows)


@cocotb.test(skip="model_rows" not in runner.params())
async def real_model_rows(dut):
    """Rows of attention scores captured from MiniLM and SmolLM2, back to back with pauses."""
    bench, parameters = await _bench(dut)
    rng = bench.rng
    bench.pauses(*(random_pause(random.Random(rng.random()), 0.2) for _ in range(3)))
    rows = model_rows(bench, parameters["model_rows"])
    await bench.run(rows)
    for row in rows:
        bench.check(row, "real model")
    _checked("real_model_rows", rows)


@cocotb.test()
async def reset_mid_row(dut):
    """``rst`` at a random point (input, passes, output under backpressure): the next row is exact,
    and on time."""
    bench, _ = await _bench(dut)
    rng = bench.rng
    checked = []
    for cut in range(RESET_CUTS):
        n = rng.choice((bench.n_max, rng.randint(1, bench.n_max)))
        if cut % 2:
            bench.pauses(probs=random_pause(random.Random(rng.random()), 0.7))
        for _ in range(rng.randint(1, 3)):
            bench.send(bench.row("cut", _spread(rng, n, "logits")))
        await bench.domain.cycles(rng.randint(1, bench.unit.latency(math.ceil(n / bench.lanes)) + 2 * n))
        await bench.reset()
        after = bench.row("after reset", _spread(rng, rng.randint(1, bench.n_max), "logits"))
        await bench.run([after], back_to_back=False)
        bench.check(after, f"reset cut {cut}")
        bench.check_latency(after, f"reset cut {cut}")
        checked.append(after)
    _checked("reset_mid_row", checked)


@cocotb.test(skip="measure" not in runner.params())
async def measure(dut):
    """For gen.bench_softmax: rows back to back, no pauses; write each row's input and output cycles."""
    bench, parameters = await _bench(dut)
    spec = parameters["measure"]
    rng = bench.rng
    rows = [bench.row("bench", _spread(rng, n, "logits")) for n in spec["lengths"]]
    await bench.run(rows)
    for row in rows[:: max(1, len(rows) // 200)]:
        bench.check(row, "bench")
    Path(spec["out"]).write_text(json.dumps({
        "lengths": spec["lengths"], "beats": [len(r.counts) for r in rows],
        "first_in": [r.in_cycles[0] for r in rows], "last_in": [r.in_cycles[-1] for r in rows],
        "first_out": [r.out_cycles[0] for r in rows], "last_out": [r.out_cycles[-1] for r in rows]}))
