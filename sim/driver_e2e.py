"""cocotb test of the host driver end to end (``gen.driver.SpattenDriver``) on a stand-in core.

The DUT is ``sim.fake_core.FakeCore`` (the real control plane, a datapath
that copies one row per command). The driver runs over
``sim.transport.CocotbTransport``: cocotbext-axi's ``AxiLiteMaster`` with
random stalls on its five channels, and one DRAM shared by
``sim.fetcher.AxiMemory`` (reads: random latency, AR / R stalls, error
words) and ``sim.axi_models.WriteMemory`` (writes: AW / W / B stalls, error
words). Parameters: ``preset`` or ``config`` (:func:`sim.runner.config`) and
``lists`` (command lists of ``random_lists``, which records the commands it
checked; it is the control plane's smoke and soak request, ``gen.smoke``).

Checks: the hardware's constant registers equal ``cfg``; a command list
written, started and waited for; every command's output row in DRAM (the
fake datapath's copy of its Q MSB-plane bytes); STATUS, the ``DECODED_*``
registers (the last command, its flags and layer index) and the counters (totals and the last layer's); a bad
command in a list (error code naming the field, command index, nothing
written for it or after it), an AXI read error (``DATA_READ``), a write
error (``OUT_WRITE``), a misaligned list (``ALIGN_CMD``), each followed by a
good run; the interrupt; a soft reset; random lists of one to four commands,
some with a bad field, a read error or a write error at a random place.
"""

import random

import cocotb
import numpy as np

from gen.driver import CommandError, SpattenDriver
from golden.command import MAX_LAYERS, RECORD_BYTES, Error, out_row_bytes
from golden.fetch import Status
from sim import runner
from sim.axi_models import WriteMemory, dram_window, lite_master, stall
from sim.clock import ClockDomain
from sim.fetcher import AxiMemory
from sim.streams import random_pause
from sim.transport import CocotbTransport


class E2eBench:
    def __init__(self, dut):
        self.dut = dut
        self.cfg = runner.config()
        self.rng = random.Random(runner.seed())
        self.domain = ClockDomain(dut)
        size, region = dram_window(self.cfg)
        self.reads = AxiMemory(dut, self.domain, size=size, rng=random.Random(self.rng.random()))
        self.reads.latency = (1, 10)
        self.writes = WriteMemory(dut, "m_axi", size, mem=self.reads.ram.mem)
        self.master = lite_master(dut)
        self.driver = SpattenDriver(CocotbTransport(self.master, self.reads, self.domain), self.cfg,
                                    dram=region)

    async def start(self):
        self.domain.start()
        await self.domain.reset()
        stall(self.master, self.rng, 0.2)
        self.reads.pauses(ar=random_pause(random.Random(self.rng.random()), 0.2),
                          r=random_pause(random.Random(self.rng.random()), 0.2))
        stall(self.writes.ram, self.rng, 0.2)

    def layer(self, keys=None):
        cfg = self.cfg
        top = min(24, cfg.max_context)
        heads, keys = self.rng.randint(1, 3), keys or self.rng.randint(min(2, top), top)
        rows = self.rng.randint(1, keys)
        shape = (heads, keys, cfg.head_dim)
        q = np.random.default_rng(self.rng.getrandbits(32)).normal(size=(heads, rows, cfg.head_dim))
        k, v = (np.random.default_rng(self.rng.getrandbits(32)).normal(size=shape) for _ in range(2))
        return self.driver.prepare_layer(q, k, v, token_keep=max(1, keys // 2),
                                         layer=self.rng.randrange(MAX_LAYERS), causal=self.rng.random() < 0.5,
                                         fresh=self.rng.random() < 0.5)

    async def run_list(self, layers, label):
        drv = self.driver
        for layer in layers:
            await drv.write_layer(layer)
        ptr = await drv.write_commands([layer.command for layer in layers])
        await drv.start(ptr, len(layers))
        status = await drv.wait(polls=500)
        assert status.done and not status.error, f"{label}: status {status} (seed {runner.seed()})"
        for i, layer in enumerate(layers):
            self.check_copy(layer, f"{label} command {i}")
        return ptr

    async def expect_error(self, code, index):
        """The running list must stop at command ``index`` with ``code`` (the driver clears it)."""
        try:
            await self.driver.wait(polls=500)
        except CommandError as error:
            assert (error.code, error.index) == (code, index), f"{error}, expected {code.name} at {index}"
            return
        raise AssertionError(f"{code.name} at command {index} was not reported (seed {runner.seed()})")

    def check_copy(self, layer, label, written=True):
        cmd = layer.command
        n = out_row_bytes(self.cfg.head_dim, self.cfg.value_bits)
        got = self.reads.ram.read(cmd.out_base, n)
        want = self.reads.ram.read(cmd.q_msb_base, n) if written else bytes(n)
        assert got == want, f"{label}: out row {got.hex()} != {want.hex()} (seed {runner.seed()})"


@cocotb.test()
async def command_list(dut):
    """Constants, a list of layers, status, decoded command and counters through the registers."""
    bench = E2eBench(dut)
    await bench.start()
    drv = bench.driver
    await drv.check_hardware()
    layers = [bench.layer() for _ in range(3)]
    await bench.run_list(layers, "list")
    last = layers[-1].command
    decoded = await drv.decoded()
    want = {"mode": int(last.mode), "last": 1, "keys": last.keys, "rows": last.rows,
            "head_dim": last.head_dim, "heads": last.heads, "token_keep": last.token_keep,
            "head_keep": last.head_keep}
    assert decoded == want, f"decoded {decoded} != {want}"
    control = await drv.read_reg("DECODED_CONTROL")
    flags = {f: drv.field(control, "DECODED_CONTROL", f.upper()) for f in ("fresh", "causal")}
    assert flags == {"fresh": int(last.fresh), "causal": int(last.causal)}, f"flags {flags} of {last}"
    assert await drv.read_reg("DECODED_LAYER") == last.layer, f"layer of {last}"
    row = out_row_bytes(bench.cfg.head_dim, bench.cfg.value_bits)
    total, layer = await drv.counters(), await drv.counters(layer=True)
    expect = {"COMMANDS_DONE": 3, "BYTES_READ_CMD": 3 * RECORD_BYTES, "BYTES_WRITTEN": 3 * row,
              "BYTES_READ_Q": 3 * -(-row // drv.port_bytes) * drv.port_bytes,
              "MACS": sum(x.command.keys for x in layers)}
    assert {k: total[k] for k in expect} == expect, f"counters {total}"
    assert total["CYCLES_BUSY"] > 0 and layer["LAYER_CYCLES_BUSY"] < total["CYCLES_BUSY"]
    assert layer["LAYER_MACS"] == last.keys and layer["LAYER_COMMANDS_DONE"] == 1, f"layer {layer}"
    assert all(total[k] == 0 for k in ("HEADS_PRUNED", "TOKENS_PRUNED", "ROWS_REFETCHED"))


@cocotb.test()
async def bad_command_in_a_list(dut):
    """A command with L > max_context stops the list at its index; nothing runs from it on."""
    bench = E2eBench(dut)
    await bench.start()
    drv = bench.driver
    layers = [bench.layer() for _ in range(3)]
    bad = layers[1]
    bad.command = type(bad.command)(**{**bad.command.__dict__, "keys": bench.cfg.max_context + 1})
    for layer in layers:
        await drv.write_layer(layer)
    ptr = await drv.write_commands([layer.command for layer in layers])
    await drv.start(ptr, 3)
    await bench.expect_error(Error.L_RANGE, 1)
    bench.check_copy(layers[0], "before the bad one")
    bench.check_copy(layers[1], "the bad one", written=False)
    bench.check_copy(layers[2], "after the bad one", written=False)
    status = await drv.status()
    assert not status.error and not status.done, f"not cleared: {status}"
    assert (await drv.decoded())["keys"] == 0, "a rejected command shows as zero"
    assert await drv.read_reg("DECODED_LAYER") == 0, "a rejected command's layer shows as zero"
    await bench.run_list([bench.layer()], "after the bad list")


@cocotb.test()
async def axi_errors(dut):
    """A read error on Q gives DATA_READ, a write error OUT_WRITE, a misaligned list ALIGN_CMD."""
    bench = E2eBench(dut)
    await bench.start()
    drv = bench.driver
    first = bench.layer()
    bench.reads.errors = {first.command.q_msb_base: Status.DECERR}
    for code, layer in ((Error.DATA_READ, first), (Error.OUT_WRITE, bench.layer())):
        if code is Error.OUT_WRITE:
            bench.writes.errors = {layer.command.out_base + 1: "SLVERR"}
        await drv.write_layer(layer)
        ptr = await drv.write_commands([layer.command])
        await drv.start(ptr, 1)
        await bench.expect_error(code, 0)
        bench.reads.errors, bench.writes.errors = {}, {}
        await bench.run_list([bench.layer()], f"after {code.name}")
    await drv.start(ptr + 4, 1)
    await bench.expect_error(Error.ALIGN_CMD, 0)
    await bench.run_list([bench.layer()], "after ALIGN_CMD")


@cocotb.test()
async def interrupt_and_soft_reset(dut):
    """IRQ on done when enabled, low after clear; a soft reset zeroes the counters."""
    bench = E2eBench(dut)
    await bench.start()
    drv = bench.driver
    await drv.write_reg("IRQ_ENABLE", drv.regs.IRQ_ENABLE_DONE_MASK)
    await bench.run_list([bench.layer()], "irq")
    assert int(dut.irq.value) == 1, "no interrupt on done"
    await drv.clear()
    await bench.domain.cycles(2)        # the pulse, then STATUS.done falls
    assert int(dut.irq.value) == 0, "interrupt still high after clear"
    assert (await drv.counters())["COMMANDS_DONE"] == 1
    await drv.soft_reset()
    assert all(v == 0 for v in (await drv.counters()).values()), "counters after a soft reset"
    assert await drv.read_reg("IRQ_ENABLE") == drv.regs.IRQ_ENABLE_DONE_MASK, "registers keep their values"
    await bench.run_list([bench.layer()], "after a soft reset")


# Bad fields a random list may carry (overrides of a prepared command) and the code each gives.
_BAD_FIELDS = (
    (lambda c, cfg: {"keys": cfg.max_context + 1}, Error.L_RANGE),
    (lambda c, cfg: {"rows": c.keys + 1}, Error.ROWS_RANGE),
    (lambda c, cfg: {"token_keep": c.keys + 1}, Error.KEEP_RANGE),
    (lambda c, cfg: {"head_keep": c.heads + 1}, Error.HEAD_KEEP_RANGE),
)


@cocotb.test()
async def random_lists(dut):
    """Random command lists; a quarter carry a bad field, some a read or write error, at a random
    command: every command before it written, none from it on (a write error: none after it),
    the error code and index reported; the counters of every list that runs through."""
    bench = E2eBench(dut)
    await bench.start()
    drv, rng, cfg = bench.driver, bench.rng, bench.cfg
    row = out_row_bytes(cfg.head_dim, cfg.value_bits)
    checked = 0
    for round_ in range(runner.params()["lists"]):
        label = f"SEED={runner.seed()} list {round_}"
        used = drv.dram.next - drv.dram.base
        bench.reads.ram.write(drv.dram.base, bytes(used))     # no output row of an earlier list stays
        drv.dram.reset()
        layers = [bench.layer() for _ in range(rng.randint(1, 4))]
        failing, code = rng.randrange(len(layers)), None
        kind = rng.random()
        if kind < 0.25:
            change, code = rng.choice(_BAD_FIELDS)
            bad = layers[failing].command
            layers[failing].command = type(bad)(**{**bad.__dict__, **change(bad, cfg)})
        elif kind < 0.35:
            code = Error.DATA_READ
            bench.reads.errors = {layers[failing].command.q_msb_base: Status.DECERR}
        elif kind < 0.45:
            code = Error.OUT_WRITE
            bench.writes.errors = {layers[failing].command.out_base + 1: "SLVERR"}
        if code is None:
            await bench.run_list(layers, label)
            total = await drv.counters()
            want = {"COMMANDS_DONE": len(layers), "BYTES_WRITTEN": len(layers) * row,
                    "MACS": sum(layer.command.keys for layer in layers)}
            got = {name: total[name] for name in want}
            assert got == want, f"{label}: counters {got}, expected {want}"
        else:
            for layer in layers:
                await drv.write_layer(layer)
            ptr = await drv.write_commands([layer.command for layer in layers])
            await drv.start(ptr, len(layers))
            await bench.expect_error(code, failing)
            bench.reads.errors, bench.writes.errors = {}, {}
            for i, layer in enumerate(layers):
                if i != failing or code is not Error.OUT_WRITE:
                    where = f"{label} ({code.name} at {failing}) command {i}"
                    bench.check_copy(layer, where, written=i < failing)
        checked += len(layers)
    runner.record_checked("random_lists", checked)
