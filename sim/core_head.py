"""cocotb testbench of the head datapath (``hw.core.HeadDatapath``) against ``golden.head``.

Run through :func:`sim.runner.run` with the preset name (``preset``) and the
number of random jobs (``jobs``) in the parameters. The DRAM is the fetcher
testbench's :class:`sim.fetcher.AxiMemory` (cocotbext-axi's ``AxiRamRead``
with a random latency per burst, error words and an AR log), holding each
job's Q, K and V codes packed as planes by ``golden.quant.pack_kv`` (rows of
``head_dim`` elements, zero-padded past ``d``). Random bubbles on ``job``
and ``alive``, random backpressure on ``out_rows``, ``importance`` and
``result``, random AR/R stalls.

Checks per job, bit for bit against ``golden.head.head_job``: every output
row (number, codes, re-fetch flag, V rows kept, ``last``), every token's
column sum, the head importance and every traffic and work counter; the
error code of bad jobs (which give no rows), and that the next job runs
exact. A mismatch names the seed and the job; ``SEED=<seed>`` reproduces it.
"""

import json
import logging
import random
from dataclasses import dataclass

import cocotb
import numpy as np
from cocotb.triggers import SimTimeoutError, with_timeout

from golden.fetch import Status
from golden.head import HeadError, cycles_floor, head_job, job_error
from golden.pruning import value_keep_code
from golden.qk import score_multiplier
from golden.quant import pack_kv, quant_scale, quantize, row_bytes
from hw.core import HeadDatapath
from hw.core.layouts import COUNTERS
from sim import runner
from sim.axi_models import dram_window
from sim.clock import ClockDomain
from sim.fetcher import AxiMemory
from sim.streams import StreamSink, StreamSource, random_pause

__all__ = ["HeadBench", "Job", "CHECKED_FILE", "MEASURED_FILE"]

runner.allow_cocotbext_deprecations()

# One line "<cocotb test> <jobs checked> <rows checked>" per test, in the run's folder.
CHECKED_FILE = "jobs_checked.txt"
_checked_tests = []


# The counters of every good job, one JSON object a line (read by gen.bench_head).
MEASURED_FILE = "jobs_measured.jsonl"


def _checked(test, jobs, rows, bench):
    _checked_tests.append(test)
    mode = "a" if len(_checked_tests) > 1 else "w"
    with open(CHECKED_FILE, mode) as f:
        f.write(f"{test} {jobs} {rows}\n")
    with open(MEASURED_FILE, mode) as f:
        f.writelines(json.dumps({"test": test, **m}) + "\n" for m in bench.measured)


@dataclass
class Job:
    """One job: its fields, alive list, codes, and what golden answers (None for a bad job)."""
    label: str
    fields: dict
    alive: list
    error: HeadError = HeadError.OK
    fetch_status: Status = Status.OK
    want: dict = None


class HeadBench:
    """Drives an emitted ``HeadDatapath``: ``job`` / ``alive`` sources, three sinks, the AXI memory."""

    def __init__(self, dut, cfg, *, rng):
        self.cfg = cfg
        self.head = HeadDatapath(config=cfg)
        self.head._MustUse__silence = True
        self.rng = rng
        self.dut = dut
        self.domain = ClockDomain(dut)
        self.size, _ = dram_window(cfg)
        self.memory = AxiMemory(dut, self.domain, size=self.size, rng=random.Random(rng.random()))
        self.memory.ram.log.setLevel(logging.WARNING)
        self.data_bytes = self.memory.data_bytes
        self._next_addr = 0
        self.measured = []      # counters of every good job checked

    async def start(self):
        h = self.head
        self.domain.start()
        self.job = StreamSource(self.dut, "job", self.domain, h.job.p.shape())
        self.alive = StreamSource(self.dut, "alive", self.domain, h.alive.p.shape())
        await self.domain.reset(2)
        self.memory.after_reset()
        self.out_rows = StreamSink(self.dut, "out_rows", self.domain, h.out_rows.p.shape())
        self.importance = StreamSink(self.dut, "importance", self.domain, h.importance.p.shape())
        self.result = StreamSink(self.dut, "result", self.domain, h.result.p.shape())

    def pauses(self, *, inputs=0.0, outputs=0.0, axi=0.0, latency=(1, 1)):
        """Random bubbles on the inputs, backpressure on the outputs, AR/R stalls, burst latency."""
        def gen(p):
            return random_pause(random.Random(self.rng.random()), p) if p else None
        self.job.set_pause(gen(inputs))
        self.alive.set_pause(gen(inputs))
        for sink in (self.out_rows, self.importance, self.result):
            sink.set_pause(gen(outputs))
        self.memory.pauses(gen(axi), gen(axi))
        self.memory.latency = latency

    # ---- jobs --------------------------------------------------------------------------------
    def _place(self, raw):
        """Write ``raw`` bytes at the next free bus-aligned address (sometimes across a 4 KB page)."""
        w = self.data_bytes
        if self.rng.random() < 0.2:
            # Just below the next page, never back over data placed already.
            jump = (self._next_addr // 4096 + 1) * 4096 - w * self.rng.randint(1, 3)
            self._next_addr = max(self._next_addr, jump)
        addr = -(-self._next_addr // w) * w
        # A wrap would overwrite a job not yet checked: batches of jobs start at 0 (free_memory).
        assert addr + len(raw) + 4096 <= self.size, \
            f"the bench's {self.size} bytes of memory are full: send fewer jobs before checking them"
        self.memory.write(addr, raw)
        self._next_addr = addr + len(raw)
        return addr

    def free_memory(self):
        """Place the next job's data at address 0 again: every job sent so far has been checked."""
        self._next_addr = 0

    def has_room(self, *, keys, rows):
        """Whether a job of at most ``keys`` keys and ``rows`` query rows still fits the memory."""
        row = -(-self.cfg.head_dim * max(self.cfg.msb_bits, self.cfg.lsb_bits) // 8)
        planes = 2 * (rows + 2 * keys) * row + 6 * (4096 + self.data_bytes)
        return self._next_addr + planes + 4096 <= self.size

    def make_job(self, label, *, lk, lq, d=None, causal=False, density=0.8, keep=1.0, refetch="some",
                 alive=None):
        """A good job of random data: ``refetch`` "none", "some" (about half the rows) or "all"."""
        cfg, rng = self.cfg, self.rng
        D = cfg.head_dim
        d = D if d is None else d
        nrng = np.random.default_rng(rng.getrandbits(32))
        x = {name: nrng.normal(size=(rows, d)) * nrng.uniform(0.5, 3.0)
             for name, rows in (("q", lq), ("k", lk), ("v", lk))}
        sq, sk, sv = (quant_scale(x[n], cfg.value_bits) for n in "qkv")
        codes = {"q": quantize(x["q"], sq, cfg.value_bits), "k": quantize(x["k"], sk, cfg.value_bits),
                 "v": quantize(x["v"], sv, cfg.value_bits)}
        m, sh = score_multiplier(sq, sk, d)
        if alive is None:
            alive = sorted(j for j in range(lk) if rng.random() < density)
        keep_code = value_keep_code(keep)
        fields = {"lk": lk, "lq": lq, "d": d, "causal": int(causal), "mantissa": m, "shift": sh,
                  "value_keep": keep_code}
        args = dict(q=codes["q"], k=codes["k"], v=codes["v"], m=m, sh=sh, alive=alive, causal=causal,
                    value_keep_code=keep_code)
        threshold = {"none": 0, "all": 1 << 15}.get(refetch)
        if threshold is None:
            first = head_job(cfg, **args, threshold_code=0)
            maxp = sorted(int(p) for p in first["max_prob"][first["seen"]]) or [0]
            threshold = maxp[len(maxp) // 2]
        fields["threshold"] = threshold
        want = head_job(cfg, **args, threshold_code=threshold)
        for name in "qkv":
            padded = np.zeros((codes[name].shape[0], D), dtype=np.int64)
            padded[:, :d] = codes[name]
            msb, lsb = pack_kv(padded, cfg.msb_bits, cfg.lsb_bits)
            fields[f"{name}_msb"] = self._place(msb.tobytes())
            fields[f"{name}_lsb"] = self._place(lsb.tobytes())
        return Job(label, fields, list(alive), want=want)

    def bad_job(self, label, error, *, fetch_status=Status.OK, **fields):
        """A job refused with ``error``: ``fields`` override a small good job's."""
        job = self.make_job(label, lk=8, lq=4, refetch="none", alive=[0, 2, 3, 5, 6])
        job.fields.update({k: v for k, v in fields.items() if k != "alive"})
        job.alive = fields.get("alive", job.alive)
        f = job.fields
        if error != HeadError.FETCH:
            got = job_error(self.cfg, d=f["d"], lk=f["lk"], lq=f["lq"], alive=job.alive)
            assert got == error, f"bad job {label}: golden says {got.name}, not {error.name}"
        job.error, job.fetch_status, job.want = error, fetch_status, None
        return job

    def send(self, job):
        self.job.send(job.fields)
        if not job.alive:
            self.alive.send({"index": 0, "last": 1, "none": 1})
        for n, index in enumerate(job.alive):
            self.alive.send({"index": index, "last": int(n == len(job.alive) - 1), "none": 0})

    def _timeout(self, job):
        f = job.fields
        lat = self.memory.latency[1]
        return 20000 + f["lq"] * (60 * f["lk"] + 400 + 12 * lat)

    async def run(self, jobs, *, label):
        """Send ``jobs`` back to back; check each against golden. Returns the rows checked."""
        for job in jobs:
            self.send(job)
        checked = 0
        for n, job in enumerate(jobs):
            where = f"SEED={runner.seed()} {label} job {n} [{job.label}]"
            try:
                timeout = self._timeout(job) * self.domain.period_ns
                result = await with_timeout(self.result.recv(), timeout, "ns")
            except SimTimeoutError:
                raise AssertionError(f"{where}: no result within {self._timeout(job)} cycles "
                                     f"({len(self.out_rows.beats)} rows so far)") from None
            rows, imps = [], []
            while not self.out_rows.empty():
                rows.append((await self.out_rows.recv()).payload)
            while not self.importance.empty():
                imps.append((await self.importance.recv()).payload)
            checked += self.check(job, result.payload, rows, imps, where)
        return checked

    def check(self, job, res, rows, imps, where):
        cfg, f = self.cfg, job.fields
        where = f"{where} lk={f['lk']} lq={f['lq']} d={f['d']} causal={f['causal']} alive={len(job.alive)}"
        assert res["error"] == job.error.value, \
            f"{where}: error {HeadError(res['error']).name}, expected {job.error.name}"
        if job.want is None:
            assert res["fetch_status"] == job.fetch_status.value, \
                f"{where}: fetch status {Status(res['fetch_status']).name}, expected {job.fetch_status.name}"
            assert not rows and not imps, \
                f"{where}: a refused job gave {len(rows)} rows, {len(imps)} importances"
            return 0
        want = job.want
        assert res["fetch_status"] == Status.OK.value, f"{where}: fetch status {res['fetch_status']}"
        assert len(rows) == f["lq"], f"{where}: {len(rows)} rows, expected {f['lq']}"
        d = f["d"]
        for i, row in enumerate(rows):
            out = want["out"][i].tolist() + [0] * (cfg.head_dim - d)
            got = {k: row[k] for k in ("row", "refetch", "kept", "last", "error")}
            exp = {"row": i, "refetch": int(want["refetch"][i]), "kept": int(want["kept"][i]),
                   "last": int(i == f["lq"] - 1), "error": 0}
            assert got == exp, f"{where}: row {i}: {got}, expected {exp}"
            assert row["out"] == out, f"{where}: row {i} codes\n  got      {row['out']}\n  expected {out}"
        got_imp = [(b["token"], b["importance"]) for b in imps if not b["none"]]
        exp_imp = list(zip(job.alive, [int(x) for x in want["importance"]], strict=True))
        assert got_imp == exp_imp, f"{where}: importances\n  got      {got_imp}\n  expected {exp_imp}"
        assert imps and imps[-1]["last"] and sum(b["last"] for b in imps) == 1, f"{where}: importance last"
        assert res["head_importance"] == want["head_importance"], \
            f"{where}: head importance {res['head_importance']}, expected {want['head_importance']}"
        counters = res["counters"]
        exp = dict(want["counters"])
        exp["dram_bytes_q"] = f["lq"] * (row_bytes(cfg.head_dim, cfg.msb_bits) + row_bytes(cfg.head_dim,
                                                                                          cfg.lsb_bits))
        for name, value in exp.items():
            assert counters[name] == value, f"{where}: counter {name} = {counters[name]}, expected {value}"
        phases = sum(counters[n] for n in ("cycles_fetch", "cycles_score", "cycles_select", "cycles_pv"))
        assert 0 < phases <= counters["cycles"], f"{where}: cycle counters {counters}"
        dram_bytes = sum(v for k, v in exp.items() if k.startswith("dram_bytes_"))
        floor = cycles_floor(cfg, dram_bytes=dram_bytes, alive=job.alive, lq=f["lq"],
                             causal=bool(f["causal"]), lk=f["lk"], refetch=want["refetch"], kept=want["kept"])
        assert counters["cycles"] >= floor, f"{where}: {counters['cycles']} cycles, below the floor {floor}"
        self.measured.append({"label": job.label, "lk": f["lk"], "lq": f["lq"], "alive": len(job.alive),
                              "cycles_floor": floor, **counters})
        assert set(counters) == set(COUNTERS)
        return len(rows)


#: Random jobs sent back to back (at most) before they are checked and their memory reused.
_BATCH = 16
#: Keys of a random job at most.
_MAX_KEYS = 48


def random_jobs(bench, count):
    """Random good jobs: summarisation (causal or not), generation, re-fetch none/some/all, value keep."""
    cfg, rng = bench.cfg, bench.rng
    top = min(cfg.max_context, _MAX_KEYS)
    jobs = []
    for n in range(count):
        kind = rng.choice(["summarise", "causal", "generate"])
        lk = rng.randint(1, top)
        lq = 1 if kind == "generate" else rng.randint(1, min(lk, 12))
        d = cfg.head_dim if rng.random() < 0.7 else rng.randint(1, cfg.head_dim)
        keep = rng.choice([1.0, 0.5, 0.3, 0.9])
        refetch = rng.choice(["none", "some", "some", "all"])
        density = rng.choice([1.0, 0.7, 0.3])
        jobs.append(bench.make_job(f"{n} {kind} keep {keep} refetch {refetch}", lk=lk, lq=lq, d=d,
                                   causal=kind == "causal", density=density, keep=keep, refetch=refetch))
    return jobs


async def _bench(dut):
    params = runner.params()
    cfg = runner.config()
    bench = HeadBench(dut, cfg, rng=random.Random(runner.seed()))
    await bench.start()
    return bench, params


@cocotb.test()
async def edge_jobs(dut):
    """Small and edge jobs alone: one key, no alive key, every key pruned for early rows, full context."""
    bench, _ = await _bench(dut)
    cfg = bench.cfg
    jobs = [bench.make_job("one key", lk=1, lq=1),
            bench.make_job("no alive key", lk=6, lq=3, alive=[]),
            bench.make_job("causal, early rows see nothing", lk=10, lq=10, causal=True, alive=[6, 7, 9]),
            bench.make_job("generation", lk=20, lq=1, keep=0.5, refetch="all"),
            bench.make_job("full context", lk=cfg.max_context, lq=2, keep=0.5, refetch="some")]
    rows = 0
    for job in jobs:
        rows += await bench.run([job], label="edge alone")
    _checked("edge_jobs", len(jobs), rows, bench)


@cocotb.test()
@cocotb.parametrize(pauses=[(0.0, 0.0, 0.0, (1, 1)), (0.3, 0.4, 0.3, (1, 30))])
async def random_stream(dut, pauses):
    """Random jobs back to back: (input bubbles, output backpressure, AXI stalls, burst latency)."""
    bench, params = await _bench(dut)
    inputs, outputs, axi, latency = pauses
    bench.pauses(inputs=inputs, outputs=outputs, axi=axi, latency=latency)
    # Batches whose data fits the bench's memory together.
    count, rows, done, batch = params["jobs"] // 2, 0, 0, 0
    top = min(bench.cfg.max_context, _MAX_KEYS)
    while done < count:
        bench.free_memory()
        jobs = []
        while done + len(jobs) < count and len(jobs) < _BATCH and bench.has_room(keys=top, rows=12):
            jobs += random_jobs(bench, 1)
        rows += await bench.run(jobs, label=f"random {pauses} batch {batch}")
        done, batch = done + len(jobs), batch + 1
    _checked("random_stream", count, rows, bench)


@cocotb.test()
async def bad_jobs(dut):
    """Every refusal (and a misaligned base, an AXI error) between good jobs: each next job runs exact."""
    bench, _ = await _bench(dut)
    cfg = bench.cfg
    D, MC = cfg.head_dim, cfg.max_context
    bench.pauses(inputs=0.2, outputs=0.2, axi=0.2, latency=(1, 10))
    bad = [bench.bad_job("d = 0", HeadError.D_RANGE, d=0),
           bench.bad_job("d > head_dim", HeadError.D_RANGE, d=D + 1),
           bench.bad_job("lk = 0", HeadError.LK_RANGE, lk=0),
           bench.bad_job("lk > max_context", HeadError.LK_RANGE, lk=MC + 1),
           bench.bad_job("lq = 0", HeadError.LQ_RANGE, lq=0),
           bench.bad_job("lq > lk", HeadError.LQ_RANGE, lq=9),
           bench.bad_job("alive index >= lk", HeadError.ALIVE_RANGE, alive=[1, 3, 8]),
           bench.bad_job("alive not ascending", HeadError.ALIVE_ORDER, alive=[1, 3, 3, 5]),
           bench.bad_job("alive descending", HeadError.ALIVE_ORDER, alive=[5, 2]),
           bench.bad_job("misaligned K base", HeadError.FETCH, fetch_status=Status.MISALIGNED, k_msb=1),
           bench.bad_job("misaligned V base", HeadError.FETCH, fetch_status=Status.MISALIGNED,
                         v_lsb=bench.data_bytes // 2)]
    # An AXI slave error on a word of a K MSB plane.
    axi_bad = bench.bad_job("AXI SLVERR in K", HeadError.FETCH, fetch_status=Status.SLVERR)
    bench.memory.errors[axi_bad.fields["k_msb"] // bench.data_bytes * bench.data_bytes] = Status.SLVERR
    bad.append(axi_bad)
    # The misaligned V LSB base is read only by a re-fetched row.
    bad[-2].fields["threshold"] = 1 << 15
    jobs = []
    for job in bad:
        jobs += [job, bench.make_job(f"good after {job.label}", lk=12, lq=5, causal=True, keep=0.5)]
    rows = await bench.run(jobs, label="bad jobs")
    _checked("bad_jobs", len(jobs), rows, bench)


@cocotb.test(skip="measure" not in runner.params())
async def measure(dut):
    """Benchmark shapes (``gen.bench_head``): each job alone, checked, its counters written."""
    bench, params = await _bench(dut)
    bench.pauses(latency=tuple(params.get("latency", (10, 10))))
    jobs, rows = 0, 0
    for shape in params["measure"]:
        bench.free_memory()
        job = bench.make_job(shape["label"], lk=shape["lk"], lq=shape["lq"], causal=shape["causal"],
                             density=shape["density"], keep=shape["keep"], refetch=shape["refetch"])
        rows += await bench.run([job], label="measure")
        jobs += 1
    _checked("measure", jobs, rows, bench)
