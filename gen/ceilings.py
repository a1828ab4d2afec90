"""Fmax ceilings of the ECP5 primitives, measured with the blocks' own flow, tools and seeds.

A block's Fmax means little alone: what the open flow reaches on the
primitives it is made of says how far from the ceiling it is. Each
reference design here is the smallest honest use of one primitive, inside
the same 4-pin harness (:class:`gen.harness.Harness`) and placed and routed
by the same :func:`gen.synth._pnr` as the blocks:

- ``dsp``: an 18 x 18 multiply inferred by Yosys between fabric registers
  (what the blocks do: Yosys maps it to a combinational MULT18X18D);
- ``dsp_instanced``: a MULT18X18D instanced with its input registers on
  (``REG_INPUTA_CLK`` / ``REG_INPUTB_CLK``), output into a fabric register.
  Its output and pipeline registers stay off: with them nextpnr stops
  timing the path inside the DSP (``../shared/TOOLCHAIN.md``);
- ``ebr``: a 1024 x 18 block RAM inferred from ``amaranth.lib.memory``, as
  the blocks use theirs: a write port with an enable and a read port that is
  not transparent, its read data into a flip-flop beside it (Yosys adds the
  read-during-write logic in front of that flip-flop; a ROM, without it,
  reaches about 150 MHz);
- ``fabric``: a registered 16-way compare (16 registered 16-bit values
  against a registered pivot, 16 registered results), the top-k engine's
  comparator row.

:func:`synth_reference` writes ``OUT/reports/ceiling_<name>.json`` (cached
by the same input hash as the blocks' reports); :func:`measured_ceilings`
reads them back for ``fmax_ratio``.
"""

import json
import time
from pathlib import Path

from amaranth.back import verilog as amaranth_verilog
from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Signal, signed
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["REFERENCES", "synth_reference", "measured_ceilings", "write_summary", "render",
           "InferredMultiplier", "InstancedMultiplier", "RegisteredBlockRam", "RegisteredCompare"]


class InferredMultiplier(wiring.Component):
    """``p = a * b`` of two signed 18-bit operands, registered before and after (latency 2)."""

    def __init__(self):
        super().__init__({"a": In(signed(18)), "b": In(signed(18)), "p": Out(signed(36))})

    def elaborate(self, platform):
        m = Module()
        a, b = Signal(signed(18), reset_less=True), Signal(signed(18), reset_less=True)
        m.d.sync += [a.eq(self.a), b.eq(self.b), self.p.eq(a * b)]
        return m


class InstancedMultiplier(wiring.Component):
    """The same product on a MULT18X18D with its input registers on (latency 2: input registers
    in the DSP, product into a fabric register). ECP5 only: no simulation model here."""

    def __init__(self):
        super().__init__({"a": In(signed(18)), "b": In(signed(18)), "p": Out(signed(36))})

    def elaborate(self, platform):
        m = Module()
        product = Signal(36)
        ports = {f"i_A{i}": self.a[i] for i in range(18)}
        ports.update({f"i_B{i}": self.b[i] for i in range(18)})
        ports.update({f"i_C{i}": Const(0) for i in range(18)})
        ports.update({f"o_P{i}": product[i] for i in range(36)})
        # CLK0 clocks the input registers; the other clock inputs are unused.
        for i in range(4):
            ports.update({f"i_CLK{i}": ClockSignal() if i == 0 else Const(0), f"i_CE{i}": Const(1),
                          f"i_RST{i}": Const(0)})
        m.submodules.dsp = Instance(
            "MULT18X18D", p_REG_INPUTA_CLK="CLK0", p_REG_INPUTB_CLK="CLK0",
            p_REG_INPUTC_CLK="NONE", p_REG_PIPELINE_CLK="NONE", p_REG_OUTPUT_CLK="NONE",
            p_GSR="DISABLED", p_RESETMODE="SYNC",
            i_SIGNEDA=Const(1), i_SIGNEDB=Const(1), i_SOURCEA=Const(0), i_SOURCEB=Const(0), **ports)
        m.d.sync += self.p.eq(product.as_signed())
        return m


class RegisteredBlockRam(wiring.Component):
    """A 1024 x 18 RAM, written when enabled and read every cycle; read data into a flip-flop
    (latency 2)."""

    DEPTH, WIDTH = 1024, 18

    def __init__(self):
        super().__init__({"w_addr": In(10), "w_data": In(self.WIDTH), "w_en": In(1), "r_addr": In(10),
                          "r_data": Out(self.WIDTH)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = ram = memory.Memory(shape=self.WIDTH, depth=self.DEPTH, init=[])
        write, read = ram.write_port(), ram.read_port()
        m.d.comb += [write.addr.eq(self.w_addr), write.data.eq(self.w_data), write.en.eq(self.w_en),
                     read.addr.eq(self.r_addr)]
        m.d.sync += self.r_data.eq(read.data)
        return m


class RegisteredCompare(wiring.Component):
    """16 registered 16-bit values against a registered pivot, 16 registered ``>`` bits (latency 2)."""

    LANES, BITS = 16, 16

    def __init__(self):
        super().__init__({"values": In(self.LANES * self.BITS), "pivot": In(self.BITS),
                          "greater": Out(self.LANES)})

    def elaborate(self, platform):
        m = Module()
        values = Signal(self.LANES * self.BITS, reset_less=True)
        pivot = Signal(self.BITS, reset_less=True)
        m.d.sync += [values.eq(self.values), pivot.eq(self.pivot),
                     self.greater.eq(Cat(values[i * self.BITS:(i + 1) * self.BITS] > pivot
                                         for i in range(self.LANES)))]
        return m


#: Reference name -> component class; the names are the primitives of :func:`gen.synth.fmax_ceiling`.
REFERENCES = {"dsp": InferredMultiplier, "dsp_instanced": InstancedMultiplier,
              "ebr": RegisteredBlockRam, "fabric": RegisteredCompare}


#: Reference name -> what the README table says it is.
SUMMARY = {"dsp": "18 x 18 multiply inferred between registers",
           "dsp_instanced": "MULT18X18D instanced, input registers on",
           "ebr": "1024 x 18 block RAM, write enable, read into a flip-flop",
           "fabric": "registered 16-way 16-bit compare"}


def synth_reference(name, out, *, versions=None, seeds=(1,), force=False):
    """Place and route reference ``name`` once per seed; write and return its report path."""
    from . import synth
    from .harness import Harness

    if name not in REFERENCES:
        raise ValueError(f"reference must be one of {', '.join(REFERENCES)}, not {name!r}")
    seeds = synth._check_seeds(seeds)
    out = Path(out)
    started = time.monotonic()
    component = REFERENCES[name]()
    versions = versions or synth.tool_versions()
    text = amaranth_verilog.convert(component, name=f"ceiling_{name}", emit_src=False)
    digest = synth.input_hash(_NoConfig, text, pnr=True, ice40_pnr=False, seeds=seeds, versions=versions)
    path = out / "reports" / f"ceiling_{name}.json"
    if not force and synth._cached(path, digest):
        return path
    workdir = out / "ceilings" / name
    workdir.mkdir(parents=True, exist_ok=True)
    netlist, cells, _ = synth.synth_harness(Harness(component), workdir, "ecp5")
    runs = {}
    for seed in seeds:
        fmax, _, critical, _ = synth._pnr("ecp5", netlist, workdir, seed=seed)
        critical.pop("timing", None)
        runs[str(seed)] = {"fmax_mhz": round(fmax, 1) if fmax is not None else None,
                           "critical_path": critical}
    timed = sorted(run["fmax_mhz"] for run in runs.values() if run["fmax_mhz"] is not None)
    result = {"reference": name, "doc": SUMMARY[name],
              "fmax_mhz": timed[(len(timed) - 1) // 2] if timed else None,
              "fmax_min_mhz": timed[0] if timed else None, "fmax_max_mhz": timed[-1] if timed else None,
              "seeds": runs, "harness_cells": {k: v for k, v in cells.items()
                                               if k in ("MULT18X18D", "DP16KD", "TRELLIS_FF", "LUT4")},
              "device": f"{synth.ECP5['device']} speed {synth.ECP5['speed']} {synth.ECP5['package']}",
              "tools": versions, "input_hash": digest,
              "seconds": round(time.monotonic() - started, 1)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


class _NoConfigType:
    """Stands for a configuration in :func:`gen.synth.input_hash`: references have none."""

    name = "ceilings"

    @staticmethod
    def to_dict():
        return {}


_NoConfig = _NoConfigType()


def measured_ceilings(out):
    """``{primitive: median Fmax in MHz}`` of the reference reports under ``OUT/reports``."""
    ceilings = {}
    for name in REFERENCES:
        path = Path(out) / "reports" / f"ceiling_{name}.json"
        if path.exists():
            fmax = json.loads(path.read_text()).get("fmax_mhz")
            if fmax:
                ceilings[name] = fmax
    return ceilings


def write_summary(out):
    """``OUT/reports/ceilings.json``: every reference report, for the README table."""
    reports = [json.loads(path.read_text()) for name in REFERENCES
               if (path := Path(out) / "reports" / f"ceiling_{name}.json").exists()]
    path = Path(out) / "reports" / "ceilings.json"
    path.write_text(json.dumps({"ceilings": reports}, indent=2) + "\n")
    return path


def render(report):
    """README table of the ceiling reports (``report``: ``{"ceilings": [report dicts]}``)."""
    lines = ["| primitive | reference design | Fmax median (MHz) | min | max | seeds |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for entry in report["ceilings"]:
        lines.append(f"| {entry['reference']} | {entry['doc']} | {entry['fmax_mhz']} | "
                     f"{entry['fmax_min_mhz']} | {entry['fmax_max_mhz']} | {', '.join(entry['seeds'])} |")
    return "\n".join(lines)
