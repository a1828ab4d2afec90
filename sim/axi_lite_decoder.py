"""cocotb testbench of :class:`hw.axi.lite_decoder.AxiLiteDecoder` on its emitted Verilog.

cocotbext-axi's ``AxiLiteMaster`` on ``s_axil`` and an ``AxiLiteRam`` on each
``m<i>_axil``, random stalls on every channel: random word writes and reads
in every window and in the holes between them, several in flight at once
(writes and reads overlap); every read and every RAM checked against a
Python copy. Parameters: ``windows`` (list of ``[base, bits]``), ``operations``.
"""

import random

import cocotb
from cocotbext.axi import AxiLiteBus, AxiLiteRam, AxiResp

from sim import runner
from sim.axi_models import lite_master, stall
from sim.clock import ClockDomain

runner.allow_cocotbext_deprecations()


@cocotb.test()
async def random_accesses(dut):
    params = runner.params()
    rng = random.Random(runner.seed())
    where = f"seed {runner.seed()}"
    windows = [tuple(w) for w in params["windows"]]
    domain = ClockDomain(dut)
    domain.start()
    master = lite_master(dut)
    rams = [AxiLiteRam(AxiLiteBus.from_prefix(dut, f"m{i}_axil", bus_separator="__"), dut.clk, dut.rst,
                       size=1 << bits) for i, (_, bits) in enumerate(windows)]
    await domain.reset()
    stall(master, rng, 0.3)
    for ram in rams:
        stall(ram, rng, 0.3)
    copy = {}
    top = max(base + (1 << bits) for base, bits in windows) + 64

    def window_of(address):
        for i, (base, bits) in enumerate(windows):
            if base <= address < base + (1 << bits):
                return i
        return None

    async def one(n, address):
        hit = window_of(address)
        if rng.random() < 0.5:
            word = rng.randbytes(4)
            got = await master.write(address, word)
            assert got.resp == (AxiResp.DECERR if hit is None else AxiResp.OKAY), \
                f"{where}: write {n} at {address:#x} answered {got.resp!r}"
            if hit is not None:
                copy[address] = word
        else:
            got = await master.read(address, 4)
            want = bytes(4) if hit is None else copy.get(address, bytes(4))
            assert got.resp == (AxiResp.DECERR if hit is None else AxiResp.OKAY) and got.data == want, \
                f"{where}: read {n} at {address:#x}: {got.resp!r} {got.data.hex()} != {want.hex()}"

    def address():
        if rng.random() < 0.8:
            base, bits = rng.choice(windows)
            return base + 4 * rng.randrange(1 << (bits - 2))
        return 4 * rng.randrange(top // 4)

    # Distinct addresses among the accesses in flight together, so their order does not matter.
    for n in range(0, params["operations"], 4):
        batch = list(dict.fromkeys(address() for _ in range(4)))
        tasks = [cocotb.start_soon(one(n + i, a)) for i, a in enumerate(batch)]
        for task in tasks:
            await task
    for address, word in copy.items():
        i = window_of(address)
        assert rams[i].read(address - windows[i][0], 4) == word, f"{where}: window {i} at {address:#x}"
