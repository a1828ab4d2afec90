"""cocotb testbench of the AXI4 write master (``hw.axi.write.AxiWriteMaster``).

Parameters: ``master`` (constructor arguments) and ``rows`` per test. The
rows land in the lowest 64 KB of the address space (all of it when it is
smaller), which the memory model covers; rows that end beyond the address
space are dropped by the master and never reach the memory. The memory is
``sim.axi_models.WriteMemory`` (cocotbext-axi's AXI RAM, which itself
asserts the 4 KB rule and ``wlast``) with random stalls on AW, W and B; the
row stream has random bubbles.

Checks: the memory equal to a mirror of every row written (rows in order,
error words left out); the AW log equal to ``golden.fetch.bursts`` of every
row kept; ``bytes_written``; dropped rows (misaligned, beyond the address
space) and SLVERR / DECERR in the sticky status, cleared by ``clear``;
``idle`` at the end, never a hang.
"""

import random

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from golden.fetch import bursts
from hw.axi.write import AxiWriteMaster
from sim import runner
from sim.axi_models import WriteMemory
from sim.clock import ClockDomain
from sim.streams import StreamSource, random_pause


class WriteBench:
    def __init__(self, dut):
        self.dut = dut
        self.params = runner.params()
        self.master = AxiWriteMaster(**self.params["master"])
        self.rng = random.Random(runner.seed())
        self.domain = ClockDomain(dut)
        self.space = 1 << self.params["master"]["addr_bits"]
        self.size = min(self.space, 1 << 16)
        self.memory = WriteMemory(dut, "m_axi", self.size)
        self.mirror = np.zeros(self.size, np.uint8)
        self.bursts = []
        self.kept = 0
        self.skip = set()       # error words: not compared

    async def start(self, stalls=0.3):
        self.domain.start()
        self.dut.clear.value = 0
        self.source = StreamSource(self.dut, "rows", self.domain, self.master.rows.p.shape(),
                                   pause=random_pause(random.Random(self.rng.random()), stalls))
        await self.domain.reset()
        for channel in (self.memory.ram.aw_channel, self.memory.ram.w_channel, self.memory.ram.b_channel):
            if stalls:
                channel.set_pause_generator(random_pause(random.Random(self.rng.random()), stalls))

    def send(self, addr, payload=None):
        rb, db = self.master._row_bytes, self.master.data_bytes
        payload = self.rng.randbytes(rb) if payload is None else payload
        self.source.send({"addr": addr, "data": int.from_bytes(payload, "little")})
        if addr % db == 0 and addr + rb <= self.space:
            self.mirror[addr:addr + rb] = np.frombuffer(payload, np.uint8)
            self.bursts += [(a, n - 1) for a, n in bursts(addr, rb, db)]
            self.kept += 1

    def random_addr(self):
        rb, db = self.master._row_bytes, self.master.data_bytes
        if self.rng.random() < 0.4:     # across or onto a 4 KB boundary
            page = self.rng.randrange(1, self.size // 4096)
            addr = page * 4096 - db * self.rng.randrange(0, -(-rb // db) + 1)
        else:
            addr = db * self.rng.randrange(0, (self.size - rb) // db)
        return max(0, min(addr, (self.size - rb) // db * db))

    async def finish(self, label):
        await self.source.wait_idle()
        for _ in range(20000):
            await RisingEdge(self.dut.clk)
            if int(self.dut.idle.value):
                break
        assert int(self.dut.idle.value), f"{label}: not idle (seed {runner.seed()})"
        got = np.frombuffer(self.memory.ram.read(0, self.size), np.uint8).copy()
        want = self.mirror.copy()
        for a in self.skip:
            got[a] = want[a] = 0
        bad = np.flatnonzero(got != want)
        assert not bad.size, (f"{label}: {bad.size} bytes differ, first at {int(bad[0]):#x}: "
                              f"{got[bad[0]]:#x} != {want[bad[0]]:#x} (seed {runner.seed()})")
        log = [(a, n) for a, n, _ in self.memory.log]
        assert log == self.bursts, f"{label}: AW log {log[:8]}... != golden {self.bursts[:8]}..."
        sizes = {s for _, _, s in self.memory.log}
        assert sizes <= {self.master.data_bytes.bit_length() - 1}, f"{label}: awsize {sizes}"
        written = int(self.dut.bytes_written.value)
        assert written == self.kept * self.master._row_bytes, f"{label}: bytes_written {written}"

    def status(self):
        value = int(self.dut.status.value)
        return {name: value >> i & 1 for i, name in enumerate(("slverr", "decerr", "misaligned", "range"))}


@cocotb.test()
async def random_rows(dut):
    """Random rows at random addresses (4 KB boundaries often), stalls everywhere."""
    bench = WriteBench(dut)
    await bench.start()
    for _ in range(bench.params["rows"]):
        bench.send(bench.random_addr())
    await bench.finish("random rows")
    assert bench.status() == {"slverr": 0, "decerr": 0, "misaligned": 0, "range": 0}
    runner.record_checked("random_rows", bench.params["rows"])


@cocotb.test()
async def back_to_back(dut):
    """No stalls: rows back to back take their beats plus the row overhead each."""
    bench = WriteBench(dut)
    await bench.start(stalls=0.0)
    await bench.domain.cycles(2)
    rows = bench.params["rows"] // 2
    db, rb = bench.master.data_bytes, bench.master._row_bytes
    stride = -(-rb // db) * db
    for i in range(rows):
        bench.send(i * stride % (bench.size - stride))
    start = bench.domain.cycle()
    await bench.finish("back to back")
    took = bench.source.beats[-1].cycle - start
    per_row = bench.master.beats + bench.master.row_overhead
    # With few bursts in flight the responses pace the rows; with enough, the W beats do.
    if bench.master._outstanding >= 4:
        assert took <= rows * per_row, f"{rows} rows took {took} cycles, expected <= {rows * per_row}"


@cocotb.test()
async def bad_rows_and_errors(dut):
    """Dropped rows and error responses set the sticky status; nothing hangs; clear resets it."""
    bench = WriteBench(dut)
    await bench.start()
    db, rb = bench.master.data_bytes, bench.master._row_bytes
    bench.send(db // 2 + 4 * db)                    # misaligned: dropped
    bench.send(bench.space - -(-rb // db) * db)     # ends at the top of the address space
    bench.send(bench.space - db) if rb > db else None
    await bench.finish("bad rows")
    status = bench.status()
    assert status["misaligned"] == 1 and status["slverr"] == 0 and status["decerr"] == 0
    assert status["range"] == int(rb > db)
    bench.dut.clear.value = 1
    await RisingEdge(bench.dut.clk)
    bench.dut.clear.value = 0
    await RisingEdge(bench.dut.clk)
    assert bench.status() == {"slverr": 0, "decerr": 0, "misaligned": 0, "range": 0}
    for kind, base in (("SLVERR", 0x2000), ("DECERR", 0x3000)):
        bench.memory.errors = {base + 1: kind}
        bench.skip |= set(range(base, base + rb))
        bench.send(base)
        for _ in range(4):
            bench.send(bench.random_addr() & ~0xFFF | 0x800)
        await bench.finish(kind)
        status = bench.status()
        assert status[kind.lower()] == 1, f"{kind}: status {status}"
        bench.memory.errors = {}
