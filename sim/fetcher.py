"""cocotb testbench of the fetcher (``hw.fetcher.Fetcher``) against ``golden.fetch``.

Run through :func:`sim.runner.run` with the fetcher's constructor arguments in
the parameters (``fetcher``) and ``requests`` (random requests per run). The
DRAM is cocotbext-axi's ``AxiRamRead``, loaded with golden-packed K planes
(``golden.quant.pack_kv``: MSB and LSB planes in separate regions) at a low
address, across 4 KB boundaries and at the top of the address space. Its
read handling is wrapped (:class:`AxiMemory`): each burst's data waits a
random latency after its AR handshake (bursts overlap, as in a pipelined
DRAM), words of chosen regions answer SLVERR or DECERR, and every AR
handshake is logged. Random stalls on AR and R (the model's pause
generators) and backpressure on the output stream.

Checks: every output beat against ``golden.fetch.fetch`` (rows, order,
codes, status, ``last``, terminators); the AR log equal to the bursts golden
plans (so no word outside the requested rows' planes is read) and every
burst within the AXI4 rules; the counters. A mismatch names the seed and the
request; ``SEED=<seed>`` reproduces the run.

``measure`` (for ``gen.bench_fetcher``) streams index lists back to back and
writes the bytes per cycle achieved.
"""

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge, SimTimeoutError, with_timeout
from cocotbext.axi import AxiRamRead, AxiReadBus

from golden.fetch import AXI_BOUNDARY, AXI_MAX_BEATS, Plane, Status, fetch, plan, refetch_rows
from golden.quant import pack_kv
from hw.fetcher import Fetcher
from sim import runner
from sim.clock import ClockDomain
from sim.streams import StreamSink, StreamSource, random_pause

__all__ = ["AxiMemory", "FetcherBench", "Request", "CHECKED_FILE"]

runner.allow_cocotbext_deprecations()

# One line "<cocotb test> <requests checked>" per test, in the run's folder.
CHECKED_FILE = "requests_checked.txt"


def _checked(test, count):
    runner.record_checked(test, count, file=CHECKED_FILE)


class AxiMemory:
    """cocotbext-axi's AXI4 read RAM with per-burst latency, error words and an AR log.

    ``latency`` is ``(lo, hi)``: each burst's first beat is offered no
    earlier than a random ``lo..hi`` cycles after its AR handshake. ``errors``
    maps word addresses to ``Status.SLVERR`` / ``Status.DECERR``.
    """

    def __init__(self, dut, domain, *, size, rng):
        self.domain = domain
        self.dut = dut
        self.rng = rng
        self.ram = AxiRamRead(AxiReadBus.from_prefix(dut, "m_axi", bus_separator="__"), dut.clk, dut.rst,
                              size=size)
        # The model accepts two bursts ahead by default; a DRAM controller takes many.
        self.ram.ar_channel.queue_occupancy_limit = 512
        self.data_bytes = self.ram.byte_lanes
        self.latency = (1, 1)
        self.errors = {}
        self.mirror = np.zeros(size, np.uint8)
        self.log = []            # (cycle, address, len, size, burst) of every AR handshake
        self._served = 0         # bursts whose first beat the model has started
        self._beat = 0           # beats of the current burst already read
        self._length = 0
        self._decerr = False
        self.ram._read = self._read
        send = self.ram.r_channel.send

        async def send_with_resp(beat):
            if self._decerr:
                beat.rresp = 3
            await send(beat)
        self.ram.r_channel.send = send_with_resp
        cocotb.start_soon(self._watch_ar())

    def write(self, address, data):
        data = bytes(data)
        self.ram.write(address, data)
        self.mirror[address:address + len(data)] = np.frombuffer(data, np.uint8)

    def pauses(self, ar=None, r=None):
        """Pause generators of AR (``arready`` low) and R (``rvalid`` low); None: never pause."""
        for channel, pause in ((self.ram.ar_channel, ar), (self.ram.r_channel, r)):
            channel.set_pause_generator(pause)
            if pause is None:
                # A generator stopped in a pause leaves the channel paused.
                channel.pause = False

    def after_reset(self):
        """The model dropped its bursts: the next handshake starts a new burst."""
        self._served = len(self.log)
        self._beat = 0

    async def _watch_ar(self):
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            if int(dut.rst.value) or not (int(dut.m_axi__arvalid.value) and int(dut.m_axi__arready.value)):
                continue
            self.log.append((self.domain.cycle(), int(dut.m_axi__araddr.value), int(dut.m_axi__arlen.value),
                             int(dut.m_axi__arsize.value), int(dut.m_axi__arburst.value)))

    async def _read(self, address, length):
        if self._beat == 0:
            while len(self.log) <= self._served:
                await RisingEdge(self.dut.clk)
            issued, _, arlen, _, _ = self.log[self._served]
            self._length = arlen + 1
            self._served += 1
            ready = issued + self.rng.randint(*self.latency)
            while self.domain.cycle() < ready:
                await RisingEdge(self.dut.clk)
        self._beat = (self._beat + 1) % self._length
        status = self.errors.get(address)
        self._decerr = status == Status.DECERR
        if status == Status.SLVERR:
            raise ValueError("slave error region")
        return self.ram.read(address, length)


@dataclass
class Request:
    """One request and what came back."""
    label: str
    base: int
    rows: int
    plane: Plane
    indices: list
    beats: list = field(default_factory=list)
    cycles: tuple = None


@dataclass
class Region:
    """A head's planes in DRAM: codes ``q (rows, D)``, plane bases."""
    name: str
    rows: int
    bases: dict


class FetcherBench:
    """Drives an emitted ``Fetcher``: ``request`` / ``index`` / ``summary`` sources, ``rows`` /
    ``decision`` sinks, the AXI memory."""

    def __init__(self, dut, params, *, rng):
        self.params = params
        self.fetcher = Fetcher(**params)
        f = self.fetcher
        self.rng = rng
        self.dut = dut
        self.domain = ClockDomain(dut)
        self.size = 1 << min(f.addr_bits, 22)
        self.memory = AxiMemory(dut, self.domain, size=self.size, rng=random.Random(rng.random()))
        self.regions = {}
        self.expected_bursts, self.expected_bytes, self.allowed_words = [], [0, 0], set()

    # ---- set-up ------------------------------------------------------------------------
    async def start(self):
        self.domain.start()
        await self._reset(2)

    async def _reset(self, cycles):
        f = self.fetcher
        self.request = StreamSource(self.dut, "request", self.domain, f.request.p.shape())
        self.index = StreamSource(self.dut, "index", self.domain, f.index.p.shape())
        self.summary = StreamSource(self.dut, "summary", self.domain, f.summary.p.shape())
        await self.domain.reset(cycles)
        self.memory.after_reset()
        self.rows = StreamSink(self.dut, "rows", self.domain, f.rows.p.shape())
        self.decision = StreamSink(self.dut, "decision", self.domain, f.decision.p.shape())
        self.expected_bursts, self.expected_bytes, self.allowed_words = [], [0, 0], set()

    async def reset(self, cycles=1):
        """Stop the drivers, hold ``rst`` (the DUT and the AXI model), start new drivers."""
        for port in (self.request, self.index, self.summary, self.rows, self.decision):
            port.stop()
        self.memory.pauses()
        await self._reset(cycles)

    def pauses(self, *, request=0.0, index=0.0, rows=0.0, ar=0.0, r=0.0):
        """Random bubbles / stalls with the given probabilities (0: none)."""
        def gen(p):
            return random_pause(random.Random(self.rng.random()), p) if p else None
        self.request.set_pause(gen(request))
        self.index.set_pause(gen(index))
        self.rows.set_pause(gen(rows))
        self.memory.pauses(gen(ar), gen(r))

    def add_region(self, name, rows, bases):
        """Random codes for ``rows`` rows, packed as golden packs them, at ``bases`` (plane -> base)."""
        f = self.fetcher
        lim = (1 << (f.value_bits - 1)) - 1
        q = np.array([[self.rng.randint(-lim, lim) for _ in range(f.head_dim)] for _ in range(rows)])
        planes = pack_kv(q, f.msb_bits, f.lsb_bits)
        for plane, base in bases.items():
            self.memory.write(base, planes[plane].reshape(-1).tobytes())
        self.regions[name] = Region(name, rows, dict(bases))

    def standard_regions(self, rows):
        """Planes at 0 (MSB) and 64 KB (LSB; a quarter of a smaller memory), across 4 KB boundaries,
        at the top of the memory."""
        f, w = self.fetcher, self.fetcher.data_bytes
        rb = f.row_bytes
        self.add_region("low", rows, {Plane.MSB: 0, Plane.LSB: min(1 << 16, self.size // 4)})
        # Row 1 or 2 straddles a 4 KB boundary (when the row bytes do not divide 4 KB).
        near = [(3 * AXI_BOUNDARY - rb[p] - rb[p] // 2) // w * w + (p + 5) * AXI_BOUNDARY for p in (0, 1)]
        self.add_region("straddle", rows, {Plane.MSB: near[0], Plane.LSB: near[1]})
        top = [(self.size - rows * rb[p]) // w * w for p in (0, 1)]
        top[0] = min(top[0], top[1] - rows * rb[0]) // w * w
        self.add_region("top", rows, {Plane.MSB: top[0], Plane.LSB: top[1]})

    def request_of(self, label, region, plane, indices, *, base=None, rows=None):
        reg = self.regions[region]
        return Request(label, reg.bases[plane] if base is None else base,
                       reg.rows if rows is None else rows, plane, list(indices))

    # ---- running -----------------------------------------------------------------------
    def send(self, req):
        self.request.send({"base": req.base, "rows": req.rows, "plane": req.plane.value})
        if not req.indices:
            self.index.send({"index": 0, "last": 1, "none": 1})
        for n, index in enumerate(req.indices):
            self.index.send({"index": index, "last": int(n == len(req.indices) - 1), "none": 0})
        runs, bursts, _ = self.golden_plan(req)
        self.expected_bursts += bursts
        rb, w = self.fetcher.row_bytes[req.plane], self.fetcher.data_bytes
        # The words holding a byte of a row the request may read: every word of the AR log must be one.
        for first, count in runs:
            start = req.base + first * rb
            self.allowed_words.update(range(start // w * w, start + count * rb, w))
        self.expected_bytes[req.plane] += sum(count for _, count in runs) * rb

    def golden_plan(self, req):
        f = self.fetcher
        return plan(req.base, req.rows, req.indices, row_bytes=f.row_bytes[req.plane],
                    data_bytes=f.data_bytes, addr_bits=f.addr_bits, max_run=f.max_run)

    def expected(self, req):
        f = self.fetcher
        return fetch(self.memory.mirror, req.base, req.rows, req.indices, req.plane, msb=f.msb_bits,
                     lsb=f.lsb_bits, d=f.head_dim, data_bytes=f.data_bytes, addr_bits=f.addr_bits,
                     max_run=f.max_run, bad_words=self.memory.errors)

    def _timeout(self, req):
        lat = self.memory.latency[1]
        return 4000 + 40 * (len(req.indices) + 1) * (max(self.fetcher.row_bytes) // self.fetcher.data_bytes
                                                      + 4) + 20 * lat

    async def collect(self, req, where):
        while True:
            try:
                beat = await with_timeout(self.rows.recv(), self._timeout(req) * self.domain.period_ns, "ns")
            except SimTimeoutError:
                raise AssertionError(f"{where}: no output beat within {self._timeout(req)} cycles "
                                     f"({len(req.beats)} beats so far; {self.index.pending} index beats "
                                     f"not taken)") from None
            req.beats.append(beat)
            if beat.payload["last"]:
                return

    async def run(self, reqs, *, label):
        """Send ``reqs`` back to back and check each against golden."""
        start = len(self.request.beats)
        for req in reqs:
            self.send(req)
        for n, req in enumerate(reqs):
            await self.collect(req, f"SEED={runner.seed()} {label} request {n} [{req.label}]")
        await self.index.wait_idle()
        for n, req in enumerate(reqs):
            req.cycles = (self.request.beats[start + n].cycle, req.beats[-1].cycle)
            self.check(req, f"SEED={runner.seed()} {label} request {n} [{req.label}]")

    def check(self, req, where):
        want_rows, want_status, _ = self.expected(req)
        where = (f"{where}: base={req.base:#x} rows={req.rows} plane={req.plane.name} "
                 f"indices={req.indices}")
        got = [b.payload for b in req.beats]
        for n, beat in enumerate(got[:-1]):
            assert beat["has_row"] and not beat["last"], f"{where}: beat {n} of {len(got)}: {beat}"
        last = got[-1]
        rows = [(b["index"], b["codes"]) for b in got if b["has_row"]]
        for n, ((gi, gc), (wi, wc)) in enumerate(zip(rows, want_rows, strict=False)):
            assert gi == wi, f"{where}: row {n} index {gi}, expected {wi}"
            assert gc == wc, f"{where}: row {n} (index {wi}) codes\n  got      {gc}\n  expected {wc}"
        assert len(rows) == len(want_rows), \
            f"{where}: {len(rows)} rows, expected {len(want_rows)} ({[i for i, _ in want_rows]})"
        assert all(b["plane"] == req.plane.value for b in got), f"{where}: plane field wrong"
        assert last["status"] == want_status.value, \
            f"{where}: status {Status(last['status']).name}, expected {want_status.name}"
        assert last["has_row"] == int(want_status == Status.OK and bool(want_rows)), \
            f"{where}: last beat has_row={last['has_row']} (status {want_status.name}, {len(want_rows)} rows)"

    def check_log(self, where):
        """The AR log since the last reset equals golden's bursts; every burst follows AXI4."""
        w = self.fetcher.data_bytes
        log = self.memory.log[self._log_start:]
        got = [(addr, length + 1) for _, addr, length, _, _ in log]
        for addr, beats in got:
            assert addr % w == 0 and 1 <= beats <= AXI_MAX_BEATS, f"{where}: burst {addr:#x} x {beats}"
            assert addr // AXI_BOUNDARY == (addr + beats * w - 1) // AXI_BOUNDARY, \
                f"{where}: burst {addr:#x} x {beats} crosses a 4 KB boundary"
        outside = [(addr, beats) for addr, beats in got
                   if any(addr + i * w not in self.allowed_words for i in range(beats))]
        assert not outside, f"{where}: bursts reading words outside the requested rows: {outside[:4]}"
        assert all(size == (w - 1).bit_length() and burst == 1 for _, _, _, size, burst in log), \
            f"{where}: ARSIZE/ARBURST wrong in {log[:4]}"
        if got != self.expected_bursts:
            pairs = zip(got, self.expected_bursts, strict=False)
            shorter = min(len(got), len(self.expected_bursts))
            first = next((n for n, (a, b) in enumerate(pairs) if a != b), shorter)
            raise AssertionError(f"{where}: {len(got)} bursts, golden plans {len(self.expected_bursts)}; "
                                 f"first difference at burst {first}: got {got[first:first + 3]}, "
                                 f"expected {self.expected_bursts[first:first + 3]}")
        counts = self.counts()
        beats = sum(b for _, b in got)
        assert (counts["bursts"], counts["beats"]) == (len(got), beats), f"{where}: counters {counts}"
        assert (counts["bytes_msb"], counts["bytes_lsb"]) == tuple(self.expected_bytes), \
            f"{where}: byte counters {counts}, expected {self.expected_bytes}"

    def mark_log(self):
        self._log_start = len(self.memory.log)

    def counts(self):
        from sim.streams import unpack
        return unpack(self.fetcher.counts.shape(), self.dut.counts.value)


# ---- cases ------------------------------------------------------------------------------
def edge_requests(bench):
    """Every edge case for both planes: empty, single, all rows, gaps, 4 KB straddles, the top of
    memory, bad index, misaligned base, a region past the address space, AXI errors."""
    f, rng = bench.fetcher, bench.rng
    n = bench.regions["low"].rows
    reqs = []
    for plane in (Plane.MSB, Plane.LSB):
        p = plane.name
        reqs += [
            bench.request_of(f"{p} empty", "low", plane, []),
            bench.request_of(f"{p} single", "low", plane, [rng.randrange(n)]),
            bench.request_of(f"{p} first", "low", plane, [0]),
            bench.request_of(f"{p} all rows", "low", plane, range(n)),
            bench.request_of(f"{p} gaps", "low", plane, sorted(rng.sample(range(n), n // 3))),
            bench.request_of(f"{p} repeats and backwards", "low", plane, [3, 3, 2, 1, 0, 5]),
            bench.request_of(f"{p} straddle 4 KB", "straddle", plane, range(min(n, 6))),
            bench.request_of(f"{p} straddle all", "straddle", plane, range(n)),
            bench.request_of(f"{p} top all", "top", plane, range(n)),
            bench.request_of(f"{p} top last row", "top", plane, [n - 1]),
            bench.request_of(f"{p} index >= rows", "low", plane, [1, 2, n, 4]),
            bench.request_of(f"{p} first index >= rows", "low", plane, [n + 1], rows=n),
            bench.request_of(f"{p} rows=0", "low", plane, [0], rows=0),
            bench.request_of(f"{p} misaligned", "low", plane, [0, 1], base=f.data_bytes // 2 + 64),
            bench.request_of(f"{p} past the address space", "top", plane, [0],
                             base=(1 << f.addr_bits) - f.data_bytes * 4, rows=n),
        ]
    return reqs


def random_requests(bench, count):
    rng = bench.rng
    reqs = []
    for _ in range(count):
        region = rng.choice(list(bench.regions))
        plane = rng.choice((Plane.MSB, Plane.LSB))
        n = bench.regions[region].rows
        kind = rng.random()
        if kind < 0.3:
            indices = sorted(rng.sample(range(n), rng.randint(1, n)))
        elif kind < 0.5:
            start = rng.randrange(n)
            indices = list(range(start, rng.randint(start + 1, n)))
        elif kind < 0.9:
            density = rng.choice((0.25, 0.5, 0.9))
            indices = [i for i in range(n) if rng.random() < density]
        else:
            indices = [rng.randrange(n) for _ in range(rng.randint(0, 6))]
        if rng.random() < 0.04:
            indices.insert(rng.randint(0, len(indices)), rng.randint(n, (1 << bench.fetcher.index_bits) - 1))
        reqs.append(bench.request_of(f"random {region}", region, plane, indices))
    return reqs


async def _bench(dut):
    params = runner.params()
    bench = FetcherBench(dut, params["fetcher"], rng=random.Random(runner.seed()))
    await bench.start()
    bench.standard_regions(params.get("rows", 40))
    bench.mark_log()
    return bench, params


@cocotb.test()
async def edge_cases(dut):
    """Edge cases one by one, then all back to back with latency, stalls and backpressure."""
    bench, _ = await _bench(dut)
    reqs = edge_requests(bench)
    for req in reqs:
        await bench.run([req], label="edge alone")
    bench.check_log("edge alone")
    bench.memory.latency = (5, 40)
    bench.pauses(request=0.3, index=0.3, rows=0.4, ar=0.3, r=0.3)
    again = edge_requests(bench)
    bench.rng.shuffle(again)
    await bench.run(again, label="edge back to back")
    bench.check_log("edge back to back")
    _checked("edge_cases", len(reqs) + len(again))


@cocotb.test()
@cocotb.parametrize(pauses=[(0.0, 0.0, 0.0, 10, 10), (0.2, 0.5, 0.3, 1, 60), (0.5, 0.2, 0.6, 20, 50)])
async def random_streams(dut, pauses):
    """Random requests back to back: (index bubbles, rows backpressure, AR+R stalls, latency lo, hi)."""
    bench, params = await _bench(dut)
    index, rows, stall, lo, hi = pauses
    bench.memory.latency = (lo, hi)
    bench.pauses(request=index, index=index, rows=rows, ar=stall, r=stall)
    reqs = random_requests(bench, params["requests"] // 3)
    await bench.run(reqs, label=f"random {pauses}")
    bench.check_log(f"random {pauses}")
    _checked("random_streams", len(reqs))


@cocotb.test()
async def axi_errors(dut):
    """SLVERR and DECERR words inside requested rows: the rows before are exact, the request ends
    with the error, the next request is clean."""
    bench, _ = await _bench(dut)
    f, rng, w = bench.fetcher, bench.rng, bench.fetcher.data_bytes
    n = bench.regions["low"].rows
    bench.memory.latency = (2, 20)
    # Heavy backpressure: the bad word often lands while clean rows wait in the buffer.
    bench.pauses(rows=0.6, r=0.2)
    checked = 0
    for round_ in range(24):
        plane = Plane(round_ % 2)
        bench.memory.errors = {}
        reg = bench.regions["low"]
        row = rng.randrange(n)
        word = (reg.bases[plane] + row * f.row_bytes[plane] + rng.randrange(f.row_bytes[plane])) // w * w
        status = Status.SLVERR if round_ % 4 < 2 else Status.DECERR
        bench.memory.errors = {word: status}
        indices = sorted(set(rng.sample(range(n), n // 2)) | {row})
        reqs = [bench.request_of(f"{status.name} at row {row}", "low", plane, indices),
                bench.request_of("clean after error", "straddle", plane, indices)]
        await bench.run(reqs, label=f"errors {round_}")
        want = bench.expected(reqs[0])[1]
        assert want == status and reqs[0].beats[-1].payload["status"] == status.value
        checked += 2
    bench.check_log("errors")
    _checked("axi_errors", checked)


@cocotb.test()
async def reset_mid_request(dut):
    """``rst`` at a random point of a stream of requests (bursts in flight, output held): the
    next request is exact and reads only its own bursts (no stale data)."""
    bench, _ = await _bench(dut)
    rng = bench.rng
    checked = 0
    for cut in range(12):
        bench.memory.latency = (3, 30)
        bench.pauses(rows=0.5 if cut % 2 else 0.0, r=0.2)
        for req in random_requests(bench, 3):
            bench.send(req)
        await bench.domain.cycles(rng.randint(5, 300))
        await bench.reset(rng.randint(1, 3))
        bench.mark_log()
        bench.memory.latency = (1, 10)
        after = random_requests(bench, 2)
        await bench.run(after, label=f"after reset {cut}")
        bench.check_log(f"after reset {cut}")
        checked += len(after)
    _checked("reset_mid_request", checked)


@cocotb.test()
async def refetch_decisions(dut):
    """Row summaries -> re-fetch decisions exactly as golden, under bubbles and backpressure;
    the rows_refetched counter."""
    bench, _ = await _bench(dut)
    rng, f = bench.rng, bench.fetcher
    thr = f.threshold_code
    summaries = []
    for _ in range(300):
        near = max(0, thr + rng.randint(-2, 2))
        summaries.append((rng.choice((near, rng.randint(0, 1 << 15), 0, 1 << 15)), rng.random() < 0.9))
    bench.summary.set_pause(random_pause(random.Random(rng.random()), 0.3))
    bench.decision.set_pause(random_pause(random.Random(rng.random()), 0.3))
    for max_prob, visible in summaries:
        bench.summary.send({"max_prob": max_prob, "visible": int(visible)})
    got = []
    for _ in summaries:
        got.append((await with_timeout(bench.decision.recv(), 100000, "ns")).payload["refetch"])
    want = refetch_rows([m for m, _ in summaries], [v for _, v in summaries], thr).astype(int).tolist()
    assert got == want, f"SEED={runner.seed()}: decisions\n  got      {got}\n  expected {want}"
    await bench.domain.cycles(2)
    assert bench.counts()["rows_refetched"] == sum(want), f"SEED={runner.seed()}: {bench.counts()}"
    _checked("refetch_decisions", len(summaries))


# Only gen.bench_fetcher runs this one (it passes the points to measure).
@cocotb.test(skip="measure" not in runner.params())
async def measure(dut):
    """For gen.bench_fetcher: per point, index lists back to back, no stalls; bytes per cycle."""
    bench, params = await _bench(dut)
    f = bench.fetcher
    points = []
    for point in params["measure"]["points"]:
        bench.memory.latency = (point["latency"], point["latency"])
        reqs = [bench.request_of("bench", "low", Plane.MSB, indices) for indices in point["lists"]]
        await bench.run(reqs, label="measure")
        cycles = reqs[-1].cycles[1] - reqs[0].cycles[0] + 1
        nbytes = sum(len(r.indices) for r in reqs) * f.row_bytes[Plane.MSB]
        points.append({**{k: v for k, v in point.items() if k != "lists"}, "cycles": cycles,
                       "bytes": nbytes, "rows": sum(len(r.indices) for r in reqs),
                       "stall_cycles": bench.counts()["stall_cycles"]})
    Path(params["measure"]["out"]).write_text(json.dumps(points))
