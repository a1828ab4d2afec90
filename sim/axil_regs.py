"""cocotb testbench of the register block (``hw.axi.lite.AxiLiteRegisters`` of ``hw.core.regmap``).

Parameters: ``preset`` or ``config`` (the map's configuration: a preset's
name or a configuration's fields, :func:`sim.runner.config`) and ``rounds``
(random accesses; ``random_accesses`` records them as checked). cocotbext-axi's ``AxiLiteMaster`` drives the slave with random
stalls on all five channels; the inputs (``ro`` registers and counters) are
driven with random values. Every expectation comes from the description
(``hw.core.regmap.register_map``): reset values, constants, read-back of
``rw`` words under byte strobes, one-cycle pulses, counter lo/hi latching,
SLVERR for writes to read-only words, DECERR (and zero data) outside the map.
"""

import random

import cocotb
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiResp

from hw.core.regmap import register_map
from sim import runner
from sim.axi_models import lite_master, stall
from sim.clock import ClockDomain


class RegBench:
    """The DUT, its master, the expected state of every register and a pulse log."""

    def __init__(self, dut):
        self.dut = dut
        self.rng = random.Random(runner.seed())
        self.regs = register_map(runner.config())
        self.domain = ClockDomain(dut)
        self.master = lite_master(dut)
        self.stored = {r.name: r.value & ((1 << r.bits) - 1) for r in self.regs if r.access == "rw"}
        self.inputs = {}
        self.pulses = []        # (cycle, register, value) of every non-zero pulse output
        self.words = {offset: (reg, index) for reg in self.regs
                      for index, (_, offset) in enumerate(reg.words)}

    async def start(self):
        self.domain.start()
        for reg in self.regs:
            if reg.access in ("ro", "counter"):
                self.drive(reg, 0)
        await self.domain.reset()
        cocotb.start_soon(self._watch_pulses())

    def drive(self, reg, value):
        self.inputs[reg.name] = value
        getattr(self.dut, reg.port).value = value

    async def _watch_pulses(self):
        ports = [(reg, getattr(self.dut, reg.port)) for reg in self.regs if reg.access == "pulse"]
        while True:
            await RisingEdge(self.dut.clk)
            for reg, port in ports:
                if int(port.value):
                    self.pulses.append((self.domain.cycle(), reg.name, int(port.value)))

    def expected_read(self, offset, latched):
        """(data, resp) a read of ``offset`` returns; ``latched`` holds counters' latched hi words."""
        if offset not in self.words:
            return 0, AxiResp.DECERR
        reg, index = self.words[offset]
        if reg.access == "const":
            return reg.value & 0xFFFF_FFFF, AxiResp.OKAY
        if reg.access == "pulse":
            return 0, AxiResp.OKAY
        if reg.access == "rw":
            return self.stored[reg.name], AxiResp.OKAY
        if reg.access == "ro":
            return self.inputs[reg.name], AxiResp.OKAY
        if index == 0:
            latched[reg.name] = self.inputs[reg.name] >> 32
            return self.inputs[reg.name] & 0xFFFF_FFFF, AxiResp.OKAY
        return latched.get(reg.name, 0), AxiResp.OKAY

    async def read(self, offset, latched, label):
        data, resp = self.expected_read(offset, latched)
        got = await self.master.read(offset, 4)
        value = int.from_bytes(got.data, "little")
        assert (value, got.resp) == (data, resp), (
            f"{label}: read {offset:#05x}: got {value:#x} {got.resp!r}, expected {data:#x} {resp!r} "
            f"(seed {runner.seed()})")

    async def write(self, offset, value, strobe, label):
        """Write the bytes of ``value`` selected by ``strobe`` (a contiguous byte range)."""
        lanes = [i for i in range(4) if strobe >> i & 1]
        first, data = lanes[0], value.to_bytes(4, "little")[lanes[0]:lanes[-1] + 1]
        mask = sum(0xFF << 8 * i for i in lanes)
        reg, _ = self.words.get(offset, (None, None))
        expected = AxiResp.DECERR if reg is None else (
            AxiResp.OKAY if reg.access in ("rw", "pulse") else AxiResp.SLVERR)
        before = len(self.pulses)
        got = await self.master.write(offset + first, data)
        assert got.resp == expected, (f"{label}: write {offset:#05x}: {got.resp!r}, expected {expected!r} "
                                      f"(seed {runner.seed()})")
        if reg is not None and reg.access == "rw":
            width = (1 << reg.bits) - 1
            self.stored[reg.name] = (self.stored[reg.name] & ~mask | value & mask) & width
        if reg is not None and reg.access == "pulse":
            await self.domain.cycles(2)
            pulse = value & mask
            new = self.pulses[before:]
            want = [(reg.name, pulse)] if pulse else []
            assert [(n, v) for _, n, v in new] == want, f"{label}: pulses {new}, expected {want}"


@cocotb.test()
async def reset_values(dut):
    """Every word after reset: constants, rw reset values, inputs, counters lo then hi."""
    bench = RegBench(dut)
    await bench.start()
    latched = {}
    for reg in bench.regs:
        if reg.access in ("ro", "counter"):
            bench.drive(reg, bench.rng.getrandbits(reg.bits))
    for reg in bench.regs:
        for _, offset in reg.words:
            await bench.read(offset, latched, "reset")


@cocotb.test()
async def random_accesses(dut):
    """Random reads and writes (partial strobes, bad addresses) under random stalls everywhere."""
    bench = RegBench(dut)
    await bench.start()
    stall(bench.master, bench.rng, 0.3)
    rounds = runner.params()["rounds"]
    offsets = sorted(bench.words) + [0x3C, 0x0FC, 0xFFC, 0x400]      # holes and the map's end
    latched = {}
    for i in range(rounds):
        offset = bench.rng.choice(offsets)
        if bench.rng.random() < 0.3:
            reg = bench.rng.choice([r for r in bench.regs if r.access in ("ro", "counter")])
            bench.drive(reg, bench.rng.getrandbits(reg.bits))
        if bench.rng.random() < 0.5:
            first = bench.rng.randrange(4)
            last = bench.rng.randrange(first, 4)
            strobe = sum(1 << b for b in range(first, last + 1))
            await bench.write(offset, bench.rng.getrandbits(32), strobe, f"round {i}")
        else:
            await bench.read(offset, latched, f"round {i}")
    runner.record_checked("random_accesses", rounds)


@cocotb.test()
async def counter_latch(dut):
    """A counter's _HI read returns the high word latched by its _LO read, not the live one."""
    bench = RegBench(dut)
    await bench.start()
    counter = next(r for r in bench.regs if r.access == "counter")
    latched = {}
    bench.drive(counter, 0x1111_1111_FFFF_FFFF)
    await bench.read(counter.offset, latched, "lo")
    bench.drive(counter, 0x2222_2222_0000_0000)          # carried into the high word meanwhile
    got = await bench.master.read(counter.offset + 4, 4)
    assert int.from_bytes(got.data, "little") == 0x1111_1111


@cocotb.test()
async def concurrent_reads_and_writes(dut):
    """Reads and writes in flight together, each answered right."""
    bench = RegBench(dut)
    await bench.start()
    stall(bench.master, bench.rng, 0.2)
    rw = [r for r in bench.regs if r.access == "rw"]
    const = [r for r in bench.regs if r.access == "const"]
    for _ in range(runner.params()["rounds"] // 4):
        reg = bench.rng.choice(rw)
        value = bench.rng.getrandbits(32)
        c = bench.rng.choice(const)
        write = cocotb.start_soon(bench.master.write(reg.offset, value.to_bytes(4, "little")))
        got = await bench.master.read(c.offset, 4)
        assert int.from_bytes(got.data, "little") == c.value
        assert (await write).resp == AxiResp.OKAY
        bench.stored[reg.name] = value & ((1 << reg.bits) - 1)
        got = await bench.master.read(reg.offset, 4)
        assert int.from_bytes(got.data, "little") == bench.stored[reg.name]


