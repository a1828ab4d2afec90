"""cocotb testbench of :class:`hw.axi.ram.AxiRam` on its emitted Verilog.

cocotbext-axi's ``AxiMaster`` on ``s_axi`` (random bursts: any length, byte
offset and ``size``, so strobes and narrow beats) and ``AxiLiteMaster`` on
``s_axil`` (words and byte ranges) run at the same time, on disjoint halves,
with random stalls on every channel of both; every read is checked against a
Python copy of the memory, then each half is read back through the other
port. Accesses at or beyond ``size_bytes`` answer DECERR and write nothing.
Parameters (``sim.runner.params``): ``size_bytes``, ``data_bits``, ``operations``.
"""

import random

import cocotb
from cocotbext.axi import AxiBus, AxiMaster, AxiResp

from sim import runner
from sim.axi_models import lite_master, stall
from sim.clock import ClockDomain

runner.allow_cocotbext_deprecations()


class RamBench:
    def __init__(self, dut):
        self.params = runner.params()
        self.size = self.params["size_bytes"]
        self.row = self.params["data_bits"] // 8
        self.rng = random.Random(runner.seed())
        self.domain = ClockDomain(dut)
        self.axi = AxiMaster(AxiBus.from_prefix(dut, "s_axi", bus_separator="__"), dut.clk, dut.rst)
        self.lite = lite_master(dut)
        self.copy = bytearray(self.size)
        self.where = f"seed {runner.seed()}"

    async def start(self):
        self.domain.start()
        await self.domain.reset()
        stall(self.axi, self.rng, 0.3)
        stall(self.lite, self.rng, 0.3)

    async def traffic(self, master, lo, hi, rng, max_length, sizes):
        """Random writes and reads inside ``lo..hi``, each read checked against the copy."""
        for n in range(self.params["operations"]):
            length = rng.randint(1, max_length)
            address = rng.randrange(lo, hi - length + 1)
            kwargs = {"size": rng.choice(sizes)} if sizes else {}
            if rng.random() < 0.5:
                data = rng.randbytes(length)
                got = await master.write(address, data, **kwargs)
                assert got.resp == AxiResp.OKAY, f"{self.where}: write {n} at {address:#x} {got.resp!r}"
                self.copy[address:address + length] = data
            else:
                got = await master.read(address, length, **kwargs)
                assert got.resp == AxiResp.OKAY, f"{self.where}: read {n} at {address:#x} {got.resp!r}"
                want = bytes(self.copy[address:address + length])
                assert got.data == want, f"{self.where}: read {n} of {length} at {address:#x}: " \
                                         f"{got.data.hex()} != {want.hex()}"


@cocotb.test()
async def both_ports_at_once(dut):
    """Random bursts on s_axi and words on s_axil together, then each half through the other port."""
    bench = RamBench(dut)
    await bench.start()
    half, rng = bench.size // 2, bench.rng
    sizes = [None] + [s for s in range(6) if 1 << s <= bench.row]
    sizes = [s for s in sizes if s is not None]
    axi = cocotb.start_soon(bench.traffic(bench.axi, 0, half, random.Random(rng.random()),
                                          min(half, 40 * bench.row), sizes))
    lite = cocotb.start_soon(bench.traffic(bench.lite, half, bench.size, random.Random(rng.random()), 24, []))
    await axi
    await lite
    for master, lo, hi in ((bench.lite, 0, half), (bench.axi, half, bench.size)):
        got = await master.read(lo, hi - lo)
        assert got.data == bytes(bench.copy[lo:hi]), f"{bench.where}: {lo:#x}..{hi:#x} read through " \
                                                     f"the other port differs"


@cocotb.test()
async def out_of_range(dut):
    """Beats at or beyond size_bytes answer DECERR, write nothing, and the rest of a burst still works."""
    bench = RamBench(dut)
    await bench.start()
    size, row = bench.size, bench.row
    edge = size - 2 * row
    await bench.axi.write(edge, bytes(range(1, 2 * row + 1)))
    got = await bench.axi.write(edge, bytes([0xAA]) * (4 * row))
    assert got.resp == AxiResp.DECERR, f"{bench.where}: a write burst past the end answered {got.resp!r}"
    got = await bench.axi.read(edge, 2 * row)
    assert got.resp == AxiResp.OKAY and got.data == bytes([0xAA]) * (2 * row), \
        f"{bench.where}: the in-range beats of the failed burst: {got.data.hex()}"
    got = await bench.axi.read(edge, 4 * row)
    assert got.resp == AxiResp.DECERR, f"{bench.where}: a read burst past the end answered {got.resp!r}"
    assert got.data[2 * row:] == bytes(2 * row), f"{bench.where}: DECERR beats carry data"
    # The Lite window is a power of two wide: only a size_bytes that is not one leaves addresses past it.
    if size < 1 << (size - 1).bit_length():
        got = await bench.lite.write(size, bytes(4))
        assert got.resp == AxiResp.DECERR, f"{bench.where}: Lite write past the end {got.resp!r}"
        got = await bench.lite.read(size, 4)
        assert got.resp == AxiResp.DECERR and got.data == bytes(4), f"{bench.where}: Lite read past the end"
    got = await bench.axi.read(1 << 20, row)
    assert got.resp == AxiResp.DECERR, f"{bench.where}: a read far past the end answered {got.resp!r}"


@cocotb.test()
async def one_beat_per_cycle(dut):
    """Without stalls a burst of N beats takes N cycles plus the read latency (write: plus AW and B)."""
    bench = RamBench(dut)
    bench.domain.start()
    await bench.domain.reset()
    row, beats = bench.row, 64
    for name, operation in (("write", lambda: bench.axi.write(0, bytes(beats * row))),
                            ("read", lambda: bench.axi.read(0, beats * row))):
        start = bench.domain.cycle()
        await operation()
        cycles = bench.domain.cycle() - start
        # The master model takes a few cycles of its own to issue and to collect.
        assert cycles <= beats + 8, f"{bench.where}: a {beats}-beat {name} burst took {cycles} cycles"
