"""cocotb bench of the whole core's cycles (``gen.bench_core_rtl``): CYCLES_BUSY per layer command.

Runs the shapes of the ``shapes`` parameter (random Q/K/V sequences of a few
layers and heads, summarised or generated) through the host driver on the
emitted Verilog, with a fixed memory latency (``latency`` cycles from an AR
handshake to its burst's first beat) and no pauses on any channel, and the
same driver on ``golden.core.CoreModel`` (a shape's ``config`` sets the keep
fractions and threshold its commands carry). Each command's counters (all
but cycles) are checked against the golden core; its ``CYCLES_BUSY``,
``golden.core_cycles.command_trace`` of its golden result and the cycle of
each of its output rows (the core's trace port: ``row_cycles``, ``(cycle,
head, row)``) are written, one JSON object a line, to :data:`MEASURED_FILE`
in the run's folder; a shape's last command also carries the shape's AR
handshakes (``ar_log``: ``(cycle, address, beats)``), what the fetch model is
checked against.
"""

import dataclasses
import json
import random

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from gen.driver import SpattenDriver
from gen.golden_transport import GoldenTransport
from golden.core_cycles import command_trace
from hw.core.layer import trace_layout
from sim import runner
from sim.core_e2e import CoreBench
from sim.transport import CocotbTransport

__all__ = ["MEASURED_FILE", "shape_qkv"]

MEASURED_FILE = "commands_measured.jsonl"
_NOT_MODELLED = ("CYCLES_BUSY", "CYCLES_STALLED")


def shape_qkv(shape):
    """Q, K, V float lists per layer ``(heads, length, d)`` of a shape dict (its ``seed``)."""
    gen = np.random.default_rng(shape["seed"])
    size = (shape["heads"], shape["length"], shape["d"])
    sharp = shape.get("sharp", 1.0)
    q = [gen.normal(size=size) * sharp for _ in range(shape["layers"])]
    k = [gen.normal(size=size) for _ in range(shape["layers"])]
    v = [gen.normal(size=size) for _ in range(shape["layers"])]
    return q, k, v


async def _row_times(bench, times):
    """The cycle of every output row written (the core's ``trace`` port, ``row_trace`` here:
    ``hw.core.core.SpattenCore``): ``(cycle, head, row)``."""
    dut = bench.dut
    layout = trace_layout(max_context=bench.hw_cfg.max_context)
    fields = {name: (layout[name].offset, layout[name].width) for name in ("valid", "head", "row")}
    while True:
        await RisingEdge(dut.clk)
        value = int(dut.row_trace.value)
        if value >> fields["valid"][0] & 1:
            times.append((bench.domain.cycle(), *(value >> fields[n][0] & ((1 << fields[n][1]) - 1)
                                                  for n in ("head", "row"))))


@cocotb.test()
async def measure(dut):
    """Every shape of the parameters, fixed latency, no stalls; one line per command."""
    params = runner.params()
    bench = CoreBench(dut)
    latency = int(params["latency"])
    bench.reads.latency = (latency, latency)
    bench.rng = random.Random(runner.seed())
    bench.domain.start()
    await bench.domain.reset()
    await bench.driver.check_hardware()
    times = []
    cocotb.start_soon(_row_times(bench, times))
    lines = []
    run_cfg = bench.cfg
    for shape in params["shapes"]:
        q, k, v = shape_qkv(shape)
        # A shape may set the run's keep fractions and threshold (what its commands carry).
        cfg = dataclasses.replace(run_cfg, **shape.get("config", {}))
        bench.driver = SpattenDriver(CocotbTransport(bench.master, bench.reads, bench.domain), cfg,
                                     dram=bench.dram_region)
        bench.golden = GoldenTransport(cfg, bench.dram_bytes)
        bench.golden_driver = SpattenDriver(bench.golden, cfg, dram=bench.dram_region)
        bench.golden.model.reset()
        times.clear()
        ar_from = len(bench.reads.log)
        got = await bench.driver.run_model(q, k, v, shape["mode"], shape["causal"], shape.get("prompt_len"))
        want = await bench.golden_driver.run_model(q, k, v, shape["mode"], shape["causal"],
                                                   shape.get("prompt_len"))
        results = bench.golden.model.results
        flat = [(s, i, c) for s, step in enumerate(got["command_counters"]) for i, c in enumerate(step)]
        gold = [c for step in want["command_counters"] for c in step]
        assert len(flat) == len(gold) == len(results), f"{shape['label']}: command counts differ"
        # The AR handshakes of the shape (cycle, address, beats): where a fetch's time goes.
        ars = [(c, a, n + 1) for c, a, n, _, _ in bench.reads.log[ar_from:]]
        rows = iter(times)
        for (s, i, hw), g, result in zip(flat, gold, results, strict=True):
            a = {n: x for n, x in hw.items() if n not in _NOT_MODELLED}
            b = {n: x for n, x in g.items() if n not in _NOT_MODELLED}
            assert a == b, f"{shape['label']} step {s} layer {i}: counters {a} != golden {b}"
            lines.append({"label": shape["label"], "step": s, "layer": i, "latency": latency,
                          "cycles": hw["CYCLES_BUSY"],
                          "counters": hw, "trace": command_trace(bench.hw_cfg, result),
                          "row_cycles": [next(rows) for h in np.flatnonzero(result["head_alive"])
                                         for _ in range(result["command"].rows)]})
        lines[-1]["ar_log"] = ars
    with open(MEASURED_FILE, "w") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
