"""cocotb testbench of the AXI4 read arbiter (``hw.axi.read_arbiter.AxiReadArbiter``).

Parameters: ``arbiter`` (constructor arguments) and ``reads`` per master.
Each master port is driven by cocotbext-axi's ``AxiMasterRead`` (random AR
bubbles and R backpressure); the shared port reads ``sim.fetcher.AxiMemory``
(random latency per burst, AR and R stalls, an AR log), loaded with random
bytes. Master 0 reads as the fetcher does (one ID, many bursts in flight);
the others with random IDs.

Checks: every read's data equal to the memory's; every R beat taken by the
master its RID names (beats counted per master against the bursts each
issued); the shared ARID = master index above the master's ID; grants in
turn while every master has reads waiting.
"""

import random

import cocotb
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiMasterRead

from hw.axi.read_arbiter import AxiReadArbiter
from sim import runner
from sim.axi_models import read_bus, stall
from sim.clock import ClockDomain
from sim.fetcher import AxiMemory

_SIZE = 1 << 16


class ArbiterBench:
    def __init__(self, dut):
        self.dut = dut
        self.params = runner.params()
        self.arbiter = AxiReadArbiter(**self.params["arbiter"])
        self.rng = random.Random(runner.seed())
        self.domain = ClockDomain(dut)
        self.memory = AxiMemory(dut, self.domain, size=_SIZE, rng=random.Random(self.rng.random()))
        self.memory.write(0, self.rng.randbytes(_SIZE))
        self.masters = [AxiMasterRead(read_bus(dut, f"s{i}_axi"), dut.clk, dut.rst)
                        for i in range(self.arbiter.masters)]
        self.beats = [0] * self.arbiter.masters
        self.bursts = [0] * self.arbiter.masters     # bursts each master issued
        self.arids = []                              # ARID of every shared-port AR

    async def start(self, stalls):
        self.domain.start()
        await self.domain.reset()
        self.memory.latency = (1, 20) if stalls else (1, 1)
        if stalls:
            self.memory.pauses(ar=self._pause(stalls), r=self._pause(stalls))
            for master in self.masters:
                stall(master, self.rng, stalls)
        cocotb.start_soon(self._count())

    def _pause(self, p):
        from sim.streams import random_pause
        return random_pause(random.Random(self.rng.random()), p)

    async def _count(self):
        ports = [(getattr(self.dut, f"s{i}_axi__rvalid"), getattr(self.dut, f"s{i}_axi__rready"))
                 for i in range(self.arbiter.masters)]
        dut = self.dut
        while True:
            await RisingEdge(self.dut.clk)
            if int(dut.m_axi__arvalid.value) and int(dut.m_axi__arready.value):
                self.arids.append(int(dut.m_axi__arid.value))
            for i, (valid, ready) in enumerate(ports):
                if int(valid.value) and int(ready.value):
                    self.beats[i] += 1

    async def reads(self, index, count, label):
        master, data_bytes = self.masters[index], self.arbiter.m_axi.signature.data_bits // 8
        id_top = 1 << self.params["arbiter"]["id_bits"]
        expected_beats = 0
        pending = []
        for _ in range(count):
            words = self.rng.randint(1, 24)
            addr = data_bytes * self.rng.randrange(0, (_SIZE - words * data_bytes) // data_bytes)
            arid = 0 if index == 0 else self.rng.randrange(id_top)
            # A read that crosses 4 KB is split by the model: count its bursts' beats.
            expected_beats += sum(len(range(a, min(addr + words * data_bytes, (a // 4096 + 1) * 4096),
                                            data_bytes))
                                  for a in _pages(addr, words * data_bytes))
            self.bursts[index] += len(_pages(addr, words * data_bytes))
            pending.append((addr, words * data_bytes,
                            cocotb.start_soon(master.read(addr, words * data_bytes, arid=arid))))
        for addr, length, task in pending:
            got = (await task).data
            want = self.memory.ram.read(addr, length)
            assert got == want, (f"{label}: master {index} read {addr:#x}+{length} wrong "
                                 f"(seed {runner.seed()})")
        return expected_beats


def _pages(addr, length):
    out, a = [], addr
    while a < addr + length:
        out.append(a)
        a = (a // 4096 + 1) * 4096
    return out


@cocotb.test()
async def random_traffic(dut):
    """Every master reads at random under stalls on every channel; data and R routing exact."""
    bench = ArbiterBench(dut)
    await bench.start(stalls=0.3)
    count = bench.params["reads"]
    tasks = [cocotb.start_soon(bench.reads(i, count, "random")) for i in range(bench.arbiter.masters)]
    expected = [await task for task in tasks]
    assert bench.beats == expected, f"R beats per master {bench.beats}, expected {expected}"
    owners = [a >> bench.params["arbiter"]["id_bits"] for a in bench.arids]
    per_master = [owners.count(i) for i in range(bench.arbiter.masters)]
    assert per_master == bench.bursts, f"shared ARs per master {per_master}, issued {bench.bursts}"
    ids0 = {a & ((1 << bench.params["arbiter"]["id_bits"]) - 1) for a, o in zip(bench.arids, owners,
                                                                                strict=True) if o == 0}
    assert ids0 == {0}, f"master 0's IDs on the shared port {ids0}"
    runner.record_checked("random_traffic", count * bench.arbiter.masters)


@cocotb.test()
async def grants_in_turn(dut):
    """No stalls, every master with reads queued: the shared AR log takes the masters in turn."""
    bench = ArbiterBench(dut)
    await bench.start(stalls=0.0)
    n = bench.arbiter.masters
    tasks = [cocotb.start_soon(bench.reads(i, 6, "turns")) for i in range(n)]
    for task in tasks:
        await task
    owners = [a >> bench.params["arbiter"]["id_bits"] for a in bench.arids]
    assert sorted(set(owners)) == list(range(n)), f"owners {owners}"
    # While all wait (the first n * 4 grants), no master is granted twice in a row.
    head = owners[:n * 4]
    assert all(a != b for a, b in zip(head, head[1:], strict=False)), f"grants {head}"
