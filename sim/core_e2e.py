"""cocotb test of the whole core (``hw.core.core.SpattenCore``) through the host driver.

The driver (``gen.driver.SpattenDriver``) runs sequences of layers on the
emitted Verilog over ``sim.transport.CocotbTransport``: cocotbext-axi's
``AxiLiteMaster`` (random stalls on its five channels) and one DRAM shared by
``sim.fetcher.AxiMemory`` (reads: random latency per burst, AR / R stalls,
error words) and ``sim.axi_models.WriteMemory`` (AW / W / B stalls, error
words). The same driver code runs on ``gen.golden_transport.GoldenTransport``
(``golden.core.CoreModel``), and its results are compared with
``golden.spatten.spatten_model``.

Parameters: ``preset`` or ``config`` (the hardware: a preset name or a
configuration's fields), ``sequences`` (random sequences per test), ``real`` (run the captured MiniLM / SmolLM2 Q/K/V of
``golden.models.capture``). The run configuration (keep schedules, value
keep, re-fetch threshold: what the commands carry) prunes tokens and heads
from the first layer on.

Checks, bit for bit: every layer's outputs, the tokens and heads every
layer used (the survivor records the core wrote), against
``spatten_model``; every command's counters (all but cycles) and every
output row's re-fetch flag and V rows kept (the core's ``row_trace`` port),
against ``CoreModel``; bad commands (error naming the field, nothing
written), AXI read and write errors (error status, no hang) and a soft
reset in the middle of a layer, each followed by a sequence that runs
exact.
"""

import dataclasses
import logging
import random

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from gen.driver import CommandError, SpattenDriver
from gen.golden_transport import GoldenTransport
from golden.command import Error, command_bytes, survivor_bytes
from golden.fetch import Status
from golden.spatten import spatten_model
from hw.core.layer import trace_layout
from sim import runner
from sim.axi_models import WriteMemory, dram_window, lite_master, stall
from sim.clock import ClockDomain
from sim.fetcher import AxiMemory
from sim.streams import random_pause
from sim.transport import CocotbTransport

# One line "<cocotb test> <layer commands checked>" per test, in the run's folder (gen.smoke reads it).
CHECKED_FILE = "layers_checked.txt"


def _checked(test, layers):
    runner.record_checked(test, layers, file=CHECKED_FILE)
#: Counters the golden core does not model.
_CYCLES = ("CYCLES_BUSY", "CYCLES_STALLED")


def run_config(cfg):
    """The hardware's cfg with keep schedules, value keep and re-fetch that prune from layer 0 on."""
    return dataclasses.replace(cfg, token_prune_start=0.0, token_keep_final=0.5, head_prune_start=0.0,
                               head_keep_final=0.5, value_keep=0.5, requant_threshold=0.3)


class CoreBench:
    def __init__(self, dut):
        self.dut = dut
        self.params = runner.params()
        self.hw_cfg = runner.config()
        self.cfg = run_config(self.hw_cfg)
        self.rng = random.Random(runner.seed())
        self.domain = ClockDomain(dut)
        self.dram_bytes, self.dram_region = dram_window(self.hw_cfg)
        self.reads = AxiMemory(dut, self.domain, size=self.dram_bytes, rng=random.Random(self.rng.random()))
        self.reads.latency = (1, 8)
        self.writes = WriteMemory(dut, "m_axi", self.dram_bytes, mem=self.reads.ram.mem)
        self.master = lite_master(dut)
        for name in ("cocotb.dut.s_axil", "cocotb.dut.m_axi"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.driver = SpattenDriver(CocotbTransport(self.master, self.reads, self.domain), self.cfg,
                                    dram=self.dram_region)
        self.golden = GoldenTransport(self.cfg, self.dram_bytes)
        self.golden_driver = SpattenDriver(self.golden, self.cfg, dram=self.dram_region)
        self.traced = []
        self.layers_checked = 0

    async def start(self):
        self.domain.start()
        await self.domain.reset()
        stall(self.master, self.rng, 0.2)
        self.reads.pauses(ar=random_pause(random.Random(self.rng.random()), 0.2),
                          r=random_pause(random.Random(self.rng.random()), 0.2))
        stall(self.writes.ram, self.rng, 0.2)
        cocotb.start_soon(self._trace())
        await self.driver.check_hardware()

    async def _trace(self):
        """Every output row the core writes: (head, row, re-fetch, V rows kept)."""
        dut = self.dut
        layout = trace_layout(max_context=self.hw_cfg.max_context)
        fields = {name: (layout[name].offset, layout[name].width) for name in ("valid", "head", "row", "refetch",
                                                                              "kept")}

        def field(value, name):
            offset, width = fields[name]
            return value >> offset & ((1 << width) - 1)

        while True:
            await RisingEdge(dut.clk)
            value = int(dut.row_trace.value)
            if field(value, "valid"):
                self.traced.append((field(value, "head"), field(value, "row"), bool(field(value, "refetch")),
                                    field(value, "kept")))

    def random_sequence(self):
        cfg, rng = self.hw_cfg, self.rng
        n_layers, heads = rng.randint(1, 3), rng.randint(1, 3)
        length = rng.randint(2, min(16, cfg.max_context))
        d = rng.choice([cfg.head_dim, rng.randint(1, cfg.head_dim)])
        gen = np.random.default_rng(rng.getrandbits(32))
        # Peaked scores now and then, so that some rows stay above the re-fetch threshold.
        sharp = rng.choice([1.0, 3.0])
        q = [gen.normal(size=(heads, length, d)) * sharp for _ in range(n_layers)]
        k = [gen.normal(size=(heads, length, d)) for _ in range(n_layers)]
        v = [gen.normal(size=(heads, length, d)) for _ in range(n_layers)]
        return q, k, v

    async def check_sequence(self, q, k, v, *, mode, causal, prompt_len=None, label):
        where = f"{label} (seed {runner.seed()})"
        self.golden.model.reset()
        self.traced.clear()
        got = await self.driver.run_model(q, k, v, mode, causal, prompt_len)
        want = await self.golden_driver.run_model(q, k, v, mode, causal, prompt_len)
        ref = spatten_model(q, k, v, self.cfg, mode, causal=causal, prompt_len=prompt_len)
        for i, (a, b) in enumerate(zip(got["outputs"], ref["outputs"], strict=True)):
            assert np.array_equal(a, b), f"{where}: layer {i} outputs differ from spatten_model"
        assert np.array_equal(got["token_alive"], ref["token_alive"]), f"{where}: token survivors"
        assert np.array_equal(got["head_alive"], ref["head_alive"]), f"{where}: head survivors"
        for s, (hw, gold) in enumerate(zip(got["command_counters"], want["command_counters"], strict=True)):
            for layer, (a, b) in enumerate(zip(hw, gold, strict=True)):
                a = {n: x for n, x in a.items() if n not in _CYCLES}
                b = {n: x for n, x in b.items() if n not in _CYCLES}
                assert a == b, f"{where}: step {s} layer {layer} counters {a} != golden {b}"
                assert hw[layer]["CYCLES_BUSY"] > 0, f"{where}: no busy cycles"
        expected = [(h, i, bool(r["refetch"][h, i]), int(r["values_kept"][h, i]))
                    for r in self.golden.model.results for h in np.flatnonzero(r["head_alive"])
                    for i in range(r["command"].rows)]
        assert self.traced == expected, f"{where}: per-row re-fetch flags / V rows kept differ"
        self.layers_checked += sum(len(step) for step in got["command_counters"])
        return got

    async def expect_error(self, code, index=0):
        try:
            await self.driver.wait()
        except CommandError as error:
            assert (error.code, error.index) == (code, index), f"{error}, expected {code.name} at {index}"
            return
        raise AssertionError(f"{code.name} was not reported (seed {runner.seed()})")


@cocotb.test()
async def summarize_sequences(dut):
    """Random sequences of layers summarised, causal or not, D up to head_dim, pruning on."""
    bench = CoreBench(dut)
    await bench.start()
    for n in range(bench.params["sequences"]):
        q, k, v = bench.random_sequence()
        await bench.check_sequence(q, k, v, mode="summarize", causal=bench.rng.random() < 0.5,
                                   label=f"summarize {n}")
    _checked("summarize_sequences", bench.layers_checked)


@cocotb.test()
async def generate_steps(dut):
    """A prompt, then one token per step through every layer, importances carried over."""
    bench = CoreBench(dut)
    await bench.start()
    for n in range(max(1, bench.params["sequences"] // 2)):
        q, k, v = bench.random_sequence()
        length = q[0].shape[1]
        prompt = max(1, length - bench.rng.randint(1, 3))
        await bench.check_sequence(q, k, v, mode="generate", causal=True, prompt_len=prompt,
                                   label=f"generate {n}")
    _checked("generate_steps", bench.layers_checked)


@cocotb.test()
async def real_models(dut):
    """MiniLM (encoder) and SmolLM2 (decoder) Q/K/V captured from their forward passes."""
    from golden.models.capture import load_qkv

    bench = CoreBench(dut)
    await bench.start()
    cfg = bench.hw_cfg
    for name in bench.params["real"]:
        q, k, v, causal = load_qkv(name)
        tokens = min(q[0].shape[1], cfg.max_context, bench.params.get("real_tokens", 24))
        heads = bench.params.get("real_heads", 2)
        # A core narrower than the model takes the first head_dim channels (tiny: 8 of 32 / 64).
        cut = [[x[:heads, :tokens, :cfg.head_dim] for x in xs] for xs in (q, k, v)]
        await bench.check_sequence(*cut, mode="summarize", causal=causal, label=f"{name} summarize")
        if causal:
            await bench.check_sequence(*cut, mode="generate", causal=True, prompt_len=tokens - 2,
                                       label=f"{name} generate")


@cocotb.test()
async def errors_and_recovery(dut):
    """Bad commands, AXI errors and a soft reset mid-layer; each followed by an exact sequence."""
    bench = CoreBench(dut)
    await bench.start()
    drv, cfg = bench.driver, bench.cfg
    q, k, v = bench.random_sequence()
    layout = drv.prepare_sequence(len(q), q[0].shape[0], q[0].shape[1], q[0].shape[2])
    step = drv.sequence_step(layout, q, k, v, 0, q[0].shape[1], fresh=True)
    await drv.write_step(layout, step)
    first = step[0].command
    surv = first.survivors_base
    bad = {"keys": cfg.max_context + 1, "head_dim": cfg.head_dim + 1, "token_keep": first.keys + 1,
           "q_msb_base": first.q_msb_base + 1, "survivors_base": first.survivors_base + 2}
    codes = {"keys": Error.L_RANGE, "head_dim": Error.D_RANGE, "token_keep": Error.KEEP_RANGE,
             "q_msb_base": Error.ALIGN_Q_MSB, "survivors_base": Error.ALIGN_SURVIVORS}
    for name, value in bad.items():
        bench.reads.write(surv, bytes(survivor_bytes(cfg)))
        cmd = dataclasses.replace(first, **{name: value})
        await drv.transport.write_mem(layout.cmd_ptr, command_bytes(cmd))
        await drv.start(layout.cmd_ptr, 1)
        await bench.expect_error(codes[name])
        assert bench.reads.ram.read(surv, survivor_bytes(cfg)) == bytes(survivor_bytes(cfg)), \
            f"{name}: the rejected command wrote its survivor record"
    # A continuing command whose keys shrink: KEYS_SHRINK, after a good one.
    await drv.transport.write_mem(layout.cmd_ptr, command_bytes(first))
    await drv.start(layout.cmd_ptr, 1)
    await drv.wait()
    shrink = dataclasses.replace(first, fresh=False, keys=first.keys - 1, rows=1, token_keep=1)
    await drv.transport.write_mem(layout.cmd_ptr, command_bytes(shrink))
    await drv.start(layout.cmd_ptr, 1)
    await bench.expect_error(Error.KEYS_SHRINK)
    # AXI errors: a Q read, an output row write.
    bench.reads.errors = {first.q_msb_base: Status.DECERR}
    await drv.transport.write_mem(layout.cmd_ptr, command_bytes(first))
    await drv.start(layout.cmd_ptr, 1)
    await bench.expect_error(Error.DATA_READ)
    bench.reads.errors = {}
    bench.writes.errors = {first.out_base + 1: "SLVERR"}
    await drv.start(layout.cmd_ptr, 1)
    await bench.expect_error(Error.OUT_WRITE)
    bench.writes.errors = {}
    await bench.check_sequence(q, k, v, mode="summarize", causal=True, label="after the errors")
    # A soft reset while a layer runs; the next sequence runs exact.
    await drv.write_step(layout, step)
    await drv.start(layout.cmd_ptr, len(step))
    await bench.domain.cycles(bench.rng.randint(50, 400))
    assert (await drv.status()).busy, "the layer ended before the soft reset"
    await drv.soft_reset()
    await bench.domain.cycles(20)
    assert not (await drv.status()).busy, "busy after a soft reset"
    await bench.check_sequence(q, k, v, mode="summarize", causal=False, label="after a soft reset")
